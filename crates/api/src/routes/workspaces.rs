//! Workspaces, addressed by ID (`/workspaces/:id`) or by name
//! (`/organizations/:org/workspaces/:name`): CRUD, safe-delete, and the lock actions.

use axum::extract::{OriginalUri, Path, State};
use axum::http::header::USER_AGENT;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_auth::policy::WorkspacePermissions;
use terrace_domain::site_admin::workspace_order;
use terrace_domain::workspaces::{auto_destroy, WorkspaceChanges, WorkspaceRef, WorkspaceView};
use terrace_storage::model::{Engine, ExecutionMode, LockHolderKind, RunStatus, TagBinding};
use terrace_storage::store::WorkspaceFilter;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{organizations, state_versions};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::body::nullable;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{
    time, Body, Document, JsonApi, JsonBody, ListDocument, Params, Relationship, RelationshipMany,
    RelationshipOne, Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show_by_name, update_by_name, delete_by_name))
        .routes(routes!(safe_delete_by_name))
        .routes(routes!(show, update, delete))
        .routes(routes!(safe_delete))
        .routes(routes!(lock))
        .routes(routes!(unlock))
        .routes(routes!(force_unlock))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct WorkspaceAttributes {
    name: String,
    description: Option<String>,
    environment: &'static str,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    updated_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    latest_change_at: DateTime<Utc>,
    actions: WorkspaceActions,
    allow_destroy_plan: bool,
    assessments_enabled: bool,
    auto_apply: bool,
    auto_apply_run_trigger: bool,
    /// When a destroy run will be queued: the schedule or the inactivity deadline, whichever
    /// comes first.
    #[serde(serialize_with = "time::serialize_option")]
    auto_destroy_at: Option<DateTime<Utc>>,
    /// The inactivity duration in effect (`14d`, `24h`): the project's while inheriting it.
    auto_destroy_activity_duration: Option<String>,
    inherits_project_auto_destroy: bool,
    can_queue_destroy_plan: bool,
    #[schema(value_type = String)]
    execution_mode: ExecutionMode,
    /// Deprecated: true unless the execution mode is local.
    operations: bool,
    file_triggers_enabled: bool,
    global_remote_state: bool,
    project_remote_state: bool,
    locked: bool,
    locked_reason: String,
    queue_all_runs: bool,
    resource_count: i64,
    source: &'static str,
    source_name: Option<String>,
    source_url: Option<String>,
    speculative_enabled: bool,
    structured_run_output_enabled: bool,
    /// Key-only tags.
    tag_names: Vec<String>,
    terraform_version: String,
    /// Terrace: the tool `terraform-version` is a version of, `terraform` or `tofu`.
    engine: &'static str,
    trigger_prefixes: Vec<String>,
    trigger_patterns: Vec<String>,
    #[schema(value_type = Option<Object>)]
    vcs_repo: Option<()>,
    vcs_repo_identifier: Option<String>,
    working_directory: String,
    setting_overwrites: SettingOverwrites,
    #[schema(value_type = Object)]
    permissions: WorkspacePermissions,
    apply_duration_average: Option<i64>,
    plan_duration_average: Option<i64>,
    policy_check_failures: Option<i64>,
    run_failures: Option<i64>,
    workspace_kpis_runs_count: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct WorkspaceActions {
    is_destroyable: bool,
}

/// Which settings the workspace sets itself rather than inheriting.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct SettingOverwrites {
    #[serde(default)]
    execution_mode: Option<bool>,
    #[serde(default)]
    agent_pool: Option<bool>,
}

pub fn resource(view: &WorkspaceView, urls: &Urls) -> Resource<WorkspaceAttributes> {
    let ws = &view.workspace;
    let org = &view.organization.name;
    let permissions = view.permissions();
    let mode = view.execution_mode();
    let locked_by = ws.lock_holder().map(|holder| {
        let kind = match holder.kind {
            LockHolderKind::User => "users",
            LockHolderKind::Run => "runs",
            LockHolderKind::Team => "teams",
        };
        Relationship::one(kind, holder.id)
    });
    Resource::new(
        "workspaces",
        &ws.id,
        WorkspaceAttributes {
            name: ws.name.clone(),
            description: (!ws.description.is_empty()).then(|| ws.description.clone()),
            environment: "default",
            created_at: ws.created_at,
            updated_at: ws.updated_at,
            latest_change_at: ws.updated_at,
            actions: WorkspaceActions {
                is_destroyable: view.is_destroyable(),
            },
            allow_destroy_plan: ws.allow_destroy_plan,
            assessments_enabled: ws.assessments_enabled,
            auto_apply: ws.auto_apply,
            auto_apply_run_trigger: ws.auto_apply_run_trigger,
            auto_destroy_at: auto_destroy::next_destroy_at(ws),
            auto_destroy_activity_duration: auto_destroy::activity_duration(ws).map(str::to_string),
            inherits_project_auto_destroy: ws.inherits_project_auto_destroy,
            can_queue_destroy_plan: permissions.can_queue_destroy,
            execution_mode: mode,
            operations: mode != ExecutionMode::Local,
            file_triggers_enabled: ws.file_triggers_enabled,
            global_remote_state: ws.global_remote_state,
            project_remote_state: ws.project_remote_state,
            locked: ws.lock_kind.is_some(),
            locked_reason: ws.lock_reason.clone().unwrap_or_default(),
            queue_all_runs: ws.queue_all_runs,
            resource_count: ws.resource_count,
            source: "tfe-api",
            source_name: ws.source_name.clone(),
            source_url: ws.source_url.clone(),
            speculative_enabled: ws.speculative_enabled,
            structured_run_output_enabled: ws.structured_run_output_enabled,
            tag_names: view
                .tags
                .iter()
                .filter(|t| t.value.is_empty())
                .map(|t| t.key.clone())
                .collect(),
            terraform_version: ws.terraform_version.clone(),
            engine: ws.engine.as_str(),
            trigger_prefixes: ws.trigger_prefixes.0.clone(),
            trigger_patterns: ws.trigger_patterns.0.clone(),
            vcs_repo: None,
            vcs_repo_identifier: None,
            working_directory: ws.working_directory.clone(),
            setting_overwrites: SettingOverwrites {
                execution_mode: Some(ws.execution_mode.is_some()),
                agent_pool: Some(ws.agent_pool_id.is_some()),
            },
            permissions,
            apply_duration_average: None,
            plan_duration_average: None,
            policy_check_failures: None,
            run_failures: None,
            workspace_kpis_runs_count: Some(ws.runs_count),
        },
    )
    .relationship("organization", Relationship::one("organizations", org))
    .relationship("project", Relationship::one("projects", &ws.project_id))
    .relationship(
        "current-run",
        Relationship::optional("runs", ws.latest_run_id.as_deref()),
    )
    .relationship("latest-run", Relationship::null())
    .relationship("current-configuration-version", Relationship::null())
    .relationship(
        "current-state-version",
        Relationship::optional("state-versions", ws.current_state_version_id.as_deref())
            .with_related(urls.api(&format!("/workspaces/{}/current-state-version", ws.id))),
    )
    .relationship(
        "agent-pool",
        Relationship::optional("agent-pools", view.agent_pool_id()),
    )
    .relationship(
        "ssh-key",
        Relationship::optional("ssh-keys", ws.ssh_key_id.as_deref()),
    )
    .relationship("readme", Relationship::null())
    .relationship("locked-by", locked_by.unwrap_or_else(Relationship::null))
    .relationship_if(
        "data-retention-policy",
        super::data_retention_policies::relationship(&view.data_retention_policy),
    )
    .relationship(
        "outputs",
        Relationship::related(urls.api(&format!(
            "/workspaces/{}/current-state-version-outputs",
            ws.id
        ))),
    )
    .relationship(
        "tag-bindings",
        Relationship::related(urls.api(&format!("/workspaces/{}/tag-bindings", ws.id))),
    )
    .relationship(
        "effective-tag-bindings",
        Relationship::related(urls.api(&format!("/workspaces/{}/effective-tag-bindings", ws.id))),
    )
    .link(
        "self",
        urls.api(&format!("/organizations/{org}/workspaces/{}", ws.name)),
    )
    .link(
        "self-html",
        urls.absolute(&format!("/app/{org}/workspaces/{}", ws.name)),
    )
}

/// `include=` for workspaces: the organization and the current state version's ID holder.
/// `include=organization,current_state_version,current_run`.
async fn included(
    views: &[&WorkspaceView],
    params: &Params,
    caller: &terrace_domain::Caller,
    state: &AppState,
) -> ApiResult<Vec<serde_json::Value>> {
    let urls = &state.urls;
    let includes = params.includes();
    let mut out = Vec::new();
    if includes.has("organization") {
        let mut seen = std::collections::BTreeSet::new();
        for view in views {
            if seen.insert(view.organization.id.clone()) {
                let org = terrace_domain::organizations::OrganizationView {
                    organization: view.organization.clone(),
                    access: view.access,
                    data_retention_policy: None,
                };
                out.push(organizations::resource(&org, urls).into_value());
            }
        }
    }
    if includes.has("current_state_version") {
        let versions: Vec<&str> = views
            .iter()
            .filter_map(|v| v.workspace.current_state_version_id.as_deref())
            .collect();
        out.extend(super::state_versions::included_state_versions(&versions, caller, state).await?);
    }
    if includes.has("current_run") {
        let runs: Vec<&str> = views
            .iter()
            .filter_map(|v| v.workspace.latest_run_id.as_deref())
            .collect();
        out.extend(super::runs::included_runs(&runs, caller, state).await?);
    }
    Ok(out)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct WorkspaceInput {
    name: Option<String>,
    description: Option<String>,
    execution_mode: Option<String>,
    operations: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    agent_pool_id: Option<Option<String>>,
    auto_apply: Option<bool>,
    allow_destroy_plan: Option<bool>,
    file_triggers_enabled: Option<bool>,
    global_remote_state: Option<bool>,
    project_remote_state: Option<bool>,
    queue_all_runs: Option<bool>,
    speculative_enabled: Option<bool>,
    structured_run_output_enabled: Option<bool>,
    assessments_enabled: Option<bool>,
    source_name: Option<String>,
    source_url: Option<String>,
    terraform_version: Option<String>,
    /// Terrace: `terraform` (the default) or `tofu`; a workspace that OpenTofu creates
    /// through `cloud {}` gets `tofu`.
    engine: Option<String>,
    trigger_prefixes: Option<Vec<String>>,
    trigger_patterns: Option<Vec<String>>,
    working_directory: Option<String>,
    /// Schedules a destroy run (`null` cancels the schedule).
    #[serde(default, deserialize_with = "nullable")]
    auto_destroy_at: Option<Option<DateTime<Utc>>>,
    /// Destroys the resources after this long without a state change: 1-9999 hours or days
    /// (`24h`, `14d`); `null` removes it. Setting it stops inheriting the project's.
    #[serde(default, deserialize_with = "nullable")]
    auto_destroy_activity_duration: Option<Option<String>>,
    /// Whether the project's inactivity duration applies rather than the workspace's own
    /// (true for a new workspace).
    inherits_project_auto_destroy: Option<bool>,
    /// Whether runs that run triggers queue apply without confirmation (docs/integrations.md).
    auto_apply_run_trigger: Option<bool>,
    setting_overwrites: Option<SettingOverwrites>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    vcs_repo: Option<Option<serde_json::Value>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct WorkspaceRelationships {
    project: Option<RelationshipOne>,
    /// The pool of agent execution (`data: null` releases it).
    agent_pool: Option<RelationshipOne>,
    /// Key-only tags by name (create).
    tags: Option<RelationshipMany>,
    tag_bindings: Option<RelationshipMany>,
}

type WorkspaceBody = Body<WorkspaceInput, WorkspaceRelationships>;

fn changes(body: WorkspaceBody) -> ApiResult<WorkspaceChanges> {
    let (input, relationships) = body.into_parts("workspaces")?;
    if let Some(Some(_)) = input.vcs_repo {
        return Err(ApiError::invalid(
            "/data/attributes/vcs-repo",
            "VCS connections are not supported by this server yet; leave vcs-repo null",
        ));
    }
    let engine = input
        .engine
        .as_deref()
        .map(|engine| {
            engine
                .parse::<Engine>()
                .map_err(|e| ApiError::invalid("/data/attributes/engine", e))
        })
        .transpose()?;
    let mut execution_mode = input
        .execution_mode
        .map(|mode| {
            mode.parse::<ExecutionMode>()
                .map(Some)
                .map_err(|e| ApiError::invalid("/data/attributes/execution-mode", e))
        })
        .transpose()?;
    if input.setting_overwrites.and_then(|o| o.execution_mode) == Some(false) {
        if execution_mode.is_some() {
            return Err(ApiError::invalid(
                "/data/attributes/setting-overwrites",
                "execution-mode cannot be set while setting-overwrites says to inherit it",
            ));
        }
        execution_mode = Some(None);
    }
    let mut tags: Option<Vec<TagBinding>> = None;
    if let Some(flat) = relationships.tags {
        let names = flat
            .data
            .iter()
            .map(|tag| {
                tag.attribute("name")
                    .map(|name| TagBinding {
                        key: name.to_string(),
                        value: String::new(),
                    })
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "/data/relationships/tags",
                            "each tag needs attributes.name",
                        )
                    })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        tags.get_or_insert_with(Vec::new).extend(names);
    }
    if let Some(bindings) = relationships.tag_bindings {
        tags.get_or_insert_with(Vec::new)
            .extend(super::tags::bindings_from(
                &bindings,
                "/data/relationships/tag-bindings",
            )?);
    }
    let project_id = match relationships.project.and_then(|p| p.data) {
        Some(linkage) => Some(linkage.id.ok_or_else(|| {
            ApiError::invalid(
                "/data/relationships/project/data/id",
                "the project needs an id",
            )
        })?),
        None => None,
    };
    let agent_pool_id = match relationships.agent_pool {
        Some(RelationshipOne {
            data: Some(linkage),
        }) => {
            let id = linkage.id.ok_or_else(|| {
                ApiError::invalid(
                    "/data/relationships/agent-pool/data/id",
                    "the agent pool needs an id",
                )
            })?;
            if input
                .agent_pool_id
                .as_ref()
                .is_some_and(|a| a.as_ref() != Some(&id))
            {
                return Err(ApiError::invalid(
                    "/data/relationships/agent-pool",
                    "the agent-pool relationship and agent-pool-id name different pools",
                ));
            }
            Some(Some(id))
        }
        Some(RelationshipOne { data: None }) => Some(None),
        None => input.agent_pool_id,
    };
    Ok(WorkspaceChanges {
        name: input.name,
        description: input.description,
        execution_mode,
        operations: input.operations,
        agent_pool_id,
        auto_apply: input.auto_apply,
        allow_destroy_plan: input.allow_destroy_plan,
        file_triggers_enabled: input.file_triggers_enabled,
        global_remote_state: input.global_remote_state,
        project_remote_state: input.project_remote_state,
        queue_all_runs: input.queue_all_runs,
        speculative_enabled: input.speculative_enabled,
        structured_run_output_enabled: input.structured_run_output_enabled,
        assessments_enabled: input.assessments_enabled,
        source_name: input.source_name,
        source_url: input.source_url,
        terraform_version: input.terraform_version,
        engine,
        trigger_prefixes: input.trigger_prefixes,
        trigger_patterns: input.trigger_patterns,
        working_directory: input.working_directory,
        auto_destroy_at: input.auto_destroy_at,
        auto_destroy_activity_duration: input.auto_destroy_activity_duration,
        inherits_project_auto_destroy: input.inherits_project_auto_destroy,
        auto_apply_run_trigger: input.auto_apply_run_trigger,
        project_id,
        tags,
    })
}

fn by_name(organization: String, name: String) -> WorkspaceRef {
    WorkspaceRef::Name { organization, name }
}

async fn show_ref(
    state: &AppState,
    caller: &terrace_domain::Caller,
    workspace: WorkspaceRef,
    params: &Params,
) -> ApiResult<JsonApi<Document<WorkspaceAttributes>>> {
    // One workspace read also names its variables, its current configuration version and,
    // when asked, its outputs, each only to a caller who may read them.
    let (view, related) = state.services.workspace_read(caller, &workspace).await?;
    let mut included = included(&[&view], params, caller, state).await?;
    let mut resource = resource(&view, &state.urls);
    if let Some(cv) = related.configuration_version {
        let link = state.urls.api(&format!("/configuration-versions/{cv}"));
        resource = resource.relationship(
            "current-configuration-version",
            Relationship::one("configuration-versions", &cv).with_related(link),
        );
    }
    if let Some(ids) = related.variables {
        resource = resource.relationship("vars", Relationship::many("vars", ids));
    }
    if params.includes().has("outputs") {
        let (relationship, outputs) = outputs_of(&view, caller, state).await?;
        resource = resource.relationship("outputs", relationship);
        included.extend(outputs);
    }
    Ok(JsonApi::ok(Document::new(resource).with_included(included)))
}

/// `include=outputs`: the `outputs` relationship naming the current state's outputs (none
/// for a caller who may not read them) and those outputs, sensitive values hidden.
async fn outputs_of(
    view: &WorkspaceView,
    caller: &terrace_domain::Caller,
    state: &AppState,
) -> ApiResult<(Relationship, Vec<serde_json::Value>)> {
    let id = WorkspaceRef::Id(view.workspace.id.clone());
    let outputs = match view.workspace.current_state_version_id {
        Some(_) => hidden_as_none(state.services.current_state_outputs(caller, &id).await)?
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let relationship = Relationship::many(
        "workspace-outputs",
        outputs.iter().map(|o| o.output.id.clone()),
    )
    .with_related(state.urls.api(&format!(
        "/workspaces/{}/current-state-version-outputs",
        view.workspace.id
    )));
    let included = outputs
        .iter()
        .map(|o| state_versions::workspace_output_resource(o).into_value())
        .collect();
    Ok((relationship, included))
}

/// What the caller may not read reads as absent.
fn hidden_as_none<T>(result: terrace_domain::DomainResult<T>) -> ApiResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(
            terrace_domain::DomainError::NotFound(_) | terrace_domain::DomainError::Forbidden(_),
        ) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn update_ref(
    state: &AppState,
    caller: &terrace_domain::Caller,
    workspace: WorkspaceRef,
    body: WorkspaceBody,
) -> ApiResult<JsonApi<Document<WorkspaceAttributes>>> {
    let view = state
        .services
        .update_workspace(caller, &workspace, changes(body)?)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Workspaces of an organization, filtered by name, tags and project.
#[utoipa::path(get, path = "/organizations/{organization}/workspaces", tag = "workspaces",
    params(("organization" = String, Path),
        PageParams,
        ("search[name]" = Option<String>, Query, description = "Substring of the name"),
        ("search[wildcard-name]" = Option<String>, Query, description = "Name pattern with * wildcards"),
        ("search[tags]" = Option<String>, Query, description = "Comma-separated tags the workspace must all have"),
        ("search[exclude-tags]" = Option<String>, Query, description = "Comma-separated tags the workspace must not have"),
        ("filter[project][id]" = Option<String>, Query),
        ("filter[current-run][status]" = Option<String>, Query, description = "The status of the current run"),
        ("sort" = Option<String>, Query, description = "name or current-run.created-at, - first for descending"),
        ("include" = Option<String>, Query, description = "organization, current_state_version, current_run, outputs")),
    responses((status = 200, body = ListDocument<WorkspaceAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<WorkspaceAttributes>>> {
    let filter = WorkspaceFilter {
        name_contains: params.get("search[name]").map(str::to_string),
        name_wildcard: params.get("search[wildcard-name]").map(str::to_string),
        tags: params.list("search[tags]"),
        exclude_tags: params.list("search[exclude-tags]"),
        tagged: params.tagged(),
        project_id: params.get("filter[project][id]").map(str::to_string),
        current_run_status: params
            .get("filter[current-run][status]")
            .map(|s| {
                s.parse::<RunStatus>()
                    .map(|status| status.as_str().to_string())
                    .map_err(|e| ApiError::bad_request(format!("filter[current-run][status]: {e}")))
            })
            .transpose()?,
        order: params
            .get("sort")
            // A bad query parameter is a 400, as the others of this list.
            .map(|sort| {
                workspace_order(Some(sort)).map_err(|e| ApiError::bad_request(format!("sort: {e}")))
            })
            .transpose()?,
        ..Default::default()
    };
    let page = params.page()?;
    let found = state
        .services
        .list_workspaces(&caller, &org, &filter, page)
        .await?;
    let mut included = included(
        &found.items.iter().collect::<Vec<_>>(),
        &params,
        &caller,
        &state,
    )
    .await?;
    let with_outputs = params.includes().has("outputs");
    let mut data = Vec::with_capacity(found.items.len());
    for view in &found.items {
        let mut item = resource(view, &state.urls);
        if with_outputs {
            let (relationship, outputs) = outputs_of(view, &caller, &state).await?;
            item = item.relationship("outputs", relationship);
            included.extend(outputs);
        }
        data.push(item);
    }
    Ok(JsonApi::ok(
        ListDocument::paginate(data, page, found.total, &state.urls.request(&uri))
            .with_included(included),
    ))
}

/// Creates a workspace; settings not given take HCP Terraform's defaults, and the execution
/// mode is inherited from the organization unless set.
#[utoipa::path(post, path = "/organizations/{organization}/workspaces", tag = "workspaces",
    params(("organization" = String, Path)),
    request_body(content = Body<WorkspaceInput, WorkspaceRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<WorkspaceAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<WorkspaceBody>,
) -> ApiResult<JsonApi<Document<WorkspaceAttributes>>> {
    let mut changes = changes(body)?;
    if changes.engine.is_none() {
        let agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
        changes.engine = Some(terrace_domain::engines::engine_of_client(agent));
    }
    let view = state
        .services
        .create_workspace(&caller, &org, changes)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &view,
        &state.urls,
    ))))
}

#[utoipa::path(get, path = "/organizations/{organization}/workspaces/{name}", tag = "workspaces",
    params(("organization" = String, Path), ("name" = String, Path), ("include" = Option<String>, Query, description = "organization, outputs")),
    responses((status = 200, body = Document<WorkspaceAttributes>), (status = 404, body = ErrorDocument)))]
async fn show_by_name(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((org, name)): Path<(String, String)>,
    params: Params,
) -> ApiResult<JsonApi<Document<WorkspaceAttributes>>> {
    show_ref(&state, &caller, by_name(org, name), &params).await
}

#[utoipa::path(patch, path = "/organizations/{organization}/workspaces/{name}", tag = "workspaces",
    params(("organization" = String, Path), ("name" = String, Path)),
    request_body(content = Body<WorkspaceInput, WorkspaceRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<WorkspaceAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update_by_name(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((org, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<WorkspaceBody>,
) -> ApiResult<JsonApi<Document<WorkspaceAttributes>>> {
    update_ref(&state, &caller, by_name(org, name), body).await
}

/// Deletes the workspace and its state, whatever it manages.
#[utoipa::path(delete, path = "/organizations/{organization}/workspaces/{name}", tag = "workspaces",
    params(("organization" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn delete_by_name(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((org, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_workspace(&caller, &by_name(org, name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the workspace only if it is unlocked and manages no resources (409 otherwise).
#[utoipa::path(post, path = "/organizations/{organization}/workspaces/{name}/actions/safe-delete", tag = "workspaces",
    params(("organization" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument)))]
async fn safe_delete_by_name(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((org, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .services
        .safe_delete_workspace(&caller, &by_name(org, name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}", tag = "workspaces",
    params(("workspace_id" = String, Path), ("include" = Option<String>, Query, description = "organization, outputs")),
    responses((status = 200, body = Document<WorkspaceAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<Document<WorkspaceAttributes>>> {
    show_ref(&state, &caller, WorkspaceRef::Id(id), &params).await
}

#[utoipa::path(patch, path = "/workspaces/{workspace_id}", tag = "workspaces",
    params(("workspace_id" = String, Path)),
    request_body(content = Body<WorkspaceInput, WorkspaceRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<WorkspaceAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<WorkspaceBody>,
) -> ApiResult<JsonApi<Document<WorkspaceAttributes>>> {
    update_ref(&state, &caller, WorkspaceRef::Id(id), body).await
}

#[utoipa::path(delete, path = "/workspaces/{workspace_id}", tag = "workspaces",
    params(("workspace_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_workspace(&caller, &WorkspaceRef::Id(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/workspaces/{workspace_id}/actions/safe-delete", tag = "workspaces",
    params(("workspace_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument)))]
async fn safe_delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .safe_delete_workspace(&caller, &WorkspaceRef::Id(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The lock body comes in three shapes: `{}`, `{"reason": ..}` and the CLI's JSON:API form
/// with an empty type. All carry at most a reason.
fn lock_reason(value: &serde_json::Value) -> ApiResult<Option<String>> {
    let reason = value
        .pointer("/data/attributes/reason")
        .or_else(|| value.get("reason"))
        .filter(|r| !r.is_null());
    match reason {
        None => Ok(None),
        Some(serde_json::Value::String(reason)) => Ok(Some(reason.clone())),
        Some(_) => Err(ApiError::invalid(
            "/data/attributes/reason",
            "reason must be a string",
        )),
    }
}

/// Locks the workspace for the caller (409 if someone holds it).
#[utoipa::path(post, path = "/workspaces/{workspace_id}/actions/lock", tag = "workspaces",
    params(("workspace_id" = String, Path)),
    responses((status = 200, body = Document<WorkspaceAttributes>), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument)))]
async fn lock(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> ApiResult<JsonApi<Document<WorkspaceAttributes>>> {
    let reason = lock_reason(&body)?;
    let view = state.services.lock_workspace(&caller, &id, reason).await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Releases the caller's lock (409 if unlocked or held by someone else).
#[utoipa::path(post, path = "/workspaces/{workspace_id}/actions/unlock", tag = "workspaces",
    params(("workspace_id" = String, Path)),
    responses((status = 200, body = Document<WorkspaceAttributes>), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument)))]
async fn unlock(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<WorkspaceAttributes>>> {
    let view = state.services.unlock_workspace(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Releases anyone's lock (workspace administrators).
#[utoipa::path(post, path = "/workspaces/{workspace_id}/actions/force-unlock", tag = "workspaces",
    params(("workspace_id" = String, Path)),
    responses((status = 200, body = Document<WorkspaceAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument)))]
async fn force_unlock(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<WorkspaceAttributes>>> {
    let view = state.services.force_unlock_workspace(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}
