//! Reserved tag keys: `/organizations/:org/reserved-tag-keys` and `/reserved-tag-keys/:id`.
//! Members list them; those who may change the organization's settings keep them.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_domain::tags::ReservedTagKeyChanges;
use terrace_storage::model::ReservedTagKey;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{time, Body, Document, JsonApi, JsonBody, ListDocument, Params, Resource};
use crate::urls::Urls;

const KIND: &str = "reserved-tag-keys";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, delete))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ReservedTagKeyAttributes {
    key: String,
    /// Whether a workspace may bind the key to another value than its project's.
    disable_overrides: bool,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    updated_at: DateTime<Utc>,
}

fn resource(key: &ReservedTagKey, urls: &Urls) -> Resource<ReservedTagKeyAttributes> {
    Resource::new(
        KIND,
        &key.id,
        ReservedTagKeyAttributes {
            key: key.key.clone(),
            disable_overrides: key.disable_overrides,
            created_at: key.created_at,
            updated_at: key.updated_at,
        },
    )
    .link("self", urls.api(&format!("/reserved-tag-keys/{}", key.id)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ReservedTagKeyInput {
    /// A tag key (create: required).
    key: Option<String>,
    disable_overrides: Option<bool>,
}

fn changes(body: Body<ReservedTagKeyInput>) -> ApiResult<ReservedTagKeyChanges> {
    let (input, _) = body.into_parts(KIND)?;
    Ok(ReservedTagKeyChanges {
        key: input.key,
        disable_overrides: input.disable_overrides,
    })
}

/// The organization's reserved tag keys, oldest first.
#[utoipa::path(get, path = "/organizations/{organization}/reserved-tag-keys", tag = "tags",
    params(("organization" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<ReservedTagKeyAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<ReservedTagKeyAttributes>>> {
    let page = params.page()?;
    let found = state
        .services
        .list_reserved_tag_keys(&caller, &org, page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|k| resource(k, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(&uri),
    )))
}

/// Reserves a key (422 for an invalid key or one already reserved).
#[utoipa::path(post, path = "/organizations/{organization}/reserved-tag-keys", tag = "tags",
    params(("organization" = String, Path)),
    request_body(content = Body<ReservedTagKeyInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<ReservedTagKeyAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<Body<ReservedTagKeyInput>>,
) -> ApiResult<JsonApi<Document<ReservedTagKeyAttributes>>> {
    let key = state
        .services
        .create_reserved_tag_key(&caller, &org, changes(body)?)
        .await?;
    Ok(JsonApi::created(Document::new(resource(&key, &state.urls))))
}

/// Renames a reserved key or changes `disable-overrides`.
#[utoipa::path(patch, path = "/reserved-tag-keys/{reserved_tag_key_id}", tag = "tags",
    params(("reserved_tag_key_id" = String, Path)),
    request_body(content = Body<ReservedTagKeyInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<ReservedTagKeyAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Body<ReservedTagKeyInput>>,
) -> ApiResult<JsonApi<Document<ReservedTagKeyAttributes>>> {
    let key = state
        .services
        .update_reserved_tag_key(&caller, &id, changes(body)?)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&key, &state.urls))))
}

/// Releases a reserved key; the tags that use it stay.
#[utoipa::path(delete, path = "/reserved-tag-keys/{reserved_tag_key_id}", tag = "tags",
    params(("reserved_tag_key_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.delete_reserved_tag_key(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
