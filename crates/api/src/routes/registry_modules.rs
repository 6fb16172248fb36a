//! The private registry's modules, TFE's `registry-modules` API: create a module, publish
//! versions by uploading a tarball to the version's `upload` link, list, show, delete. The
//! registry protocol terraform uses is in [`super::module_registry`].

use axum::body::Body as HttpBody;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_auth::policy::{decide, Action, Decision};
use terrace_domain::registry::modules::{
    ModuleDeletion, ModuleName, ModuleRef, ModuleVersionView, ModuleView, NewModule, PRIVATE,
};
use terrace_storage::model::ModuleVersionStatus;
use terrace_storage::store::RegistryModuleFilter;
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

const KIND: &str = "registry-modules";
const VERSION_KIND: &str = "registry-module-versions";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, delete_provider))
        .routes(routes!(delete_name))
        .routes(routes!(delete_version))
        .routes(routes!(show_version))
        .routes(routes!(show_by_id))
        .routes(routes!(create_version))
        .routes(routes!(delete_by_action))
}

/// The capability route of version uploads.
pub fn upload_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ModuleAttributes {
    name: String,
    provider: String,
    /// Always `private`: the organization's own registry.
    registry_name: &'static str,
    /// The organization's name.
    namespace: String,
    /// `pending` until a version is published, then `setup_complete`.
    status: &'static str,
    version_statuses: Vec<VersionStatus>,
    no_code: bool,
    permissions: ModulePermissions,
    #[schema(value_type = Option<Object>)]
    vcs_repo: Option<()>,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionStatus {
    version: String,
    #[schema(value_type = String)]
    status: ModuleVersionStatus,
}

/// What the caller may do to the module; resync and retry are VCS actions, absent here.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ModulePermissions {
    can_delete: bool,
    can_resync: bool,
    can_retry: bool,
}

fn resource(view: &ModuleView, urls: &Urls) -> Resource<ModuleAttributes> {
    let module = &view.module;
    let published = view
        .versions
        .iter()
        .any(|v| v.status == ModuleVersionStatus::Ok);
    Resource::new(
        KIND,
        &module.id,
        ModuleAttributes {
            name: module.name.clone(),
            provider: module.provider.clone(),
            registry_name: PRIVATE,
            namespace: view.organization.name.clone(),
            status: if published {
                "setup_complete"
            } else {
                "pending"
            },
            version_statuses: view
                .versions
                .iter()
                .map(|v| VersionStatus {
                    version: v.version.clone(),
                    status: v.status,
                })
                .collect(),
            no_code: false,
            permissions: ModulePermissions {
                can_delete: decide(view.access, Action::ManageModules) == Decision::Allow,
                can_resync: false,
                can_retry: false,
            },
            vcs_repo: None,
            created_at: module.created_at,
            updated_at: module.updated_at,
        },
    )
    .relationship(
        "organization",
        Relationship::one("organizations", &view.organization.name),
    )
    .link(
        "self",
        urls.api(&format!("/registry-modules/{}", module.id)),
    )
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct VersionAttributes {
    version: String,
    /// `pending` until the tarball is uploaded, then `ok`.
    #[schema(value_type = String)]
    status: ModuleVersionStatus,
    source: &'static str,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    updated_at: DateTime<Utc>,
}

fn version_resource(view: &ModuleVersionView, urls: &Urls) -> Resource<VersionAttributes> {
    let version = &view.version;
    let mut resource = Resource::new(
        VERSION_KIND,
        &version.id,
        VersionAttributes {
            version: version.version.clone(),
            status: version.status,
            source: "tfe-api",
            created_at: version.created_at,
            updated_at: version.updated_at,
        },
    )
    .relationship("registry-module", Relationship::one(KIND, &view.module.id));
    if let Some(token) = &view.upload {
        resource = resource.link("upload", urls.module_upload(token));
    }
    resource
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ModuleInput {
    name: Option<String>,
    provider: Option<String>,
    /// `private` (the default); public modules are not hosted here.
    registry_name: Option<String>,
    /// The organization's name (the default).
    namespace: Option<String>,
    /// No-code provisioning does not exist here: only false is accepted.
    no_code: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct VersionInput {
    /// A semantic version (`1.2.3`, `1.0.0-rc.1`).
    version: Option<String>,
    /// Accepted and ignored: versions are uploaded, not taken from a repository.
    commit_sha: Option<String>,
}

fn module_name(
    organization: String,
    registry: String,
    namespace: String,
    name: String,
    provider: String,
) -> ModuleName {
    ModuleName {
        organization,
        registry,
        namespace,
        name,
        provider,
    }
}

/// The organization's modules by name, then provider (`q` searches names;
/// `filter[provider]`, `filter[registry_name]`).
#[utoipa::path(get, path = "/organizations/{organization}/registry-modules", tag = "registry",
    params(("organization" = String, Path), PageParams,
        ("q" = Option<String>, Query, description = "Part of the name"),
        ("filter[provider]" = Option<String>, Query),
        ("filter[registry_name]" = Option<String>, Query, description = "`private` (only private modules exist here)")),
    responses((status = 200, body = ListDocument<ModuleAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<ModuleAttributes>>> {
    let page = params.page()?;
    let filter = RegistryModuleFilter {
        query: params.get("q").map(str::to_string),
        provider: params.get("filter[provider]").map(str::to_string),
    };
    let found = state
        .services
        .list_registry_modules(
            &caller,
            &org,
            params.get("filter[registry_name]"),
            &filter,
            page,
        )
        .await?;
    let data = found
        .items
        .iter()
        .map(|m| resource(m, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(&uri),
    )))
}

/// Creates a module (no VCS connection: versions are published by upload).
#[utoipa::path(post, path = "/organizations/{organization}/registry-modules", tag = "registry",
    params(("organization" = String, Path)),
    request_body(content = Body<ModuleInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<ModuleAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<Body<ModuleInput>>,
) -> ApiResult<JsonApi<Document<ModuleAttributes>>> {
    let (input, _) = body.into_parts(KIND)?;
    if input.no_code == Some(true) {
        return Err(crate::error::ApiError::invalid(
            "/data/attributes/no-code",
            "no-code provisioning is not available on this server",
        ));
    }
    let new = NewModule {
        name: input.name,
        provider: input.provider,
        registry_name: input.registry_name,
        namespace: input.namespace,
    };
    let view = state
        .services
        .create_registry_module(&caller, &org, new)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &view,
        &state.urls,
    ))))
}

#[utoipa::path(get, path = "/organizations/{organization}/registry-modules/{registry_name}/{namespace}/{name}/{provider}", tag = "registry",
    params(("organization" = String, Path), ("registry_name" = String, Path, description = "`private`"),
        ("namespace" = String, Path), ("name" = String, Path), ("provider" = String, Path)),
    responses((status = 200, body = Document<ModuleAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((org, registry, namespace, name, provider)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
) -> ApiResult<JsonApi<Document<ModuleAttributes>>> {
    let module = ModuleRef::Name(module_name(org, registry, namespace, name, provider));
    let view = state.services.registry_module(&caller, &module).await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

#[utoipa::path(get, path = "/registry-modules/{registry_module_id}", tag = "registry",
    params(("registry_module_id" = String, Path)),
    responses((status = 200, body = Document<ModuleAttributes>), (status = 404, body = ErrorDocument)))]
async fn show_by_id(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<ModuleAttributes>>> {
    let view = state
        .services
        .registry_module(&caller, &ModuleRef::Id(id))
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Deletes the module of one provider, with its versions.
#[utoipa::path(delete, path = "/organizations/{organization}/registry-modules/{registry_name}/{namespace}/{name}/{provider}", tag = "registry",
    params(("organization" = String, Path), ("registry_name" = String, Path), ("namespace" = String, Path),
        ("name" = String, Path), ("provider" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete_provider(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((org, registry, namespace, name, provider)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
) -> ApiResult<StatusCode> {
    let module = module_name(org, registry, namespace, name, provider);
    state
        .services
        .delete_registry_module(&caller, &module, ModuleDeletion::Provider)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes every provider's module of the name, with their versions.
#[utoipa::path(delete, path = "/organizations/{organization}/registry-modules/{registry_name}/{namespace}/{name}", tag = "registry",
    params(("organization" = String, Path), ("registry_name" = String, Path), ("namespace" = String, Path),
        ("name" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete_name(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((org, registry, namespace, name)): Path<(String, String, String, String)>,
) -> ApiResult<StatusCode> {
    let module = module_name(org, registry, namespace, name, String::new());
    state
        .services
        .delete_registry_module(&caller, &module, ModuleDeletion::Name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes every provider's module of the name (TFE's older form of the request).
#[utoipa::path(post, path = "/registry-modules/actions/delete/{organization}/{name}", tag = "registry",
    params(("organization" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete_by_action(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((org, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let module = module_name(org.clone(), PRIVATE.to_string(), org, name, String::new());
    state
        .services
        .delete_registry_module(&caller, &module, ModuleDeletion::Name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/organizations/{organization}/registry-modules/{registry_name}/{namespace}/{name}/{provider}/{version}", tag = "registry",
    params(("organization" = String, Path), ("registry_name" = String, Path), ("namespace" = String, Path),
        ("name" = String, Path), ("provider" = String, Path), ("version" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete_version(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((org, registry, namespace, name, provider, version)): Path<(
        String,
        String,
        String,
        String,
        String,
        String,
    )>,
) -> ApiResult<StatusCode> {
    let module = module_name(org, registry, namespace, name, provider);
    state
        .services
        .delete_registry_module(&caller, &module, ModuleDeletion::Version(&version))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One version (`?module_version=1.2.3`), with its `upload` link while pending.
#[utoipa::path(get, path = "/organizations/{organization}/registry-modules/{registry_name}/{namespace}/{name}/{provider}/version", tag = "registry",
    params(("organization" = String, Path), ("registry_name" = String, Path), ("namespace" = String, Path),
        ("name" = String, Path), ("provider" = String, Path),
        ("module_version" = String, Query, description = "The version number")),
    responses((status = 200, body = Document<VersionAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn show_version(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((org, registry, namespace, name, provider)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
    params: Params,
) -> ApiResult<JsonApi<Document<VersionAttributes>>> {
    let module = ModuleRef::Name(module_name(org, registry, namespace, name, provider));
    let view = state
        .services
        .module_version(&caller, &module, params.get("module_version"))
        .await?;
    Ok(JsonApi::ok(Document::new(version_resource(
        &view,
        &state.urls,
    ))))
}

/// Creates a pending version; upload its tarball (gzip'd tar) to its `upload` link.
#[utoipa::path(post, path = "/registry-modules/{organization}/{name}/{provider}/versions", tag = "registry",
    params(("organization" = String, Path), ("name" = String, Path), ("provider" = String, Path)),
    request_body(content = Body<VersionInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<VersionAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create_version(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((org, name, provider)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<Body<VersionInput>>,
) -> ApiResult<JsonApi<Document<VersionAttributes>>> {
    let (input, _) = body.into_parts(VERSION_KIND)?;
    let _ = input.commit_sha;
    let module = ModuleRef::Name(module_name(
        org.clone(),
        PRIVATE.to_string(),
        org,
        name,
        provider,
    ));
    let view = state
        .services
        .create_module_version(&caller, &module, input.version)
        .await?;
    Ok(JsonApi::created(Document::new(version_resource(
        &view,
        &state.urls,
    ))))
}

/// Receives a module version's tarball (its `upload` link).
#[utoipa::path(put, path = "/_uploads/modules/object/{token}", tag = "uploads", security(()),
    params(("token" = String, Path, description = "The signed capability from the upload link")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, description = "Stored and published"),
        (status = 403, description = "Signature does not match", body = ErrorDocument),
        (status = 404, description = "The version was deleted", body = ErrorDocument),
        (status = 409, description = "Already published", body = ErrorDocument),
        (status = 410, description = "URL expired", body = ErrorDocument),
        (status = 413, body = ErrorDocument),
        (status = 422, description = "Not a gzip'd tarball of a module", body = ErrorDocument)))]
async fn upload(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: HttpBody,
) -> ApiResult<StatusCode> {
    state
        .services
        .upload_module_version(&token, body.into_data_stream())
        .await?;
    Ok(StatusCode::OK)
}
