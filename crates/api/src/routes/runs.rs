//! Runs: create, show, list (per workspace and organization), the organization's queue and
//! capacity, run events, and the actions apply, discard, cancel, force-execute and force-cancel.

use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use terrace_auth::policy::RunPermissions;
use terrace_domain::runs::{NewRun, RunScope, RunVariable, RunView};
use terrace_domain::{Caller, DomainResult};
use terrace_storage::model::{RunEvent, RunStatus};
use terrace_storage::store::RunFilter;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::configuration_versions::from_cli;
use super::{phases, workspaces};
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
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(show))
        .routes(routes!(list_for_workspace))
        .routes(routes!(list_for_organization))
        .routes(routes!(queue))
        .routes(routes!(capacity))
        .routes(routes!(events))
        .routes(routes!(show_event))
        .routes(routes!(apply))
        .routes(routes!(discard))
        .routes(routes!(cancel))
        .routes(routes!(force_cancel))
        .routes(routes!(force_execute))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RunAttributes {
    actions: RunActions,
    allow_config_generation: bool,
    allow_empty_apply: bool,
    auto_apply: bool,
    #[serde(serialize_with = "time::serialize_option")]
    canceled_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    updated_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize_option")]
    force_cancel_available_at: Option<DateTime<Utc>>,
    has_changes: bool,
    is_destroy: bool,
    message: String,
    plan_only: bool,
    position_in_queue: i64,
    refresh: bool,
    refresh_only: bool,
    replace_addrs: Option<Vec<String>>,
    target_addrs: Option<Vec<String>>,
    save_plan: bool,
    source: String,
    status: String,
    #[schema(value_type = Object)]
    status_timestamps: serde_json::Map<String, Value>,
    terraform_version: String,
    trigger_reason: String,
    /// The run's variables; values only to callers who may read the workspace's variables.
    variables: Vec<RunVariableAttributes>,
    #[schema(value_type = Object)]
    permissions: RunPermissions,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RunActions {
    is_cancelable: bool,
    is_confirmable: bool,
    is_discardable: bool,
    is_force_cancelable: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunVariableAttributes {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

/// Timestamps as clients read them: RFC 3339 with `Z`.
pub fn timestamps(
    map: &std::collections::BTreeMap<String, DateTime<Utc>>,
) -> serde_json::Map<String, Value> {
    map.iter()
        .map(|(k, v)| (k.clone(), Value::from(time::format(v))))
        .collect()
}

pub fn resource(view: &RunView, urls: &Urls) -> Resource<RunAttributes> {
    let run = &view.run;
    let actions = view.actions();
    let id = &run.id;
    let related = |name: &str| urls.api(&format!("/runs/{id}/{name}"));
    Resource::new(
        "runs",
        id,
        RunAttributes {
            actions: RunActions {
                is_cancelable: actions.cancelable,
                is_confirmable: actions.confirmable,
                is_discardable: actions.discardable,
                is_force_cancelable: actions.force_cancelable,
            },
            allow_config_generation: false,
            allow_empty_apply: run.allow_empty_apply,
            auto_apply: run.auto_apply,
            canceled_at: run.canceled_at,
            created_at: run.created_at,
            updated_at: run.updated_at,
            force_cancel_available_at: run.force_cancel_available_at,
            has_changes: run.has_changes,
            is_destroy: run.is_destroy,
            message: run.message.clone(),
            plan_only: run.plan_only,
            position_in_queue: 0,
            refresh: run.refresh,
            refresh_only: run.refresh_only,
            replace_addrs: run.replace_addrs.0.clone(),
            target_addrs: run.target_addrs.0.clone(),
            save_plan: run.save_plan,
            source: run.source.clone(),
            status: run.status.to_string(),
            status_timestamps: timestamps(&run.status_timestamps.0),
            terraform_version: run.terraform_version.clone(),
            trigger_reason: run.trigger_reason.clone(),
            variables: view
                .variables
                .iter()
                .map(|v| RunVariableAttributes {
                    key: v.key.clone(),
                    value: view.variable_values_visible().then(|| v.value.clone()),
                })
                .collect(),
            permissions: view.permissions(),
        },
    )
    .relationship(
        "workspace",
        Relationship::one("workspaces", &run.workspace_id),
    )
    .relationship(
        "configuration-version",
        Relationship::one("configuration-versions", &run.configuration_version_id)
            .with_related(related("configuration-version")),
    )
    .relationship(
        "plan",
        Relationship::one("plans", &view.plan.id).with_related(related("plan")),
    )
    .relationship(
        "apply",
        Relationship::one("applies", &view.apply.id).with_related(related("apply")),
    )
    .relationship(
        "created-by",
        Relationship::optional("users", run.created_by.as_deref()),
    )
    .relationship(
        "confirmed-by",
        Relationship::optional("users", run.confirmed_by.as_deref()),
    )
    .relationship("cost-estimate", Relationship::null())
    .relationship(
        "policy-checks",
        Relationship::many("policy-checks", Vec::<String>::new())
            .with_related(related("policy-checks")),
    )
    .relationship(
        "task-stages",
        Relationship::many("task-stages", view.task_stage_ids.clone())
            .with_related(related("task-stages")),
    )
    .relationship("run-events", Relationship::related(related("run-events")))
    .relationship(
        "comments",
        Relationship::many("comments", view.comment_ids.clone()).with_related(related("comments")),
    )
    .relationship(
        "input-state-version",
        Relationship::optional("state-versions", run.input_state_version_id.as_deref()),
    )
    .link("self", urls.api(&format!("/runs/{id}")))
}

/// `include=` for runs: plan, apply, workspace, configuration_version, created_by,
/// task_stages; accepted and empty: cost_estimate, policy_checks.
async fn included(
    views: &[&RunView],
    caller: &terrace_domain::Caller,
    params: &Params,
    state: &AppState,
) -> Vec<Value> {
    let includes = params.includes();
    let mut out = Vec::new();
    for view in views {
        if includes.has("plan") {
            out.push(
                phases::resource(&view.plan, caller, &state.services, &state.urls).into_value(),
            );
        }
        if includes.has("apply") {
            out.push(
                phases::resource(&view.apply, caller, &state.services, &state.urls).into_value(),
            );
        }
        if includes.has("workspace") {
            let ws = terrace_domain::workspaces::WorkspaceView {
                workspace: view.workspace.clone(),
                organization: view.organization.clone(),
                tags: Vec::new(),
                access: view.access,
                data_retention_policy: None,
            };
            out.push(workspaces::resource(&ws, &state.urls).into_value());
        }
        // The CLI reads the stages with the run right after creating it.
        if includes.has("task_stages") && !view.task_stage_ids.is_empty() {
            if let Ok(stages) = state.services.run_task_stages(caller, &view.run.id).await {
                for (stage, results) in &stages {
                    out.push(
                        super::task_stages::stage_resource(stage, results, &state.urls)
                            .into_value(),
                    );
                }
            }
        }
    }
    if includes.has("created_by") {
        let creators: std::collections::BTreeSet<&str> = views
            .iter()
            .filter_map(|v| v.run.created_by.as_deref())
            .collect();
        for id in creators {
            // A creator deleted since is simply not included.
            if let Ok(user) = state.services.user(caller, id).await {
                out.push(super::users::resource(&user, None, state).into_value());
            }
        }
    }
    out
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RunInput {
    message: Option<String>,
    is_destroy: Option<bool>,
    refresh: Option<bool>,
    refresh_only: Option<bool>,
    plan_only: Option<bool>,
    save_plan: Option<bool>,
    auto_apply: Option<bool>,
    allow_empty_apply: Option<bool>,
    target_addrs: Option<Vec<String>>,
    replace_addrs: Option<Vec<String>>,
    variables: Option<Vec<RunVariableInput>>,
    terraform_version: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RunVariableInput {
    key: String,
    /// An HCL literal (`"\"text\""`, `2`, `["a"]`).
    value: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RunRelationships {
    workspace: Option<RelationshipOne>,
    configuration_version: Option<RelationshipOne>,
}

type RunBody = Body<RunInput, RunRelationships>;

/// Queues a run. Without a configuration version the workspace's latest one is used; a run on
/// a locked or busy workspace waits its turn.
#[utoipa::path(post, path = "/runs", tag = "runs",
    request_body(content = Body<RunInput, RunRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<RunAttributes>), (status = 404, body = ErrorDocument),
        (status = 409, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RunBody>,
) -> ApiResult<JsonApi<Document<RunAttributes>>> {
    let (input, relationships) = body.into_parts("runs")?;
    let workspace_id = relationships
        .workspace
        .and_then(|r| r.data)
        .and_then(|d| d.id)
        .ok_or_else(|| {
            ApiError::invalid("/data/relationships/workspace", "a run needs its workspace")
        })?;
    let cli = from_cli(&headers);
    let new = NewRun {
        workspace_id,
        configuration_version_id: relationships
            .configuration_version
            .and_then(|r| r.data)
            .and_then(|d| d.id),
        message: input
            .message
            .or_else(|| cli.then(|| "Triggered via CLI".to_string())),
        is_destroy: input.is_destroy.unwrap_or(false),
        refresh: input.refresh,
        refresh_only: input.refresh_only.unwrap_or(false),
        plan_only: input.plan_only,
        save_plan: input.save_plan.unwrap_or(false),
        auto_apply: input.auto_apply,
        allow_empty_apply: input.allow_empty_apply.unwrap_or(false),
        target_addrs: input.target_addrs,
        replace_addrs: input.replace_addrs,
        variables: input
            .variables
            .unwrap_or_default()
            .into_iter()
            .map(|v| RunVariable {
                key: v.key,
                value: v.value,
            })
            .collect(),
        terraform_version: input.terraform_version,
        source: if cli {
            "terraform+cloud".into()
        } else {
            "tfe-api".into()
        },
    };
    let view = state.services.create_run(&caller, new).await?;
    let resource = with_events(resource(&view, &state.urls), &state, &caller).await?;
    Ok(JsonApi::created(Document::new(resource)))
}

/// One run's resource also names its events (lists leave them to `run-events`).
async fn with_events(
    resource: Resource<RunAttributes>,
    state: &AppState,
    caller: &terrace_domain::Caller,
) -> ApiResult<Resource<RunAttributes>> {
    let run_id = resource.id.clone();
    let events = state.services.run_events(caller, &run_id).await?;
    Ok(resource.relationship(
        "run-events",
        Relationship::many("run-events", events.into_iter().map(|e| e.id))
            .with_related(state.urls.api(&format!("/runs/{run_id}/run-events"))),
    ))
}

#[utoipa::path(get, path = "/runs/{run_id}", tag = "runs",
    params(("run_id" = String, Path), ("include" = Option<String>, Query, description = "plan, apply, workspace, task_stages, ...")),
    responses((status = 200, body = Document<RunAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<Document<RunAttributes>>> {
    let view = state.services.run(&caller, &id).await?;
    let included = included(&[&view], &caller, &params, &state).await;
    let resource = with_events(resource(&view, &state.urls), &state, &caller).await?;
    Ok(JsonApi::ok(Document::new(resource).with_included(included)))
}

async fn list_page(
    state: &AppState,
    caller: &terrace_domain::Caller,
    scope: RunScope<'_>,
    params: &Params,
    uri: &axum::http::Uri,
) -> ApiResult<JsonApi<ListDocument<RunAttributes>>> {
    let page = params.page()?;
    let found = state
        .services
        .list_runs(
            caller,
            scope,
            RunFilter {
                // Unknown names are refused; plan-only runs are listed only when
                // filter[operation] names them.
                statuses: params.parsed_list("filter[status]")?,
                operations: params.parsed_list("filter[operation]")?,
                sources: params.list("filter[source]"),
                user: params.get("search[user]").map(str::to_string),
                commit: params.get("search[commit]").map(str::to_string),
                basic: params.get("search[basic]").map(str::to_string),
                ..Default::default()
            },
            page,
        )
        .await?;
    let data = found
        .items
        .iter()
        .map(|v| resource(v, &state.urls))
        .collect();
    let included = included(
        &found.items.iter().collect::<Vec<_>>(),
        caller,
        params,
        state,
    )
    .await;
    Ok(JsonApi::ok(
        ListDocument::paginate(data, page, found.total, &state.urls.request(uri))
            .with_included(included),
    ))
}

/// Runs of a workspace, newest first.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/runs", tag = "runs",
    params(("workspace_id" = String, Path), ("filter[status]" = Option<String>, Query), ("filter[operation]" = Option<String>, Query),
        ("filter[source]" = Option<String>, Query), ("search[user]" = Option<String>, Query),
        ("search[commit]" = Option<String>, Query), ("search[basic]" = Option<String>, Query),
        PageParams),
    responses((status = 200, body = ListDocument<RunAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_for_workspace(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<RunAttributes>>> {
    list_page(&state, &caller, RunScope::Workspace(&id), &params, &uri).await
}

/// Runs of every workspace of an organization, newest first.
#[utoipa::path(get, path = "/organizations/{organization}/runs", tag = "runs",
    params(("organization" = String, Path), ("filter[status]" = Option<String>, Query), ("filter[operation]" = Option<String>, Query),
        ("filter[source]" = Option<String>, Query), ("search[user]" = Option<String>, Query),
        ("search[commit]" = Option<String>, Query), ("search[basic]" = Option<String>, Query),
        PageParams),
    responses((status = 200, body = ListDocument<RunAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_for_organization(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<RunAttributes>>> {
    list_page(&state, &caller, RunScope::Organization(&org), &params, &uri).await
}

/// Runs waiting for or holding an executor, in the order they get one, with their position.
#[utoipa::path(get, path = "/organizations/{organization}/runs/queue", tag = "runs",
    params(("organization" = String, Path)),
    responses((status = 200, body = ListDocument<RunAttributes>), (status = 404, body = ErrorDocument)))]
async fn queue(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<RunAttributes>>> {
    let views = state.services.run_queue(&caller, &org).await?;
    let page = params.page()?;
    let total = views.len() as u64;
    let data = views
        .iter()
        .enumerate()
        .skip(page.offset() as usize)
        .take(page.size as usize)
        .map(|(i, view)| {
            let mut r = resource(view, &state.urls);
            r.attributes.position_in_queue = i as i64 + 1;
            r
        })
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        total,
        &state.urls.request(&uri),
    )))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CapacityAttributes {
    pending: u64,
    running: u64,
}

/// How many of the organization's jobs wait for an executor and how many run.
#[utoipa::path(get, path = "/organizations/{organization}/capacity", tag = "runs",
    params(("organization" = String, Path)),
    responses((status = 200, body = Document<CapacityAttributes>), (status = 404, body = ErrorDocument)))]
async fn capacity(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
) -> ApiResult<JsonApi<Document<CapacityAttributes>>> {
    let views = state.services.run_queue(&caller, &org).await?;
    let running = views
        .iter()
        .filter(|v| matches!(v.run.status, RunStatus::Planning | RunStatus::Applying))
        .count() as u64;
    let attributes = CapacityAttributes {
        pending: views.len() as u64 - running,
        running,
    };
    Ok(JsonApi::ok(Document::new(Resource::new(
        "organization-capacity",
        &org,
        attributes,
    ))))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RunEventAttributes {
    action: String,
    description: Option<String>,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
}

fn event_resource(event: &RunEvent) -> Resource<RunEventAttributes> {
    Resource::new(
        "run-events",
        &event.id,
        RunEventAttributes {
            action: event.action.clone(),
            description: event.description.clone(),
            created_at: event.created_at,
        },
    )
    .relationship(
        "actor",
        Relationship::optional("users", event.actor_id.as_deref()),
    )
    .relationship(
        "comment",
        Relationship::optional("comments", event.comment_id.as_deref()),
    )
    .relationship("target", Relationship::one("runs", &event.run_id))
}

/// `include=actor,comment` for run events.
async fn event_included(
    events: &[RunEvent],
    caller: &terrace_domain::Caller,
    params: &Params,
    state: &AppState,
) -> Vec<Value> {
    let includes = params.includes();
    let mut out = Vec::new();
    if includes.has("actor") {
        let actors: std::collections::BTreeSet<&str> = events
            .iter()
            .filter_map(|e| e.actor_id.as_deref())
            .collect();
        for id in actors {
            if let Ok(user) = state.services.user(caller, id).await {
                out.push(super::users::resource(&user, None, state).into_value());
            }
        }
    }
    if includes.has("comment") {
        for id in events.iter().filter_map(|e| e.comment_id.as_deref()) {
            if let Ok(comment) = state.services.run_comment(caller, id).await {
                out.push(super::comments::resource(&comment, &state.urls).into_value());
            }
        }
    }
    out
}

/// What happened to the run, oldest first.
#[utoipa::path(get, path = "/runs/{run_id}/run-events", tag = "runs",
    params(("run_id" = String, Path), ("include" = Option<String>, Query, description = "actor, comment")),
    responses((status = 200, body = ListDocument<RunEventAttributes>), (status = 404, body = ErrorDocument)))]
async fn events(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<ListDocument<RunEventAttributes>>> {
    let events = state.services.run_events(&caller, &id).await?;
    let included = event_included(&events, &caller, &params, &state).await;
    Ok(JsonApi::ok(
        ListDocument::all(events.iter().map(event_resource).collect()).with_included(included),
    ))
}

#[utoipa::path(get, path = "/run-events/{run_event_id}", tag = "runs",
    params(("run_event_id" = String, Path), ("include" = Option<String>, Query, description = "actor, comment")),
    responses((status = 200, body = Document<RunEventAttributes>), (status = 404, body = ErrorDocument)))]
async fn show_event(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<Document<RunEventAttributes>>> {
    let event = state.services.run_event(&caller, &id).await?;
    let included = event_included(std::slice::from_ref(&event), &caller, &params, &state).await;
    Ok(JsonApi::ok(
        Document::new(event_resource(&event)).with_included(included),
    ))
}

/// The runs of these IDs, rendered for an `include` (a workspace's `current_run`).
pub(crate) async fn included_runs(
    ids: &[&str],
    caller: &Caller,
    state: &AppState,
) -> ApiResult<Vec<Value>> {
    include_readable(ids, |id| async move {
        let view = state.services.run(caller, id).await?;
        Ok(resource(&view, &state.urls).into_value())
    })
    .await
}

/// Action bodies are optional: `{}`, `{"comment": ...}` or a JSON:API document.
type ActionBody = JsonBody<Value>;

/// Does a run action whose body may carry a comment (go-tfe sends `{"comment": "..."}`):
/// the comment is checked before the action (`action` is a future, so nothing has happened
/// yet), so a bad one changes nothing, and it is posted on the run once the action is done.
pub(crate) async fn act_with_comment(
    state: &AppState,
    caller: &Caller,
    run_id: &str,
    body: &Value,
    action: impl std::future::Future<Output = DomainResult<()>>,
) -> ApiResult<StatusCode> {
    let comment = match body.get("comment") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => {
            terrace_domain::runs::validate_comment(text)?;
            Some(text)
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "/comment",
                "the comment must be a string",
            ))
        }
    };
    action.await?;
    if let Some(text) = comment {
        state.services.comment_on_run(caller, run_id, text).await?;
    }
    Ok(StatusCode::ACCEPTED)
}

/// Confirms a run that waits for it (or queues a saved plan's apply).
#[utoipa::path(post, path = "/runs/{run_id}/actions/apply", tag = "runs", params(("run_id" = String, Path)),
    responses((status = 202), (status = 404, body = ErrorDocument), (status = 409, description = "The run is not waiting for confirmation", body = ErrorDocument), (status = 422, description = "The comment is not a string or too long", body = ErrorDocument)))]
async fn apply(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): ActionBody,
) -> ApiResult<StatusCode> {
    act_with_comment(
        &state,
        &caller,
        &id,
        &body,
        state.services.apply_run(&caller, &id),
    )
    .await
}

#[utoipa::path(post, path = "/runs/{run_id}/actions/discard", tag = "runs", params(("run_id" = String, Path)),
    responses((status = 202), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument), (status = 422, description = "The comment is not a string or too long", body = ErrorDocument)))]
async fn discard(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): ActionBody,
) -> ApiResult<StatusCode> {
    act_with_comment(
        &state,
        &caller,
        &id,
        &body,
        state.services.discard_run(&caller, &id),
    )
    .await
}

/// Cancels a run: at once if it is waiting, by interrupting terraform if it is running.
#[utoipa::path(post, path = "/runs/{run_id}/actions/cancel", tag = "runs", params(("run_id" = String, Path)),
    responses((status = 202), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument), (status = 422, description = "The comment is not a string or too long", body = ErrorDocument)))]
async fn cancel(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): ActionBody,
) -> ApiResult<StatusCode> {
    act_with_comment(
        &state,
        &caller,
        &id,
        &body,
        state.services.cancel_run(&caller, &id),
    )
    .await
}

/// Runs a pending run now, discarding or canceling the runs ahead of it.
#[utoipa::path(post, path = "/runs/{run_id}/actions/force-execute", tag = "runs", params(("run_id" = String, Path)),
    responses((status = 202), (status = 404, body = ErrorDocument), (status = 409, description = "The run is not pending", body = ErrorDocument), (status = 422, description = "The comment is not a string or too long", body = ErrorDocument)))]
async fn force_execute(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): ActionBody,
) -> ApiResult<StatusCode> {
    act_with_comment(
        &state,
        &caller,
        &id,
        &body,
        state.services.force_execute_run(&caller, &id),
    )
    .await
}

/// Ends a canceled run whose runner did not stop, once the cool-off after the cancel passed.
#[utoipa::path(post, path = "/runs/{run_id}/actions/force-cancel", tag = "runs", params(("run_id" = String, Path)),
    responses((status = 202), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument)))]
async fn force_cancel(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    _body: ActionBody,
) -> ApiResult<StatusCode> {
    state.services.force_cancel_run(&caller, &id).await?;
    Ok(StatusCode::ACCEPTED)
}
