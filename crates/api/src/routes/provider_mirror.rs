//! The provider network mirror protocol (`provider_installation { network_mirror { url =
//! "https://HOST/v1/providers/" } }`): `HOSTNAME/NAMESPACE/TYPE/index.json` lists a
//! provider's versions, `.../VERSION.json` one version's archives with their `zh:` hashes and
//! signed download URLs (terraform fetches archives without credentials). Every caller must
//! be signed in; private providers are their organization's members' only.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use terrace_domain::mirror::MirrorAddress;
use terrace_domain::DomainError;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;

/// The mirror's URL (terraform's `network_mirror` `url`).
pub const PREFIX: &str = "/v1/providers/";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(mirror_file))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmptyObject {}

#[derive(Debug, Serialize, ToSchema)]
pub struct MirrorVersions {
    /// Each version, mapped to an empty object.
    versions: BTreeMap<String, EmptyObject>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MirrorArchiveEntry {
    url: String,
    hashes: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MirrorArchives {
    /// By platform (`linux_amd64`).
    archives: BTreeMap<String, MirrorArchiveEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum MirrorDocument {
    Versions(MirrorVersions),
    Archives(MirrorArchives),
}

/// A provider's versions (`index.json`) or one version's archives (`VERSION.json`).
#[utoipa::path(get, path = "/v1/providers/{hostname}/{namespace}/{type}/{file}", tag = "registry",
    params(("hostname" = String, Path, description = "The provider's registry host"),
        ("namespace" = String, Path), ("type" = String, Path),
        ("file" = String, Path, description = "`index.json`, or `VERSION.json`")),
    responses((status = 200, body = MirrorDocument, content_type = "application/json"),
        (status = 404, body = ErrorDocument),
        (status = 502, description = "The upstream registry failed and the mirror holds nothing", body = ErrorDocument)))]
async fn mirror_file(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((hostname, namespace, kind, file)): Path<(String, String, String, String)>,
) -> ApiResult<Json<MirrorDocument>> {
    let address = MirrorAddress::parse(&hostname, &namespace, &kind)
        .ok_or(DomainError::NotFound("provider"))?;
    let services = &state.services;
    if file == "index.json" {
        let versions = services.mirror_versions(&caller, &address).await?;
        return Ok(Json(MirrorDocument::Versions(MirrorVersions {
            versions: versions.into_iter().map(|v| (v, EmptyObject {})).collect(),
        })));
    }
    let version = file
        .strip_suffix(".json")
        .ok_or(DomainError::NotFound("mirror document"))?;
    let archives = services.mirror_version(&caller, &address, version).await?;
    Ok(Json(MirrorDocument::Archives(MirrorArchives {
        archives: archives
            .into_iter()
            .map(|a| {
                (
                    format!("{}_{}", a.os, a.arch),
                    MirrorArchiveEntry {
                        url: state.urls.absolute(&format!("/_downloads/{}", a.download)),
                        hashes: vec![format!("zh:{}", a.sha256)],
                    },
                )
            })
            .collect(),
    })))
}
