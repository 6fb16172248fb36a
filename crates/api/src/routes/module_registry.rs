//! The module registry protocol terraform speaks (`modules.v1` in discovery): the versions of
//! a module, and its download, answered with a signed, expiring URL of the tarball in
//! `X-Terraform-Get`. Members of the organization read it with their token, and runs of its
//! workspaces with their job token.

use axum::extract::{Path, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state_versions::stream_response;
use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;

/// Where discovery points `modules.v1`.
pub const MODULES_V1: &str = "/api/registry/v1/modules/";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(versions))
        .routes(routes!(download))
        .routes(routes!(archive))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Versions {
    modules: Vec<ModuleVersions>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModuleVersions {
    versions: Vec<VersionEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionEntry {
    version: String,
}

/// The module's published versions.
#[utoipa::path(get, path = "/api/registry/v1/modules/{namespace}/{name}/{provider}/versions", tag = "registry",
    params(("namespace" = String, Path, description = "The organization's name"), ("name" = String, Path), ("provider" = String, Path)),
    responses((status = 200, body = Versions), (status = 404, body = ErrorDocument)))]
async fn versions(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((namespace, name, provider)): Path<(String, String, String)>,
) -> ApiResult<Json<Versions>> {
    let versions = state
        .services
        .module_protocol_versions(&caller, &namespace, &name, &provider)
        .await?;
    Ok(Json(Versions {
        modules: vec![ModuleVersions {
            versions: versions
                .into_iter()
                .map(|version| VersionEntry { version })
                .collect(),
        }],
    }))
}

/// Where to get a version: 204 with a signed URL of its tarball in `X-Terraform-Get`.
#[utoipa::path(get, path = "/api/registry/v1/modules/{namespace}/{name}/{provider}/{version}/download", tag = "registry",
    params(("namespace" = String, Path), ("name" = String, Path), ("provider" = String, Path), ("version" = String, Path)),
    responses((status = 204, description = "The tarball's URL is in X-Terraform-Get"), (status = 404, body = ErrorDocument)))]
async fn download(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((namespace, name, provider, version)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    let token = state
        .services
        .module_download(&caller, &namespace, &name, &provider, &version)
        .await?;
    let url = state.urls.module_archive(&token);
    Ok((
        StatusCode::NO_CONTENT,
        [(HeaderName::from_static("x-terraform-get"), url)],
    )
        .into_response())
}

/// A version's tarball; the signed path is the credential.
#[utoipa::path(get, path = "/_downloads/modules/{token}/module.tar.gz", tag = "uploads", security(()),
    params(("token" = String, Path, description = "The signed capability from X-Terraform-Get")),
    responses((status = 200, description = "The gzip'd tarball", content_type = "application/gzip"),
        (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 410, body = ErrorDocument)))]
async fn archive(State(state): State<AppState>, Path(token): Path<String>) -> ApiResult<Response> {
    let stream = state.services.module_archive(&token).await?;
    Ok(stream_response(stream, "application/gzip"))
}
