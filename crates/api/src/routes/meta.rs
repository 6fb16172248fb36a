//! `/api/meta/ip-ranges`: HCP Terraform publishes the addresses its API is served from and
//! its outbound connections (notifications, Sentinel, VCS) come from, for firewalls. A
//! self-hosted server knows neither: its addresses are its operator's network. So the honest
//! answer is "any address" for every list, and it is a constant of this binary, last changed
//! at [`LAST_MODIFIED`]: `If-Modified-Since` at or after it is answered 304 like HCP's.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// When the answer below last changed (it only changes with the code).
const LAST_MODIFIED: (i32, u32, u32) = (2026, 12, 4);

/// Every IPv4 and IPv6 address: the server does not know or restrict them.
const ANY: [&str; 2] = ["0.0.0.0/0", "::/0"];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ip_ranges))
}

/// HCP Terraform's IP ranges document (plain JSON, not JSON:API).
#[derive(Debug, Serialize, ToSchema)]
pub struct IpRanges {
    /// Where clients reach the API from: any address here.
    api: Vec<&'static str>,
    /// Where notifications come from (Terrace sends none).
    notifications: Vec<&'static str>,
    /// Where policy checks connect from (Terrace runs none).
    sentinel: Vec<&'static str>,
    /// Where connections to VCS providers come from (Terrace makes none).
    vcs: Vec<&'static str>,
}

fn last_modified() -> DateTime<Utc> {
    let (y, m, d) = LAST_MODIFIED;
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
        .single()
        .expect("a valid date")
}

/// Whether a client holding the answer of `if_modified_since` (an HTTP date) is up to date.
/// A date that does not parse is ignored, as HTTP says.
fn not_modified(if_modified_since: Option<&str>) -> bool {
    if_modified_since
        .and_then(|text| DateTime::parse_from_rfc2822(text.trim()).ok())
        .is_some_and(|since| since >= last_modified())
}

/// The address ranges of this server, for firewalls: every address, since a self-hosted
/// server's addresses are its operator's. No token needed, as from HCP Terraform.
#[utoipa::path(get, path = "/api/meta/ip-ranges", tag = "meta", security(()),
    params(("If-Modified-Since" = Option<String>, Header, description = "304 if the ranges did not change since")),
    responses((status = 200, body = IpRanges, content_type = "application/json"),
        (status = 304, description = "Unchanged since `If-Modified-Since`")))]
async fn ip_ranges(headers: HeaderMap) -> Response {
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok());
    let stamp = last_modified()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let stamp = HeaderValue::from_str(&stamp).expect("an HTTP date is a header value");
    if not_modified(since) {
        return (StatusCode::NOT_MODIFIED, [(header::LAST_MODIFIED, stamp)]).into_response();
    }
    let any = ANY.to_vec();
    (
        [(header::LAST_MODIFIED, stamp)],
        Json(IpRanges {
            api: any.clone(),
            notifications: any.clone(),
            sentinel: any.clone(),
            vcs: any,
        }),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_at_or_after_the_last_change_is_up_to_date() {
        assert!(not_modified(Some("Fri, 04 Dec 2026 00:00:00 GMT")));
        assert!(not_modified(Some("Mon, 02 Jan 2034 00:00:00 GMT")));
        assert!(!not_modified(Some("Thu, 03 Dec 2026 23:59:59 GMT")));
        assert!(!not_modified(None));
        assert!(!not_modified(Some("yesterday")));
    }
}
