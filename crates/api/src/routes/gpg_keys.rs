//! The private registry's GPG keys (`/api/registry/private/v2/gpg-keys`, TFE's): an
//! organization's public keys (namespace = its name), which sign its providers' SHA256SUMS.
//! Owners and teams with `manage-providers` keep and read them.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_domain::providers::GpgKeyView;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{time, Body, Document, JsonApi, JsonBody, ListDocument, Params, Resource};
use crate::urls::Urls;

const KIND: &str = "gpg-keys";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, delete))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct GpgKeyAttributes {
    ascii_armor: String,
    /// The key's long ID (16 hex digits).
    key_id: String,
    namespace: String,
    /// Empty: keys are the organization's own (HashiCorp's partner sources do not apply).
    source: &'static str,
    source_url: Option<String>,
    trust_signature: &'static str,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    updated_at: DateTime<Utc>,
}

fn resource(view: &GpgKeyView, urls: &Urls) -> Resource<GpgKeyAttributes> {
    let key = &view.key;
    Resource::new(
        KIND,
        &key.id,
        GpgKeyAttributes {
            ascii_armor: key.ascii_armor.clone(),
            key_id: key.key_id.clone(),
            namespace: view.namespace.clone(),
            source: "",
            source_url: None,
            trust_signature: "",
            created_at: key.created_at,
            updated_at: key.updated_at,
        },
    )
    .link(
        "self",
        urls.absolute(&format!(
            "/api/registry/private/v2/gpg-keys/{}/{}",
            view.namespace, key.key_id
        )),
    )
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct GpgKeyInput {
    /// The organization's name (update: the one to move the key to).
    namespace: Option<String>,
    /// An ASCII-armored OpenPGP public key (create).
    ascii_armor: Option<String>,
}

#[derive(Deserialize)]
struct KeyPath {
    registry_name: String,
    namespace: String,
    key_id: String,
}

/// The keys of `filter[namespace]` (comma-separated organization names, each one whose
/// registry the caller manages).
#[utoipa::path(get, path = "/api/registry/{registry_name}/v2/gpg-keys", tag = "registry",
    params(("registry_name" = String, Path), ("filter[namespace]" = String, Query), PageParams),
    responses((status = 200, body = ListDocument<GpgKeyAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(registry_name): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<GpgKeyAttributes>>> {
    let page = params.page()?;
    let found = state
        .services
        .list_gpg_keys(
            &caller,
            &registry_name,
            &params.list("filter[namespace]"),
            page,
        )
        .await?;
    let data = found
        .items
        .iter()
        .map(|k| resource(k, &state.urls))
        .collect();
    Ok(JsonApi::ok(
        ListDocument::paginate(data, page, found.total, &state.urls.request(&uri))
            .no_pages_when_empty(),
    ))
}

/// Adds a public key to a namespace (422 for something that is not an ASCII-armored
/// OpenPGP public key, or one the namespace has already).
#[utoipa::path(post, path = "/api/registry/{registry_name}/v2/gpg-keys", tag = "registry",
    params(("registry_name" = String, Path)),
    request_body(content = Body<GpgKeyInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<GpgKeyAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(registry_name): Path<String>,
    JsonBody(body): JsonBody<Body<GpgKeyInput>>,
) -> ApiResult<JsonApi<Document<GpgKeyAttributes>>> {
    let (input, _) = body.into_parts(KIND)?;
    let view = state
        .services
        .create_gpg_key(
            &caller,
            &registry_name,
            input.namespace.as_deref().unwrap_or_default(),
            input.ascii_armor.as_deref().unwrap_or_default(),
        )
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &view,
        &state.urls,
    ))))
}

/// A key by namespace and key ID.
#[utoipa::path(get, path = "/api/registry/{registry_name}/v2/gpg-keys/{namespace}/{key_id}", tag = "registry",
    params(("registry_name" = String, Path), ("namespace" = String, Path), ("key_id" = String, Path)),
    responses((status = 200, body = Document<GpgKeyAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn read(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<KeyPath>,
) -> ApiResult<JsonApi<Document<GpgKeyAttributes>>> {
    let view = state
        .services
        .gpg_key(&caller, &path.registry_name, &path.namespace, &path.key_id)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Moves a key to another namespace the caller manages (422 `namespace not authorized`
/// otherwise).
#[utoipa::path(patch, path = "/api/registry/{registry_name}/v2/gpg-keys/{namespace}/{key_id}", tag = "registry",
    params(("registry_name" = String, Path), ("namespace" = String, Path), ("key_id" = String, Path)),
    request_body(content = Body<GpgKeyInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<GpgKeyAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<KeyPath>,
    JsonBody(body): JsonBody<Body<GpgKeyInput>>,
) -> ApiResult<JsonApi<Document<GpgKeyAttributes>>> {
    let (input, _) = body.into_parts(KIND)?;
    let to = input.namespace.unwrap_or_else(|| path.namespace.clone());
    let view = state
        .services
        .move_gpg_key(
            &caller,
            &path.registry_name,
            &path.namespace,
            &path.key_id,
            &to,
        )
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Deletes a key (versions naming it can no longer be signed, nor installed).
#[utoipa::path(delete, path = "/api/registry/{registry_name}/v2/gpg-keys/{namespace}/{key_id}", tag = "registry",
    params(("registry_name" = String, Path), ("namespace" = String, Path), ("key_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<KeyPath>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_gpg_key(&caller, &path.registry_name, &path.namespace, &path.key_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
