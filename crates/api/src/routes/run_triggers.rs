//! Run triggers (HCP Terraform's `run-triggers`): `/workspaces/:id/run-triggers` (create in
//! the target, list inbound or outbound) and `/run-triggers/:id` (show, delete). The rules are
//! the domain's `run_triggers`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_storage::model::RunTrigger;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{
    time, Body, Document, JsonApi, JsonBody, ListDocument, Params, Relationship, RelationshipOne,
    Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, delete))
}

const FILTER: &str = "filter[run-trigger][type]";

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RunTriggerAttributes {
    /// The target's name.
    workspace_name: String,
    /// The source's name.
    sourceable_name: String,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
}

pub fn resource(trigger: &RunTrigger, urls: &Urls) -> Resource<RunTriggerAttributes> {
    Resource::new(
        "run-triggers",
        &trigger.id,
        RunTriggerAttributes {
            workspace_name: trigger.workspace_name.clone(),
            sourceable_name: trigger.sourceable_name.clone(),
            created_at: trigger.created_at,
        },
    )
    .relationship(
        "workspace",
        Relationship::one("workspaces", &trigger.workspace_id),
    )
    .relationship(
        "sourceable",
        Relationship::one("workspaces", &trigger.sourceable_id),
    )
    .link("self", urls.api(&format!("/run-triggers/{}", trigger.id)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RunTriggerInput {}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RunTriggerRelationships {
    /// The source workspace (`{"type": "workspaces", "id": ...}`).
    sourceable: Option<RelationshipOne>,
}

/// Makes a workspace of the same organization a source of this one: each of its successful
/// applies queues a run here. Needs administering this workspace and reading the source's
/// runs; at most 20 sources.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/run-triggers", tag = "run-triggers",
    params(("workspace_id" = String, Path)),
    request_body(content = Body<RunTriggerInput, RunTriggerRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<RunTriggerAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Body<RunTriggerInput, RunTriggerRelationships>>,
) -> ApiResult<JsonApi<Document<RunTriggerAttributes>>> {
    let (_, relationships) = body.into_parts("run-triggers")?;
    let linkage = relationships.sourceable.and_then(|r| r.data);
    if let Some(kind) = linkage.as_ref().and_then(|l| l.kind.as_deref()) {
        if !kind.is_empty() && kind != "workspaces" {
            return Err(ApiError::invalid(
                "/data/relationships/sourceable/data/type",
                format!("a run trigger's source is a workspace (\"workspaces\"), not {kind:?}"),
            ));
        }
    }
    let sourceable = linkage.and_then(|l| l.id);
    let trigger = state
        .services
        .create_run_trigger(&caller, &id, sourceable.as_deref())
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &trigger,
        &state.urls,
    ))))
}

/// A workspace's run triggers: `filter[run-trigger][type]=inbound` (its sources) or
/// `outbound` (the workspaces it triggers), oldest first.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/run-triggers", tag = "run-triggers",
    params(("workspace_id" = String, Path), ("filter[run-trigger][type]" = String, Query, description = "inbound or outbound"), PageParams),
    responses((status = 200, body = ListDocument<RunTriggerAttributes>), (status = 404, body = ErrorDocument),
        (status = 422, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<RunTriggerAttributes>>> {
    let page = params.page()?;
    let found = state
        .services
        .list_run_triggers(&caller, &id, params.get(FILTER), page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|t| resource(t, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(&uri),
    )))
}

#[utoipa::path(get, path = "/run-triggers/{run_trigger_id}", tag = "run-triggers",
    params(("run_trigger_id" = String, Path)),
    responses((status = 200, body = Document<RunTriggerAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<RunTriggerAttributes>>> {
    let trigger = state.services.run_trigger(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(resource(&trigger, &state.urls))))
}

/// Deletes a run trigger (administrators of its target workspace).
#[utoipa::path(delete, path = "/run-triggers/{run_trigger_id}", tag = "run-triggers",
    params(("run_trigger_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.delete_run_trigger(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
