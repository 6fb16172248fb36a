//! The private provider registry's TFE API: `/organizations/:org/registry-providers`,
//! `/registry-providers/private/:namespace/:name` with its `versions` and their
//! `platforms`. Members read; `manage-providers` changes. Public providers are not hosted
//! here: creating one is a 422 that says so, and reading one is not found.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_domain::providers::{
    NewProviderPlatform, NewProviderVersion, ProviderPlatformView, ProviderRef,
    ProviderVersionView, ProviderView,
};
use terrace_storage::model::{ProviderVersion, RegistryProvider};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{
    time, Body, Document, JsonApi, JsonBody, ListDocument, Params, Relationship, Resource,
};
use crate::urls::Urls;

const PROVIDERS: &str = "registry-providers";
const VERSIONS: &str = "registry-provider-versions";
const PLATFORMS: &str = "registry-provider-platforms";
const INCLUDE_VERSIONS: &str = "registry-provider-versions";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, delete))
        .routes(routes!(list_versions, create_version))
        .routes(routes!(read_version, delete_version))
        .routes(routes!(list_platforms, create_platform))
        .routes(routes!(read_platform, delete_platform))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct CanDelete {
    can_delete: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct AssetPermissions {
    can_delete: bool,
    can_upload_asset: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RegistryProviderAttributes {
    name: String,
    namespace: String,
    /// Always `private`: public providers are not hosted here.
    registry_name: &'static str,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    updated_at: DateTime<Utc>,
    permissions: CanDelete,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RegistryProviderVersionAttributes {
    version: String,
    key_id: String,
    protocols: Vec<String>,
    shasums_uploaded: bool,
    shasums_sig_uploaded: bool,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    updated_at: DateTime<Utc>,
    permissions: AssetPermissions,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RegistryProviderPlatformAttributes {
    os: String,
    arch: String,
    filename: String,
    shasum: String,
    provider_binary_uploaded: bool,
    permissions: AssetPermissions,
}

fn provider_path(organization: &str, provider: &RegistryProvider) -> String {
    format!(
        "/organizations/{organization}/registry-providers/private/{organization}/{}",
        provider.name
    )
}

fn version_resource(
    version: &ProviderVersion,
    provider: &RegistryProvider,
    can_manage: bool,
) -> Resource<RegistryProviderVersionAttributes> {
    Resource::new(
        VERSIONS,
        &version.id,
        RegistryProviderVersionAttributes {
            version: version.version.clone(),
            key_id: version.key_id.clone(),
            protocols: version.protocols.0.clone(),
            shasums_uploaded: version.shasums.is_some(),
            shasums_sig_uploaded: version.shasums_signature.is_some(),
            created_at: version.created_at,
            updated_at: version.updated_at,
            permissions: AssetPermissions {
                can_delete: can_manage,
                can_upload_asset: can_manage,
            },
        },
    )
    .relationship(
        "registry-provider",
        Relationship::one(PROVIDERS, &provider.id),
    )
}

fn provider_resource(view: &ProviderView, urls: &Urls) -> Resource<RegistryProviderAttributes> {
    let p = &view.provider;
    Resource::new(
        PROVIDERS,
        &p.id,
        RegistryProviderAttributes {
            name: p.name.clone(),
            namespace: view.organization.clone(),
            registry_name: "private",
            created_at: p.created_at,
            updated_at: p.updated_at,
            permissions: CanDelete {
                can_delete: view.can_delete,
            },
        },
    )
    .relationship(
        "organization",
        Relationship::one("organizations", &view.organization),
    )
    .relationship_if(
        "registry-provider-versions",
        view.versions
            .as_ref()
            .map(|vs| Relationship::many(VERSIONS, vs.iter().map(|v| v.id.clone()))),
    )
    .link("self", urls.api(&provider_path(&view.organization, p)))
}

fn included_versions(view: &ProviderView) -> Vec<serde_json::Value> {
    view.versions
        .iter()
        .flatten()
        .map(|v| version_resource(v, &view.provider, view.can_delete).into_value())
        .collect()
}

fn version_view_resource(
    view: &ProviderVersionView,
    urls: &Urls,
) -> Resource<RegistryProviderVersionAttributes> {
    let mut resource = version_resource(&view.version, &view.provider, view.can_manage)
        .relationship(
            "platforms",
            Relationship::many(PLATFORMS, view.platforms.iter().map(|p| p.id.clone())),
        );
    let links = [
        (
            "shasums-upload",
            "/_uploads/provider-shasums/",
            &view.shasums_upload,
        ),
        (
            "shasums-sig-upload",
            "/_uploads/provider-shasums-sig/",
            &view.signature_upload,
        ),
        (
            "shasums-download",
            "/_downloads/provider-shasums/",
            &view.shasums_download,
        ),
        (
            "shasums-sig-download",
            "/_downloads/provider-shasums-sig/",
            &view.signature_download,
        ),
    ];
    for (name, path, token) in links {
        if let Some(token) = token {
            resource = resource.link(name, urls.absolute(&format!("{path}{token}")));
        }
    }
    resource
}

fn platform_resource(
    view: &ProviderPlatformView,
    urls: &Urls,
) -> Resource<RegistryProviderPlatformAttributes> {
    let p = &view.platform;
    let can_manage = view.can_manage;
    let mut resource = Resource::new(
        PLATFORMS,
        &p.id,
        RegistryProviderPlatformAttributes {
            os: p.os.clone(),
            arch: p.arch.clone(),
            filename: p.filename.clone(),
            shasum: p.shasum.clone(),
            provider_binary_uploaded: p.binary_key.is_some(),
            permissions: AssetPermissions {
                can_delete: can_manage,
                can_upload_asset: can_manage,
            },
        },
    )
    .relationship(
        "registry-provider-version",
        Relationship::one(VERSIONS, &p.version_id),
    );
    if let Some(token) = &view.binary_upload {
        resource = resource.link(
            "provider-binary-upload",
            urls.absolute(&format!("/_uploads/provider-binary/{token}")),
        );
    }
    if let Some(token) = &view.binary_download {
        resource = resource.link(
            "provider-binary-download",
            urls.absolute(&format!("/_downloads/provider-binary/{token}")),
        );
    }
    resource
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RegistryProviderInput {
    name: Option<String>,
    namespace: Option<String>,
    /// `private` (public providers are not hosted here).
    registry_name: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RegistryProviderVersionInput {
    version: Option<String>,
    /// The long ID of one of the organization's GPG keys, which signs SHA256SUMS.
    key_id: Option<String>,
    protocols: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RegistryProviderPlatformInput {
    os: Option<String>,
    arch: Option<String>,
    shasum: Option<String>,
    filename: Option<String>,
}

#[derive(Deserialize)]
struct ProviderPath {
    organization: String,
    registry_name: String,
    namespace: String,
    name: String,
}

impl ProviderPath {
    fn reference(self) -> ProviderRef {
        ProviderRef {
            organization: self.organization,
            registry_name: self.registry_name,
            namespace: self.namespace,
            name: self.name,
        }
    }
}

#[derive(Deserialize)]
struct VersionPath {
    organization: String,
    registry_name: String,
    namespace: String,
    name: String,
    version: String,
}

impl VersionPath {
    fn split(self) -> (ProviderRef, String) {
        (
            ProviderRef {
                organization: self.organization,
                registry_name: self.registry_name,
                namespace: self.namespace,
                name: self.name,
            },
            self.version,
        )
    }
}

#[derive(Deserialize)]
struct PlatformPath {
    organization: String,
    registry_name: String,
    namespace: String,
    name: String,
    version: String,
    os: String,
    arch: String,
}

impl PlatformPath {
    fn split(self) -> (ProviderRef, String, String, String) {
        (
            ProviderRef {
                organization: self.organization,
                registry_name: self.registry_name,
                namespace: self.namespace,
                name: self.name,
            },
            self.version,
            self.os,
            self.arch,
        )
    }
}

/// The organization's private providers by name. `filter[registry_name]` (`public` lists
/// none), `q` (part of the name), `include=registry-provider-versions`.
#[utoipa::path(get, path = "/organizations/{organization}/registry-providers", tag = "registry",
    params(("organization" = String, Path), ("filter[registry_name]" = Option<String>, Query),
        ("q" = Option<String>, Query), ("include" = Option<String>, Query), PageParams),
    responses((status = 200, body = ListDocument<RegistryProviderAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<RegistryProviderAttributes>>> {
    let page = params.page()?;
    let includes = params.includes_of(&[INCLUDE_VERSIONS])?;
    let found = state
        .services
        .list_registry_providers(
            &caller,
            &org,
            params.get("filter[registry_name]"),
            params.get("q").or(params.get("filter[search]")),
            includes.has(INCLUDE_VERSIONS),
            page,
        )
        .await?;
    let included = found.items.iter().flat_map(included_versions).collect();
    let data = found
        .items
        .iter()
        .map(|v| provider_resource(v, &state.urls))
        .collect();
    Ok(JsonApi::ok(
        ListDocument::paginate(data, page, found.total, &state.urls.request(&uri))
            .with_included(included)
            .no_pages_when_empty(),
    ))
}

/// Creates a private provider (`registry-name` `private`, `namespace` the organization's
/// name); public providers are a 422: they are not hosted here.
#[utoipa::path(post, path = "/organizations/{organization}/registry-providers", tag = "registry",
    params(("organization" = String, Path)),
    request_body(content = Body<RegistryProviderInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<RegistryProviderAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<Body<RegistryProviderInput>>,
) -> ApiResult<JsonApi<Document<RegistryProviderAttributes>>> {
    let (input, _) = body.into_parts(PROVIDERS)?;
    let view = state
        .services
        .create_registry_provider(
            &caller,
            &org,
            input.registry_name.as_deref(),
            input.namespace.as_deref().unwrap_or_default(),
            input.name.as_deref().unwrap_or_default(),
        )
        .await?;
    Ok(JsonApi::created(Document::new(provider_resource(
        &view,
        &state.urls,
    ))))
}

/// A private provider (`include=registry-provider-versions`).
#[utoipa::path(get, path = "/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}",
    tag = "registry",
    params(("organization" = String, Path), ("registry_name" = String, Path), ("namespace" = String, Path),
        ("name" = String, Path), ("include" = Option<String>, Query)),
    responses((status = 200, body = Document<RegistryProviderAttributes>), (status = 404, body = ErrorDocument)))]
async fn read(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<ProviderPath>,
    params: Params,
) -> ApiResult<JsonApi<Document<RegistryProviderAttributes>>> {
    let includes = params.includes_of(&[INCLUDE_VERSIONS])?;
    let view = state
        .services
        .registry_provider(&caller, &path.reference(), includes.has(INCLUDE_VERSIONS))
        .await?;
    Ok(JsonApi::ok(
        Document::new(provider_resource(&view, &state.urls))
            .with_included(included_versions(&view)),
    ))
}

/// Deletes a provider with its versions, platforms and binaries.
#[utoipa::path(delete, path = "/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}",
    tag = "registry",
    params(("organization" = String, Path), ("registry_name" = String, Path), ("namespace" = String, Path),
        ("name" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<ProviderPath>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_registry_provider(&caller, &path.reference())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The provider's versions, oldest first.
#[utoipa::path(get, path = "/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions",
    tag = "registry",
    params(("organization" = String, Path), ("registry_name" = String, Path), ("namespace" = String, Path),
        ("name" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<RegistryProviderVersionAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_versions(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<ProviderPath>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<RegistryProviderVersionAttributes>>> {
    let page = params.page()?;
    let found = state
        .services
        .list_provider_versions(&caller, &path.reference(), page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|v| version_view_resource(v, &state.urls))
        .collect();
    Ok(JsonApi::ok(
        ListDocument::paginate(data, page, found.total, &state.urls.request(&uri))
            .no_pages_when_empty(),
    ))
}

/// Creates a version; its `links` carry the signed upload URLs of SHA256SUMS and its detached
/// signature. A version number the provider has already is a 422.
#[utoipa::path(post, path = "/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions",
    tag = "registry",
    params(("organization" = String, Path), ("registry_name" = String, Path), ("namespace" = String, Path),
        ("name" = String, Path)),
    request_body(content = Body<RegistryProviderVersionInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<RegistryProviderVersionAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create_version(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<ProviderPath>,
    JsonBody(body): JsonBody<Body<RegistryProviderVersionInput>>,
) -> ApiResult<JsonApi<Document<RegistryProviderVersionAttributes>>> {
    let (input, _) = body.into_parts(VERSIONS)?;
    let view = state
        .services
        .create_provider_version(
            &caller,
            &path.reference(),
            NewProviderVersion {
                version: input.version.unwrap_or_default(),
                key_id: input.key_id.unwrap_or_default(),
                protocols: input.protocols.unwrap_or_default(),
            },
        )
        .await?;
    Ok(JsonApi::created(Document::new(version_view_resource(
        &view,
        &state.urls,
    ))))
}

/// A version, with its upload URLs while its files may be uploaded and download URLs once
/// they were.
#[utoipa::path(get, path = "/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions/{version}",
    tag = "registry",
    params(("organization" = String, Path), ("registry_name" = String, Path), ("namespace" = String, Path),
        ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = Document<RegistryProviderVersionAttributes>), (status = 404, body = ErrorDocument)))]
async fn read_version(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<VersionPath>,
) -> ApiResult<JsonApi<Document<RegistryProviderVersionAttributes>>> {
    let (provider, version) = path.split();
    let view = state
        .services
        .provider_version(&caller, &provider, &version)
        .await?;
    Ok(JsonApi::ok(Document::new(version_view_resource(
        &view,
        &state.urls,
    ))))
}

/// Deletes a version with its platforms and binaries.
#[utoipa::path(delete, path = "/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions/{version}",
    tag = "registry",
    params(("organization" = String, Path), ("registry_name" = String, Path), ("namespace" = String, Path),
        ("name" = String, Path), ("version" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete_version(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<VersionPath>,
) -> ApiResult<StatusCode> {
    let (provider, version) = path.split();
    state
        .services
        .delete_provider_version(&caller, &provider, &version)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The version's platforms by os and arch.
#[utoipa::path(get, path = "/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions/{version}/platforms",
    tag = "registry",
    params(("organization" = String, Path), ("registry_name" = String, Path), ("namespace" = String, Path),
        ("name" = String, Path), ("version" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<RegistryProviderPlatformAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_platforms(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<VersionPath>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<RegistryProviderPlatformAttributes>>> {
    let page = params.page()?;
    let (provider, version) = path.split();
    let found = state
        .services
        .list_provider_platforms(&caller, &provider, &version, page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|p| platform_resource(p, &state.urls))
        .collect();
    Ok(JsonApi::ok(
        ListDocument::paginate(data, page, found.total, &state.urls.request(&uri))
            .no_pages_when_empty(),
    ))
}

/// Creates a platform; its `links.provider-binary-upload` is the signed URL of its zip, which
/// must have the SHA-256 `shasum` names (and the version's signed SHA256SUMS lists for
/// `filename`).
#[utoipa::path(post, path = "/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions/{version}/platforms",
    tag = "registry",
    params(("organization" = String, Path), ("registry_name" = String, Path), ("namespace" = String, Path),
        ("name" = String, Path), ("version" = String, Path)),
    request_body(content = Body<RegistryProviderPlatformInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<RegistryProviderPlatformAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create_platform(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<VersionPath>,
    JsonBody(body): JsonBody<Body<RegistryProviderPlatformInput>>,
) -> ApiResult<JsonApi<Document<RegistryProviderPlatformAttributes>>> {
    let (input, _) = body.into_parts(PLATFORMS)?;
    let (provider, version) = path.split();
    let view = state
        .services
        .create_provider_platform(
            &caller,
            &provider,
            &version,
            NewProviderPlatform {
                os: input.os.unwrap_or_default(),
                arch: input.arch.unwrap_or_default(),
                filename: input.filename.unwrap_or_default(),
                shasum: input.shasum.unwrap_or_default(),
            },
        )
        .await?;
    Ok(JsonApi::created(Document::new(platform_resource(
        &view,
        &state.urls,
    ))))
}

/// A platform.
#[utoipa::path(get, path = "/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions/{version}/platforms/{os}/{arch}",
    tag = "registry",
    params(("organization" = String, Path), ("registry_name" = String, Path), ("namespace" = String, Path),
        ("name" = String, Path), ("version" = String, Path), ("os" = String, Path), ("arch" = String, Path)),
    responses((status = 200, body = Document<RegistryProviderPlatformAttributes>), (status = 404, body = ErrorDocument)))]
async fn read_platform(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<PlatformPath>,
) -> ApiResult<JsonApi<Document<RegistryProviderPlatformAttributes>>> {
    let (provider, version, os, arch) = path.split();
    let view = state
        .services
        .provider_platform(&caller, &provider, &version, &os, &arch)
        .await?;
    Ok(JsonApi::ok(Document::new(platform_resource(
        &view,
        &state.urls,
    ))))
}

/// Deletes a platform and its binary.
#[utoipa::path(delete, path = "/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions/{version}/platforms/{os}/{arch}",
    tag = "registry",
    params(("organization" = String, Path), ("registry_name" = String, Path), ("namespace" = String, Path),
        ("name" = String, Path), ("version" = String, Path), ("os" = String, Path), ("arch" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete_platform(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<PlatformPath>,
) -> ApiResult<StatusCode> {
    let (provider, version, os, arch) = path.split();
    state
        .services
        .delete_provider_platform(&caller, &provider, &version, &os, &arch)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
