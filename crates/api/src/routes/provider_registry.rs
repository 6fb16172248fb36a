//! The provider registry protocol (`providers.v1` in service discovery), what `terraform
//! init` asks for a provider `HOST/NAMESPACE/NAME`: its published versions and, for one
//! platform, where to fetch the package, SHA256SUMS and its signature (signed, expiring URLs
//! the CLI fetches without credentials) and the key that signed it. The namespace is an
//! organization; the CLI's token must be one of its members' (others get 404).

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;

/// Where `providers.v1` points.
pub const PREFIX: &str = "/api/registry/v1/providers/";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(versions))
        .routes(routes!(download))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderPlatformEntry {
    os: String,
    arch: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderVersionEntry {
    version: String,
    protocols: Vec<String>,
    platforms: Vec<ProviderPlatformEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderVersions {
    id: String,
    versions: Vec<ProviderVersionEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GpgPublicKey {
    key_id: String,
    ascii_armor: String,
    trust_signature: &'static str,
    source: &'static str,
    source_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeys {
    gpg_public_keys: Vec<GpgPublicKey>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderDownload {
    protocols: Vec<String>,
    os: String,
    arch: String,
    filename: String,
    download_url: String,
    shasums_url: String,
    shasums_signature_url: String,
    shasum: String,
    signing_keys: SigningKeys,
}

#[derive(Deserialize)]
struct DownloadPath {
    namespace: String,
    name: String,
    version: String,
    os: String,
    arch: String,
}

/// A provider's published versions (signed, with the platforms whose binaries arrived).
#[utoipa::path(get, path = "/api/registry/v1/providers/{namespace}/{name}/versions", tag = "registry",
    params(("namespace" = String, Path, description = "The organization's name"), ("name" = String, Path)),
    responses((status = 200, body = ProviderVersions, content_type = "application/json"), (status = 404, body = ErrorDocument)))]
async fn versions(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((namespace, name)): Path<(String, String)>,
) -> ApiResult<Json<ProviderVersions>> {
    let published = state
        .services
        .published_provider_versions(&caller, &namespace, &name)
        .await?;
    Ok(Json(ProviderVersions {
        id: format!("{namespace}/{name}"),
        versions: published
            .into_iter()
            .map(|v| ProviderVersionEntry {
                version: v.version,
                protocols: v.protocols,
                platforms: v
                    .platforms
                    .into_iter()
                    .map(|(os, arch)| ProviderPlatformEntry { os, arch })
                    .collect(),
            })
            .collect(),
    }))
}

/// Where to fetch one platform's package of a published version, and how to verify it.
#[utoipa::path(get, path = "/api/registry/v1/providers/{namespace}/{name}/{version}/download/{os}/{arch}",
    tag = "registry",
    params(("namespace" = String, Path, description = "The organization's name"), ("name" = String, Path),
        ("version" = String, Path), ("os" = String, Path), ("arch" = String, Path)),
    responses((status = 200, body = ProviderDownload, content_type = "application/json"), (status = 404, body = ErrorDocument)))]
async fn download(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<DownloadPath>,
) -> ApiResult<Json<ProviderDownload>> {
    let package = state
        .services
        .provider_package(
            &caller,
            &path.namespace,
            &path.name,
            &path.version,
            &path.os,
            &path.arch,
        )
        .await?;
    let url = |kind: &str, token: &str| state.urls.absolute(&format!("/_downloads/{kind}/{token}"));
    Ok(Json(ProviderDownload {
        download_url: url("provider-binary", &package.download),
        shasums_url: url("provider-shasums", &package.shasums_download),
        shasums_signature_url: url("provider-shasums-sig", &package.signature_download),
        protocols: package.protocols,
        os: package.os,
        arch: package.arch,
        filename: package.filename,
        shasum: package.shasum,
        signing_keys: SigningKeys {
            gpg_public_keys: vec![GpgPublicKey {
                key_id: package.key_id,
                ascii_armor: package.ascii_armor,
                trust_signature: "",
                source: "",
                source_url: None,
            }],
        },
    }))
}
