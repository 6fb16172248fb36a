//! State versions and their outputs: create (inline or for upload), list, show, current,
//! download, rollback; `current-state-version-outputs` and `state-version-outputs/:id`; the
//! backing data actions (soft-delete, restore, permanently delete).

use std::collections::BTreeMap;

use axum::body::Body as HttpBody;
use axum::extract::{OriginalUri, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use terrace_domain::retention::BackingDataAction;
use terrace_domain::state::outputs::OutputView;
use terrace_domain::state::{NewStateVersion, StateVersionView};
use terrace_domain::workspaces::WorkspaceRef;
use terrace_domain::Caller;
use terrace_storage::model::{ResourceSummary, StateVersionStatus};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{
    include_readable, time, Body, Document, JsonApi, JsonBody, ListDocument, Params, Relationship,
    RelationshipOne, Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    // Creating a version may carry the whole state inline.
    let inline = OpenApiRouter::new()
        .routes(routes!(list_for_workspace, create, rollback))
        .layer(axum::Extension(crate::jsonapi::BodyLimit(
            crate::app::INLINE_STATE_BODY_LIMIT,
        )));
    OpenApiRouter::new()
        .merge(inline)
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(download))
        .routes(routes!(download_json))
        .routes(routes!(list_outputs))
        .routes(routes!(current))
        .routes(routes!(current_outputs))
        .routes(routes!(show_output))
        .routes(routes!(soft_delete_backing_data))
        .routes(routes!(restore_backing_data))
        .routes(routes!(permanently_delete_backing_data))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct StateVersionAttributes {
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    serial: i64,
    lineage: Option<String>,
    md5: String,
    size: i64,
    status: String,
    intermediate: bool,
    state_version: u32,
    terraform_version: Option<String>,
    resources_processed: bool,
    hosted_state_download_url: Option<String>,
    hosted_json_state_download_url: Option<String>,
    /// Only while the version is pending: where to PUT the raw state (no credentials needed).
    hosted_state_upload_url: Option<String>,
    /// Only while pending: where to PUT the `terraform show -json` state.
    hosted_json_state_upload_url: Option<String>,
    sanitized_state_download_url: Option<String>,
    #[schema(value_type = Object)]
    modules: BTreeMap<String, BTreeMap<String, u64>>,
    #[schema(value_type = Object)]
    providers: BTreeMap<String, BTreeMap<String, u64>>,
    resources: Vec<ResourceAttributes>,
    vcs_commit_sha: Option<String>,
    vcs_commit_url: Option<String>,
    billable_rum_count: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceAttributes {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    count: u64,
    module: String,
    provider: String,
}

/// `terraform_data` → `terraform-data`, data sources prefixed with `data.`, as HCP counts them.
fn resource_key(resource: &ResourceSummary) -> String {
    let kind = resource.kind.replace('_', "-");
    if resource.mode == "data" {
        format!("data.{kind}")
    } else {
        kind
    }
}

/// The state versions of these IDs, rendered for an `include` (a workspace's
/// `current_state_version`).
pub(crate) async fn included_state_versions(
    ids: &[&str],
    caller: &Caller,
    state: &AppState,
) -> ApiResult<Vec<Value>> {
    include_readable(ids, |id| async move {
        let view = state.services.state_version(caller, id).await?;
        Ok(resource(&view, &state.urls).into_value())
    })
    .await
}

pub fn resource(view: &StateVersionView, urls: &Urls) -> Resource<StateVersionAttributes> {
    let sv = &view.state_version;
    let finalized = sv.status == StateVersionStatus::Finalized;
    let mut modules: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut providers: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for r in &view.resources {
        *modules
            .entry(r.module.clone())
            .or_default()
            .entry(resource_key(r))
            .or_default() += r.count;
        *providers
            .entry(r.provider.clone())
            .or_default()
            .entry(resource_key(r))
            .or_default() += r.count;
    }
    let upload = view.upload.as_ref();
    Resource::new(
        "state-versions",
        &sv.id,
        StateVersionAttributes {
            created_at: sv.created_at,
            serial: sv.serial,
            lineage: sv.lineage.clone(),
            md5: sv.md5.clone(),
            size: sv.size,
            status: sv.status.to_string(),
            intermediate: false,
            state_version: 4,
            terraform_version: sv.terraform_version.clone(),
            resources_processed: finalized,
            hosted_state_download_url: finalized
                .then(|| urls.api(&format!("/state-versions/{}/download", sv.id))),
            hosted_json_state_download_url: sv
                .json_state_uploaded
                .then(|| urls.api(&format!("/state-versions/{}/json-download", sv.id))),
            hosted_state_upload_url: upload.map(|u| urls.state_upload(&u.state)),
            hosted_json_state_upload_url: upload
                .filter(|_| !sv.json_state_uploaded)
                .map(|u| urls.json_state_upload(&u.json_state)),
            sanitized_state_download_url: None,
            modules,
            providers,
            resources: view
                .resources
                .iter()
                .map(|r| ResourceAttributes {
                    name: r.name.clone(),
                    kind: r.kind.clone(),
                    count: r.count,
                    module: r.module.clone(),
                    provider: r.provider.clone(),
                })
                .collect(),
            vcs_commit_sha: None,
            vcs_commit_url: None,
            billable_rum_count: None,
        },
    )
    .relationship(
        "workspace",
        Relationship::one("workspaces", &sv.workspace_id),
    )
    .relationship("run", Relationship::optional("runs", sv.run_id.as_deref()))
    .relationship(
        "created-by",
        Relationship::optional("users", sv.created_by.as_deref()),
    )
    .relationship(
        "outputs",
        Relationship::many(
            "state-version-outputs",
            view.outputs.iter().map(|o| o.output.id.clone()),
        )
        .with_related(urls.api(&format!("/state-versions/{}/outputs", sv.id))),
    )
    .link("self", urls.api(&format!("/state-versions/{}", sv.id)))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct OutputAttributes {
    name: String,
    sensitive: bool,
    #[serde(rename = "type")]
    kind: &'static str,
    /// `null` for sensitive outputs, except when read one by one by ID. Any JSON value.
    #[schema(value_type = Option<Value>)]
    value: Option<Value>,
    /// The output's Terraform type, as JSON (`"string"`, `["list","string"]`, ...).
    #[schema(value_type = Value)]
    detailed_type: Value,
}

fn output_resource(view: &OutputView, urls: &Urls) -> Resource<OutputAttributes> {
    Resource::new(
        "state-version-outputs",
        &view.output.id,
        OutputAttributes {
            name: view.output.name.clone(),
            sensitive: view.output.sensitive,
            kind: view.coarse_type(),
            value: view.value.clone(),
            detailed_type: view.detailed_type.clone(),
        },
    )
    .link(
        "self",
        urls.api(&format!("/state-version-outputs/{}", view.output.id)),
    )
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct WorkspaceOutputAttributes {
    name: String,
    sensitive: bool,
    output_type: &'static str,
    /// `null` for sensitive outputs.
    #[schema(value_type = Option<Value>)]
    value: Option<Value>,
}

/// An output of a workspace's current state as `include=outputs` on a workspace shows it.
pub fn workspace_output_resource(view: &OutputView) -> Resource<WorkspaceOutputAttributes> {
    Resource::new(
        "workspace-outputs",
        &view.output.id,
        WorkspaceOutputAttributes {
            name: view.output.name.clone(),
            sensitive: view.output.sensitive,
            output_type: view.coarse_type(),
            value: view.value.clone(),
        },
    )
}

/// The document for one state version, with its outputs included when asked.
fn document(
    view: &StateVersionView,
    params: &Params,
    urls: &Urls,
) -> Document<StateVersionAttributes> {
    let included = if params.includes().has("outputs") {
        view.outputs
            .iter()
            .map(|o| output_resource(o, urls).into_value())
            .collect()
    } else {
        Vec::new()
    };
    Document::new(resource(view, urls)).with_included(included)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct StateVersionInput {
    serial: Option<i64>,
    md5: Option<String>,
    lineage: Option<String>,
    force: Option<bool>,
    /// Base64 of the raw state (the inline form; without it the version waits for an upload).
    state: Option<String>,
    /// Base64 of `terraform show -json`.
    json_state: Option<String>,
    /// Base64 of the outputs map.
    json_state_outputs: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct StateVersionRelationships {
    run: Option<RelationshipOne>,
    rollback_state_version: Option<RelationshipOne>,
}

type StateVersionBody = Body<StateVersionInput, StateVersionRelationships>;

/// Creates a state version. The workspace must be locked by the caller. With `state` it is
/// finalized at once; without, the response carries upload URLs and the version becomes
/// current once the uploaded state matches `md5`.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/state-versions", tag = "state-versions",
    params(("workspace_id" = String, Path)),
    request_body(content = Body<StateVersionInput, StateVersionRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<StateVersionAttributes>), (status = 404, body = ErrorDocument),
        (status = 409, description = "Not locked by the caller, or conflicting serial/lineage", body = ErrorDocument),
        (status = 412, description = "Serial lower than the current one", body = ErrorDocument),
        (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StateVersionBody>,
) -> ApiResult<JsonApi<Document<StateVersionAttributes>>> {
    let (input, relationships) = body.into_parts("state-versions")?;
    let new = NewStateVersion {
        serial: input
            .serial
            .ok_or_else(|| ApiError::invalid("/data/attributes/serial", "serial is required"))?,
        md5: input
            .md5
            .ok_or_else(|| ApiError::invalid("/data/attributes/md5", "md5 is required"))?,
        lineage: input.lineage.filter(|l| !l.is_empty()),
        force: input.force.unwrap_or(false),
        state: input.state,
        json_state: input.json_state,
        json_state_outputs: input.json_state_outputs,
        run_id: relationships.run.and_then(|r| r.data).and_then(|d| d.id),
    };
    let view = state
        .services
        .create_state_version(&caller, &id, new)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &view,
        &state.urls,
    ))))
}

/// Makes an earlier version current again, as a new version with the next serial. The
/// workspace must be locked by the caller.
#[utoipa::path(patch, path = "/workspaces/{workspace_id}/state-versions", tag = "state-versions",
    params(("workspace_id" = String, Path)),
    request_body(content = Body<StateVersionInput, StateVersionRelationships>, content_type = "application/vnd.api+json",
        description = "relationships.rollback-state-version names the version to restore"),
    responses((status = 201, body = Document<StateVersionAttributes>), (status = 404, body = ErrorDocument),
        (status = 409, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn rollback(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StateVersionBody>,
) -> ApiResult<JsonApi<Document<StateVersionAttributes>>> {
    let (_, relationships) = body.into_parts("state-versions")?;
    let target = relationships
        .rollback_state_version
        .and_then(|r| r.data)
        .and_then(|d| d.id)
        .ok_or_else(|| {
            ApiError::invalid(
                "/data/relationships/rollback-state-version",
                "name the state version to roll back to",
            )
        })?;
    let view = state
        .services
        .rollback_state_version(&caller, &id, &target)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &view,
        &state.urls,
    ))))
}

async fn list_page(
    state: &AppState,
    caller: &terrace_domain::Caller,
    workspace: WorkspaceRef,
    params: &Params,
    uri: &axum::http::Uri,
) -> ApiResult<JsonApi<ListDocument<StateVersionAttributes>>> {
    let page = params.page()?;
    let found = state
        .services
        .list_state_versions(caller, &workspace, page)
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
        &state.urls.request(uri),
    )))
}

/// Finalized state versions of a workspace, newest first.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/state-versions", tag = "state-versions",
    params(("workspace_id" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<StateVersionAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_for_workspace(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<StateVersionAttributes>>> {
    list_page(&state, &caller, WorkspaceRef::Id(id), &params, &uri).await
}

/// Finalized state versions of the workspace named by the filters, newest first.
#[utoipa::path(get, path = "/state-versions", tag = "state-versions",
    params(("filter[organization][name]" = String, Query), ("filter[workspace][name]" = String, Query),
        PageParams),
    responses((status = 200, body = ListDocument<StateVersionAttributes>), (status = 400, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<StateVersionAttributes>>> {
    let (Some(organization), Some(name)) = (
        params.get("filter[organization][name]"),
        params.get("filter[workspace][name]"),
    ) else {
        return Err(ApiError::bad_request(
            "filter[organization][name] and filter[workspace][name] are required",
        ));
    };
    let workspace = WorkspaceRef::Name {
        organization: organization.into(),
        name: name.into(),
    };
    list_page(&state, &caller, workspace, &params, &uri).await
}

#[utoipa::path(get, path = "/state-versions/{state_version_id}", tag = "state-versions",
    params(("state_version_id" = String, Path), ("include" = Option<String>, Query, description = "outputs")),
    responses((status = 200, body = Document<StateVersionAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<Document<StateVersionAttributes>>> {
    let view = state.services.state_version(&caller, &id).await?;
    Ok(JsonApi::ok(document(&view, &params, &state.urls)))
}

/// The workspace's current state version (404 when it has none).
#[utoipa::path(get, path = "/workspaces/{workspace_id}/current-state-version", tag = "state-versions",
    params(("workspace_id" = String, Path), ("include" = Option<String>, Query, description = "outputs")),
    responses((status = 200, body = Document<StateVersionAttributes>), (status = 404, body = ErrorDocument)))]
async fn current(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<Document<StateVersionAttributes>>> {
    let view = state
        .services
        .current_state_version(&caller, &WorkspaceRef::Id(id))
        .await?;
    Ok(JsonApi::ok(document(&view, &params, &state.urls)))
}

/// Streams a blob as the response body. Past the headers an error can only abort the
/// transfer, so the client sees an incomplete body, never corrupt data passed off as whole.
pub(crate) fn stream_response(
    stream: terrace_storage::blob::BlobStream,
    content_type: &'static str,
) -> Response {
    let body = HttpBody::from_stream(stream.map_err(|e| {
        tracing::error!(error = %e, "download failed mid-stream");
        std::io::Error::other(e.to_string())
    }));
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The raw state, exactly as uploaded.
#[utoipa::path(get, path = "/state-versions/{state_version_id}/download", tag = "state-versions",
    params(("state_version_id" = String, Path)),
    responses((status = 200, description = "The raw state", content_type = "application/json"), (status = 404, body = ErrorDocument)))]
async fn download(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(stream_response(
        state.services.download_state(&caller, &id).await?,
        "application/json",
    ))
}

/// The `terraform show -json` form of the state, when the client uploaded one.
#[utoipa::path(get, path = "/state-versions/{state_version_id}/json-download", tag = "state-versions",
    params(("state_version_id" = String, Path)),
    responses((status = 200, description = "The JSON state", content_type = "application/json"), (status = 404, body = ErrorDocument)))]
async fn download_json(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(stream_response(
        state.services.download_json_state(&caller, &id).await?,
        "application/json",
    ))
}

type OutputList = ListDocument<OutputAttributes>;

/// Outputs of a state version, sensitive values included (as HCP Terraform shows them to
/// whoever may read state outputs); paginated when a page is named.
#[utoipa::path(get, path = "/state-versions/{state_version_id}/outputs", tag = "state-versions",
    params(("state_version_id" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<OutputAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_outputs(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<OutputList>> {
    let page = params.explicit_page()?;
    let outputs = state.services.state_version_outputs(&caller, &id).await?;
    Ok(JsonApi::ok(ListDocument::page_of(
        outputs
            .iter()
            .map(|o| output_resource(o, &state.urls))
            .collect(),
        page,
        &state.urls.request(&uri),
    )))
}

/// All outputs of the current state, not paginated; sensitive values are `null` here.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/current-state-version-outputs", tag = "state-versions",
    params(("workspace_id" = String, Path)),
    responses((status = 200, body = ListDocument<OutputAttributes>), (status = 404, body = ErrorDocument)))]
async fn current_outputs(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<OutputList>> {
    let outputs = state
        .services
        .current_state_outputs(&caller, &WorkspaceRef::Id(id))
        .await?;
    Ok(JsonApi::ok(ListDocument::all(
        outputs
            .iter()
            .map(|o| output_resource(o, &state.urls))
            .collect(),
    )))
}

/// One output with its value, sensitive or not.
#[utoipa::path(get, path = "/state-version-outputs/{output_id}", tag = "state-versions",
    params(("output_id" = String, Path)),
    responses((status = 200, body = Document<OutputAttributes>), (status = 404, body = ErrorDocument)))]
async fn show_output(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<OutputAttributes>>> {
    let output = state.services.state_version_output(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(output_resource(
        &output,
        &state.urls,
    ))))
}

/// Soft-deletes the version's state (and JSON state): downloads answer 404 until it is
/// restored. Not the workspace's current state.
#[utoipa::path(post, path = "/state-versions/{state_version_id}/actions/soft_delete_backing_data", tag = "state-versions",
    params(("state_version_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument)))]
async fn soft_delete_backing_data(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    backing_data(&state, &caller, &id, BackingDataAction::SoftDelete).await
}

/// Restores a soft-deleted state.
#[utoipa::path(post, path = "/state-versions/{state_version_id}/actions/restore_backing_data", tag = "state-versions",
    params(("state_version_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument)))]
async fn restore_backing_data(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    backing_data(&state, &caller, &id, BackingDataAction::Restore).await
}

/// Deletes a soft-deleted state for good (from the blob store too).
#[utoipa::path(post, path = "/state-versions/{state_version_id}/actions/permanently_delete_backing_data", tag = "state-versions",
    params(("state_version_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument)))]
async fn permanently_delete_backing_data(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    backing_data(&state, &caller, &id, BackingDataAction::PermanentlyDelete).await
}

async fn backing_data(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: BackingDataAction,
) -> ApiResult<axum::http::StatusCode> {
    state
        .services
        .state_backing_data(caller, id, action)
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
