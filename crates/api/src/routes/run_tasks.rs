//! Run tasks, their configuration (HCP Terraform's `tasks` and `workspace-tasks`):
//! `/organizations/:org/tasks` (list, create), `/tasks/:id` (show with
//! `include=workspace_tasks`, update, delete), `/workspaces/:id/tasks` (list, attach) and
//! `/workspaces/:id/tasks/:id` (show, update, detach). The HMAC key is write-only: responses
//! carry `hmac-key: null`. The rules are the domain's `run_tasks`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use terrace_domain::run_tasks::{RunTaskInput, WorkspaceRunTaskInput};
use terrace_storage::model::{RunTask, WorkspaceRunTask};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{
    Body, Document, JsonApi, JsonBody, ListDocument, Params, Relationship, RelationshipOne,
    Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
        .routes(routes!(list_attached, attach))
        .routes(routes!(show_attached, update_attached, detach))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RunTaskAttributes {
    name: String,
    url: String,
    description: String,
    category: String,
    /// Write-only: always null.
    #[schema(value_type = Option<String>)]
    hmac_key: Option<()>,
    enabled: bool,
    /// Global run tasks (HCP's `global-run-tasks` entitlement) are not offered: always null.
    #[schema(value_type = Option<Object>)]
    global_configuration: Option<()>,
}

/// A task; `attachments` (when known) fill the `workspace-tasks` relationship.
pub fn resource(
    task: &RunTask,
    organization: &str,
    attachments: Option<&[WorkspaceRunTask]>,
    urls: &Urls,
) -> Resource<RunTaskAttributes> {
    let mut resource = Resource::new(
        "tasks",
        &task.id,
        RunTaskAttributes {
            name: task.name.clone(),
            url: task.url.clone(),
            description: task.description.clone(),
            category: task.category.clone(),
            hmac_key: None,
            enabled: task.enabled,
            global_configuration: None,
        },
    )
    .relationship(
        "organization",
        Relationship::one("organizations", organization),
    )
    .relationship("agent-pool", Relationship::null())
    .link("self", urls.api(&format!("/tasks/{}", task.id)));
    if let Some(attachments) = attachments {
        resource = resource.relationship(
            "workspace-tasks",
            Relationship::many("workspace-tasks", attachments.iter().map(|a| a.id.clone())),
        );
    }
    resource
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct WorkspaceRunTaskAttributes {
    enforcement_level: String,
    /// The first of `stages` (HCP keeps the deprecated single stage).
    stage: String,
    stages: Vec<String>,
}

pub fn attachment_resource(
    attachment: &WorkspaceRunTask,
    urls: &Urls,
) -> Resource<WorkspaceRunTaskAttributes> {
    let stages: Vec<String> = attachment
        .stages
        .0
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    Resource::new(
        "workspace-tasks",
        &attachment.id,
        WorkspaceRunTaskAttributes {
            enforcement_level: attachment.enforcement_level.as_str().to_string(),
            stage: stages.first().cloned().unwrap_or_default(),
            stages,
        },
    )
    .relationship("task", Relationship::one("tasks", &attachment.task_id))
    .relationship(
        "workspace",
        Relationship::one("workspaces", &attachment.workspace_id),
    )
    .link(
        "self",
        urls.api(&format!(
            "/workspaces/{}/tasks/{}",
            attachment.workspace_id, attachment.id
        )),
    )
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RunTaskBody {
    name: Option<String>,
    url: Option<String>,
    description: Option<String>,
    /// `task`, the only category.
    category: Option<String>,
    /// The key of `X-TFC-Task-Signature` (HMAC-SHA512); write-only, empty removes it.
    hmac_key: Option<String>,
    enabled: Option<bool>,
    /// Accepted and ignored: global run tasks are not offered (as HCP does for an
    /// organization without the entitlement).
    #[schema(value_type = Option<Object>)]
    global_configuration: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RunTaskRelationships {
    /// Private run tasks (through an agent pool) are not offered: only null.
    agent_pool: Option<RelationshipOne>,
}

fn task_input(body: Body<RunTaskBody, RunTaskRelationships>) -> Result<RunTaskInput, ApiError> {
    let (attributes, relationships) = body.into_parts("tasks")?;
    if let Some(pool) = relationships
        .agent_pool
        .and_then(|r| r.data)
        .and_then(|l| l.id)
    {
        return Err(ApiError::invalid(
            "/data/relationships/agent-pool/data/id",
            format!(
                "run tasks are sent from this server itself, not through an agent pool ({pool})"
            ),
        ));
    }
    let _ = attributes.global_configuration;
    Ok(RunTaskInput {
        name: attributes.name,
        url: attributes.url,
        description: attributes.description,
        category: attributes.category,
        hmac_key: attributes.hmac_key,
        enabled: attributes.enabled,
    })
}

/// Adds a run task to the organization ("Manage Run Tasks"). The URL must answer a test
/// request (`stage: "test"`, `access_token: "test-token"`) with 200 first.
#[utoipa::path(post, path = "/organizations/{organization}/tasks", tag = "run-tasks",
    params(("organization" = String, Path)),
    request_body(content = Body<RunTaskBody, RunTaskRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<RunTaskAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<Body<RunTaskBody, RunTaskRelationships>>,
) -> ApiResult<JsonApi<Document<RunTaskAttributes>>> {
    let input = task_input(body)?;
    let (task, org) = state.services.create_run_task(&caller, &org, input).await?;
    Ok(JsonApi::created(Document::new(resource(
        &task,
        &org.name,
        Some(&[]),
        &state.urls,
    ))))
}

/// The organization's run tasks, oldest first.
#[utoipa::path(get, path = "/organizations/{organization}/tasks", tag = "run-tasks",
    params(("organization" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<RunTaskAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<RunTaskAttributes>>> {
    let page = params.page()?;
    let includes = params.includes_of(&["workspace-tasks"])?;
    let (found, org) = state.services.list_run_tasks(&caller, &org, page).await?;
    let mut data = Vec::new();
    let mut included = Vec::new();
    for task in &found.items {
        if includes.has("workspace_tasks") {
            let attachments = state.services.run_task_attachments(task).await?;
            data.push(resource(task, &org.name, Some(&attachments), &state.urls));
            included.extend(
                attachments
                    .iter()
                    .map(|a| attachment_resource(a, &state.urls).into_value()),
            );
        } else {
            data.push(resource(task, &org.name, None, &state.urls));
        }
    }
    Ok(JsonApi::ok(
        ListDocument::paginate(data, page, found.total, &state.urls.request(&uri))
            .with_included(included),
    ))
}

/// A run task, with `include=workspace_tasks` its attachments to workspaces.
#[utoipa::path(get, path = "/tasks/{task_id}", tag = "run-tasks",
    params(("task_id" = String, Path), ("include" = Option<String>, Query, description = "workspace_tasks")),
    responses((status = 200, body = Document<RunTaskAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<Document<RunTaskAttributes>>> {
    let includes = params.includes_of(&["workspace-tasks"])?;
    let (task, org) = state.services.run_task(&caller, &id).await?;
    let attachments = state.services.run_task_attachments(&task).await?;
    let mut document = Document::new(resource(&task, &org.name, Some(&attachments), &state.urls));
    if includes.has("workspace_tasks") {
        document = document.with_included(
            attachments
                .iter()
                .map(|a| attachment_resource(a, &state.urls).into_value())
                .collect(),
        );
    }
    Ok(JsonApi::ok(document))
}

/// Changes a run task; a new URL must answer the test request with 200 first.
#[utoipa::path(patch, path = "/tasks/{task_id}", tag = "run-tasks",
    params(("task_id" = String, Path)),
    request_body(content = Body<RunTaskBody, RunTaskRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<RunTaskAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Body<RunTaskBody, RunTaskRelationships>>,
) -> ApiResult<JsonApi<Document<RunTaskAttributes>>> {
    let input = task_input(body)?;
    let (task, org) = state.services.update_run_task(&caller, &id, input).await?;
    let attachments = state.services.run_task_attachments(&task).await?;
    Ok(JsonApi::ok(Document::new(resource(
        &task,
        &org.name,
        Some(&attachments),
        &state.urls,
    ))))
}

/// Deletes a run task and its attachments to workspaces.
#[utoipa::path(delete, path = "/tasks/{task_id}", tag = "run-tasks",
    params(("task_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.delete_run_task(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct WorkspaceRunTaskBody {
    /// `advisory` or `mandatory`.
    enforcement_level: Option<String>,
    /// Deprecated: one stage (`stages` wins when both are given).
    stage: Option<String>,
    /// `pre_plan`, `post_plan`, `pre_apply`, `post_apply`; default `["post_plan"]`.
    stages: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct WorkspaceRunTaskRelationships {
    /// The run task (`{"type": "tasks", "id": ...}`), on creation.
    task: Option<RelationshipOne>,
}

fn attachment_input(
    body: Body<WorkspaceRunTaskBody, WorkspaceRunTaskRelationships>,
) -> Result<WorkspaceRunTaskInput, ApiError> {
    let (attributes, relationships) = body.into_parts("workspace-tasks")?;
    let linkage = relationships.task.and_then(|r| r.data);
    if let Some(kind) = linkage.as_ref().and_then(|l| l.kind.as_deref()) {
        if !kind.is_empty() && kind != "tasks" {
            return Err(ApiError::invalid(
                "/data/relationships/task/data/type",
                format!("a workspace run task's task is a run task (\"tasks\"), not {kind:?}"),
            ));
        }
    }
    Ok(WorkspaceRunTaskInput {
        task_id: linkage.and_then(|l| l.id),
        enforcement_level: attributes.enforcement_level,
        stage: attributes.stage,
        stages: attributes.stages,
    })
}

/// Attaches a run task of the workspace's organization ("Manage Workspace Run Tasks").
#[utoipa::path(post, path = "/workspaces/{workspace_id}/tasks", tag = "run-tasks",
    params(("workspace_id" = String, Path)),
    request_body(content = Body<WorkspaceRunTaskBody, WorkspaceRunTaskRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<WorkspaceRunTaskAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn attach(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Body<WorkspaceRunTaskBody, WorkspaceRunTaskRelationships>>,
) -> ApiResult<JsonApi<Document<WorkspaceRunTaskAttributes>>> {
    let input = attachment_input(body)?;
    let attachment = state
        .services
        .create_workspace_run_task(&caller, &id, input)
        .await?;
    Ok(JsonApi::created(Document::new(attachment_resource(
        &attachment,
        &state.urls,
    ))))
}

/// The run tasks attached to the workspace, oldest first.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/tasks", tag = "run-tasks",
    params(("workspace_id" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<WorkspaceRunTaskAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_attached(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<WorkspaceRunTaskAttributes>>> {
    let page = params.page()?;
    let found = state
        .services
        .list_workspace_run_tasks(&caller, &id, page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|a| attachment_resource(a, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(&uri),
    )))
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}/tasks/{workspace_task_id}", tag = "run-tasks",
    params(("workspace_id" = String, Path), ("workspace_task_id" = String, Path)),
    responses((status = 200, body = Document<WorkspaceRunTaskAttributes>), (status = 404, body = ErrorDocument)))]
async fn show_attached(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((workspace, id)): Path<(String, String)>,
) -> ApiResult<JsonApi<Document<WorkspaceRunTaskAttributes>>> {
    let attachment = state
        .services
        .workspace_run_task(&caller, &workspace, &id)
        .await?;
    Ok(JsonApi::ok(Document::new(attachment_resource(
        &attachment,
        &state.urls,
    ))))
}

/// Changes an attachment's enforcement level or stages.
#[utoipa::path(patch, path = "/workspaces/{workspace_id}/tasks/{workspace_task_id}", tag = "run-tasks",
    params(("workspace_id" = String, Path), ("workspace_task_id" = String, Path)),
    request_body(content = Body<WorkspaceRunTaskBody, WorkspaceRunTaskRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<WorkspaceRunTaskAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update_attached(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((workspace, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Body<WorkspaceRunTaskBody, WorkspaceRunTaskRelationships>>,
) -> ApiResult<JsonApi<Document<WorkspaceRunTaskAttributes>>> {
    let input = attachment_input(body)?;
    let attachment = state
        .services
        .update_workspace_run_task(&caller, &workspace, &id, input)
        .await?;
    Ok(JsonApi::ok(Document::new(attachment_resource(
        &attachment,
        &state.urls,
    ))))
}

/// Detaches the run task from the workspace.
#[utoipa::path(delete, path = "/workspaces/{workspace_id}/tasks/{workspace_task_id}", tag = "run-tasks",
    params(("workspace_id" = String, Path), ("workspace_task_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn detach(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((workspace, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_workspace_run_task(&caller, &workspace, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
