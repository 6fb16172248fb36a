//! Run tasks during a run (HCP Terraform's `task-stages` and `task-results`): a run's stages
//! (`/runs/:id/task-stages`, `/task-stages/:id`, with `include=task_results`), a result
//! (`/task-results/:id`), the services' callback (`PATCH /task-results/:id/callback`, with
//! the access token of the request) and the override action. The rules are the domain's
//! `runs::task_stages`.

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use terrace_domain::runs::task_stages::TaskCallback;
use terrace_storage::model::{TaskResult, TaskStage, TaskStageStatus};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::{
    time, Document, JsonApi, JsonBody, ListDocument, Params, Relationship, Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(override_stage))
        .routes(routes!(show_result))
        .routes(routes!(callback))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TaskStagePermissions {
    can_override_policy: bool,
    can_override_tasks: bool,
    can_override: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TaskStageActions {
    is_overridable: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TaskStageAttributes {
    /// `pre_plan`, `post_plan`, `pre_apply` or `post_apply`.
    stage: String,
    /// `pending`, `running`, `passed`, `failed`, `canceled`, `errored`, `unreachable`.
    status: String,
    #[schema(value_type = Object)]
    status_timestamps: Map<String, Value>,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    updated_at: DateTime<Utc>,
    permissions: TaskStagePermissions,
    actions: TaskStageActions,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TaskResultAttributes {
    /// `pending`, `running`, `passed`, `failed`, `errored`, `unreachable`.
    status: String,
    message: String,
    url: String,
    #[schema(value_type = Object)]
    status_timestamps: Map<String, Value>,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    updated_at: DateTime<Utc>,
    task_id: String,
    task_name: String,
    task_url: String,
    workspace_task_id: String,
    /// `advisory` or `mandatory`.
    workspace_task_enforcement_level: String,
    agent_pool_id: Option<String>,
    #[schema(value_type = Vec<Object>)]
    outcomes: Vec<Value>,
}

pub fn stage_resource(
    stage: &TaskStage,
    results: &[TaskResult],
    urls: &Urls,
) -> Resource<TaskStageAttributes> {
    // Run tasks never await an override (policy evaluations would).
    let overridable = stage.status == TaskStageStatus::AwaitingOverride;
    Resource::new(
        "task-stages",
        &stage.id,
        TaskStageAttributes {
            stage: stage.stage.to_string(),
            status: stage.status.to_string(),
            status_timestamps: super::runs::timestamps(&stage.status_timestamps.0),
            created_at: stage.created_at,
            updated_at: stage.updated_at,
            permissions: TaskStagePermissions {
                can_override_policy: false,
                can_override_tasks: false,
                can_override: false,
            },
            actions: TaskStageActions {
                is_overridable: overridable,
            },
        },
    )
    .relationship("run", Relationship::one("runs", &stage.run_id))
    .relationship(
        "task-results",
        Relationship::many("task-results", results.iter().map(|r| r.id.clone())),
    )
    .relationship(
        "policy-evaluations",
        Relationship::many("policy-evaluations", Vec::<String>::new()),
    )
    .link("self", urls.api(&format!("/task-stages/{}", stage.id)))
}

pub fn result_resource(result: &TaskResult, urls: &Urls) -> Resource<TaskResultAttributes> {
    Resource::new(
        "task-results",
        &result.id,
        TaskResultAttributes {
            status: result.status.to_string(),
            message: result.message.clone(),
            url: result.url.clone(),
            status_timestamps: super::runs::timestamps(&result.status_timestamps.0),
            created_at: result.created_at,
            updated_at: result.updated_at,
            task_id: result.task_id.clone(),
            task_name: result.task_name.clone(),
            task_url: result.task_url.clone(),
            workspace_task_id: result.workspace_task_id.clone(),
            workspace_task_enforcement_level: result.enforcement_level.to_string(),
            agent_pool_id: None,
            outcomes: result.outcomes.0.clone(),
        },
    )
    .relationship(
        "task_stage",
        Relationship::one("task-stages", &result.task_stage_id),
    )
    .link("self", urls.api(&format!("/task-results/{}", result.id)))
}

/// The included results of stages (`include=task_results`); policy evaluations are none.
pub fn included(
    stages: &[(TaskStage, Vec<TaskResult>)],
    params: &Params,
    urls: &Urls,
) -> Vec<Value> {
    let includes = params.includes();
    if !includes.has("task_results") {
        return Vec::new();
    }
    stages
        .iter()
        .flat_map(|(_, results)| results.iter())
        .map(|r| result_resource(r, urls).into_value())
        .collect()
}

/// A run's task stages, in run order (empty for a run without run tasks).
#[utoipa::path(get, path = "/runs/{run_id}/task-stages", tag = "task-stages",
    params(("run_id" = String, Path), ("include" = Option<String>, Query, description = "task_results, policy_evaluations")),
    responses((status = 200, body = ListDocument<TaskStageAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<ListDocument<TaskStageAttributes>>> {
    let stages = state.services.run_task_stages(&caller, &id).await?;
    let data = stages
        .iter()
        .map(|(s, r)| stage_resource(s, r, &state.urls))
        .collect();
    let included = included(&stages, &params, &state.urls);
    Ok(JsonApi::ok(ListDocument::all(data).with_included(included)))
}

/// A task stage (`include=task_results,policy_evaluations`).
#[utoipa::path(get, path = "/task-stages/{task_stage_id}", tag = "task-stages",
    params(("task_stage_id" = String, Path), ("include" = Option<String>, Query, description = "task_results, policy_evaluations")),
    responses((status = 200, body = Document<TaskStageAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<Document<TaskStageAttributes>>> {
    let found = state.services.task_stage(&caller, &id).await?;
    let resource = stage_resource(&found.0, &found.1, &state.urls);
    let included = included(std::slice::from_ref(&found), &params, &state.urls);
    Ok(JsonApi::ok(Document::new(resource).with_included(included)))
}

/// Overrides a stage awaiting an override; run tasks never leave a stage so, so this
/// answers 409 for every stage they make.
#[utoipa::path(post, path = "/task-stages/{task_stage_id}/actions/override", tag = "task-stages",
    params(("task_stage_id" = String, Path)),
    responses((status = 200, body = Document<TaskStageAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument)))]
async fn override_stage(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<TaskStageAttributes>>> {
    state.services.override_task_stage(&caller, &id).await?;
    let (stage, results) = state.services.task_stage(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(stage_resource(
        &stage,
        &results,
        &state.urls,
    ))))
}

/// A task result.
#[utoipa::path(get, path = "/task-results/{task_result_id}", tag = "task-stages",
    params(("task_result_id" = String, Path)),
    responses((status = 200, body = Document<TaskResultAttributes>), (status = 404, body = ErrorDocument)))]
async fn show_result(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<TaskResultAttributes>>> {
    let result = state.services.task_result(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(result_resource(
        &result,
        &state.urls,
    ))))
}

/// A task service's answer on its result, authenticated with the access token of the
/// request it got (that token answers that result only): `status` `running` (any number of
/// times), then `passed` or `failed`, with a `message`, a `url` and `outcomes`.
#[utoipa::path(patch, path = "/task-results/{task_result_id}/callback", tag = "task-stages",
    params(("task_result_id" = String, Path)),
    request_body(content = Object, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<TaskResultAttributes>), (status = 401, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn callback(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<JsonApi<Document<TaskResultAttributes>>> {
    let data = body
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| ApiError::invalid("/data", "a task-results resource is required"))?;
    if let Some(kind) = data.get("type").and_then(Value::as_str) {
        if kind != "task-results" {
            return Err(ApiError::invalid(
                "/data/type",
                format!("the callback's type is \"task-results\", not {kind:?}"),
            ));
        }
    }
    let attributes = data.get("attributes").cloned().unwrap_or(Value::Null);
    let text = |name: &str| -> ApiResult<Option<String>> {
        match attributes.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::invalid(
                &format!("/data/attributes/{name}"),
                format!("{name} must be a string"),
            )),
        }
    };
    let status = text("status")?.ok_or_else(|| {
        ApiError::invalid(
            "/data/attributes/status",
            "status is required: running, passed or failed",
        )
    })?;
    // Outcomes come as a relationship of resources with attributes (go-tfe's shape).
    let outcomes = match data.pointer("/relationships/outcomes/data") {
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|o| {
                    let mut outcome = o.get("attributes").cloned().unwrap_or(Value::Null);
                    if !outcome.is_object() {
                        outcome = Value::Object(Map::new());
                    }
                    outcome
                })
                .collect(),
        ),
        _ => None,
    };
    let update = TaskCallback {
        status,
        message: text("message")?,
        url: text("url")?,
        outcomes,
    };
    let result = state
        .services
        .task_result_callback(&caller, &id, update)
        .await?;
    Ok(JsonApi::ok(Document::new(result_resource(
        &result,
        &state.urls,
    ))))
}
