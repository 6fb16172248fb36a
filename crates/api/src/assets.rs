//! The pages' static files, compiled into the binary and linked under fingerprinted names
//! (`/static/terrace.<hash>.css`): the name changes with the content, so browsers may keep
//! a file for good and still get a new build's at once. The plain names still answer, with
//! a short cache, for whatever linked them before.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

struct Asset {
    /// `terrace.css`
    name: &'static str,
    /// `terrace.<hash>.css`
    fingerprinted: String,
    content_type: &'static str,
    body: &'static str,
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        asset(
            "terrace.css",
            "text/css; charset=utf-8",
            include_str!("../../../web/static/terrace.css"),
        ),
        asset(
            "terrace.js",
            "text/javascript; charset=utf-8",
            include_str!("../../../web/static/terrace.js"),
        ),
    ]
});

fn asset(name: &'static str, content_type: &'static str, body: &'static str) -> Asset {
    let hash = hex::encode(&Sha256::digest(body)[..6]);
    let (stem, extension) = name.rsplit_once('.').unwrap_or((name, ""));
    Asset {
        name,
        fingerprinted: format!("{stem}.{hash}.{extension}"),
        content_type,
        body,
    }
}

/// The path pages link `name` (`terrace.css`) by.
pub fn path(name: &str) -> String {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map(|a| format!("/static/{}", a.fingerprinted))
        .unwrap_or_else(|| format!("/static/{name}"))
}

/// `GET /static/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    let found = ASSETS.iter().find_map(|a| {
        if a.fingerprinted == file {
            Some((a, "public, max-age=31536000, immutable"))
        } else if a.name == file {
            Some((a, "public, max-age=300"))
        } else {
            None
        }
    });
    match found {
        Some((asset, cache)) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, cache),
            ],
            asset.body,
        )
            .into_response(),
        None => ApiError::not_found("no such static file").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_a_hash_of_their_content() {
        let css = path("terrace.css");
        assert!(
            css.starts_with("/static/terrace.") && css.ends_with(".css"),
            "{css}"
        );
        assert_eq!(css.len(), "/static/terrace..css".len() + 12, "{css}");
        assert_ne!(css, path("terrace.js").replace(".js", ".css"));
        let again = asset("terrace.css", "text/css", "body { color: red }");
        let changed = asset("terrace.css", "text/css", "body { color: blue }");
        assert_ne!(again.fingerprinted, changed.fingerprinted);
    }
}
