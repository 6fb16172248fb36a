//! Configuration versions: create (with its upload URL), show, list, download, archive, and
//! the backing data actions (soft-delete, restore, permanently delete).

use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_domain::configuration::{ConfigurationView, NewConfiguration};
use terrace_domain::retention::BackingDataAction;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state_versions::stream_response;
use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{
    time, Body, Document, JsonApi, JsonBody, ListDocument, Params, Relationship, Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show))
        .routes(routes!(download))
        .routes(routes!(archive))
        .routes(routes!(soft_delete_backing_data))
        .routes(routes!(restore_backing_data))
        .routes(routes!(permanently_delete_backing_data))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ConfigurationAttributes {
    auto_queue_runs: bool,
    error: Option<String>,
    error_message: Option<String>,
    source: String,
    speculative: bool,
    provisional: bool,
    status: String,
    #[schema(value_type = Object)]
    status_timestamps: serde_json::Map<String, serde_json::Value>,
    /// Where to PUT the tarball (no credentials needed), while the version is pending.
    upload_url: Option<String>,
    size: i64,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
}

pub fn resource(view: &ConfigurationView, urls: &Urls) -> Resource<ConfigurationAttributes> {
    let cv = &view.configuration;
    let mut timestamps = serde_json::Map::new();
    for (key, at) in [
        ("queued-at", Some(cv.created_at)),
        ("finished-at", cv.uploaded_at),
        ("archived-at", cv.archived_at),
    ] {
        if let Some(at) = at {
            timestamps.insert(key.into(), time::format(&at).into());
        }
    }
    Resource::new(
        "configuration-versions",
        &cv.id,
        ConfigurationAttributes {
            auto_queue_runs: cv.auto_queue_runs,
            error: cv.error.clone(),
            error_message: cv.error_message.clone(),
            source: cv.source.clone(),
            speculative: cv.speculative,
            provisional: cv.provisional,
            status: cv.status.to_string(),
            status_timestamps: timestamps,
            upload_url: view
                .upload
                .as_ref()
                .map(|token| urls.configuration_upload(token)),
            size: cv.size,
            created_at: cv.created_at,
        },
    )
    .relationship(
        "ingress-attributes",
        Relationship::null().with_related(urls.api(&format!(
            "/configuration-versions/{}/ingress-attributes",
            cv.id
        ))),
    )
    .link(
        "self",
        urls.api(&format!("/configuration-versions/{}", cv.id)),
    )
    .link(
        "download",
        urls.api(&format!("/configuration-versions/{}/download", cv.id)),
    )
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ConfigurationInput {
    auto_queue_runs: Option<bool>,
    speculative: Option<bool>,
    provisional: Option<bool>,
}

/// Whether the request comes from the terraform CLI's cloud block (it says so in a header).
pub fn from_cli(headers: &HeaderMap) -> bool {
    headers
        .get("x-terraform-integration")
        .and_then(|v| v.to_str().ok())
        == Some("cloud")
}

/// Creates a configuration version; the response carries its upload URL.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/configuration-versions", tag = "configuration-versions",
    params(("workspace_id" = String, Path)),
    request_body(content = Body<ConfigurationInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<ConfigurationAttributes>), (status = 404, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Body<ConfigurationInput>>,
) -> ApiResult<JsonApi<Document<ConfigurationAttributes>>> {
    let (input, _) = body.into_parts("configuration-versions")?;
    let defaults = NewConfiguration::default();
    let new = NewConfiguration {
        auto_queue_runs: input.auto_queue_runs.unwrap_or(defaults.auto_queue_runs),
        speculative: input.speculative.unwrap_or(defaults.speculative),
        provisional: input.provisional.unwrap_or(defaults.provisional),
        source: if from_cli(&headers) {
            "terraform+cloud".into()
        } else {
            defaults.source
        },
    };
    let view = state
        .services
        .create_configuration_version(&caller, &id, new)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &view,
        &state.urls,
    ))))
}

/// A workspace's configuration versions, newest first.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/configuration-versions", tag = "configuration-versions",
    params(("workspace_id" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<ConfigurationAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<ConfigurationAttributes>>> {
    let page = params.page()?;
    let found = state
        .services
        .list_configuration_versions(&caller, &id, page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|v| resource(v, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(&uri),
    )))
}

#[utoipa::path(get, path = "/configuration-versions/{configuration_version_id}", tag = "configuration-versions",
    params(("configuration_version_id" = String, Path)),
    responses((status = 200, body = Document<ConfigurationAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<ConfigurationAttributes>>> {
    let view = state.services.configuration_version(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// The uploaded tarball.
#[utoipa::path(get, path = "/configuration-versions/{configuration_version_id}/download", tag = "configuration-versions",
    params(("configuration_version_id" = String, Path)),
    responses((status = 200, description = "The gzip'd tarball", content_type = "application/octet-stream"), (status = 404, body = ErrorDocument)))]
async fn download(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let stream = state.services.download_configuration(&caller, &id).await?;
    Ok(stream_response(stream, "application/octet-stream"))
}

/// Deletes the tarball of an uploaded version, keeping its record.
#[utoipa::path(post, path = "/configuration-versions/{configuration_version_id}/actions/archive", tag = "configuration-versions",
    params(("configuration_version_id" = String, Path)),
    responses((status = 202), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument)))]
async fn archive(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .archive_configuration_version(&caller, &id)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Soft-deletes the version's tarball: downloads answer 404 until it is restored. Not the
/// workspace's current configuration, nor one a run that has not finished uses.
#[utoipa::path(post, path = "/configuration-versions/{configuration_version_id}/actions/soft_delete_backing_data", tag = "configuration-versions",
    params(("configuration_version_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument)))]
async fn soft_delete_backing_data(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    backing_data(&state, &caller, &id, BackingDataAction::SoftDelete).await
}

/// Restores a soft-deleted tarball.
#[utoipa::path(post, path = "/configuration-versions/{configuration_version_id}/actions/restore_backing_data", tag = "configuration-versions",
    params(("configuration_version_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument)))]
async fn restore_backing_data(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    backing_data(&state, &caller, &id, BackingDataAction::Restore).await
}

/// Deletes a soft-deleted tarball for good (from the blob store too).
#[utoipa::path(post, path = "/configuration-versions/{configuration_version_id}/actions/permanently_delete_backing_data", tag = "configuration-versions",
    params(("configuration_version_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument)))]
async fn permanently_delete_backing_data(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    backing_data(&state, &caller, &id, BackingDataAction::PermanentlyDelete).await
}

async fn backing_data(
    state: &AppState,
    caller: &terrace_domain::Caller,
    id: &str,
    action: BackingDataAction,
) -> ApiResult<StatusCode> {
    state
        .services
        .configuration_backing_data(caller, id, action)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
