//! Projects: `/organizations/:org/projects` and `/projects/:id`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_domain::projects::rules::DefaultsChange;
use terrace_domain::projects::{ProjectChanges, ProjectView};
use terrace_storage::model::{ExecutionMode, TagBinding};
use terrace_storage::store::ProjectFilter;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::body::nullable;
use crate::jsonapi::query::{Includes, PageParams};
use crate::jsonapi::{
    time, Body, Document, JsonApi, JsonBody, ListDocument, Params, Relationship, RelationshipMany,
    RelationshipOne, Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ProjectAttributes {
    name: String,
    description: Option<String>,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    workspace_count: u64,
    team_count: u64,
    is_default: bool,
    /// The execution mode of workspaces created in the project: its own, or the
    /// organization's default.
    #[schema(value_type = String)]
    default_execution_mode: ExecutionMode,
    /// The inactivity duration of the workspaces that inherit it (`14d`, `24h`).
    auto_destroy_activity_duration: Option<String>,
    setting_overwrites: ProjectSettingOverwrites,
    permissions: ProjectPermissions,
}

/// Whether the project sets its defaults itself (false: the organization's are in effect).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ProjectSettingOverwrites {
    #[serde(default)]
    default_execution_mode: Option<bool>,
    #[serde(default)]
    default_agent_pool: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ProjectPermissions {
    can_read: bool,
    can_update: bool,
    can_destroy: bool,
    can_create_workspace: bool,
}

pub(crate) fn resource(view: &ProjectView, urls: &Urls) -> Resource<ProjectAttributes> {
    use terrace_auth::policy::{decide, Action, Decision};
    let can = |action| decide(view.access, action) == Decision::Allow;
    let project = &view.project;
    Resource::new(
        "projects",
        &project.id,
        ProjectAttributes {
            name: project.name.clone(),
            description: (!project.description.is_empty()).then(|| project.description.clone()),
            created_at: project.created_at,
            workspace_count: view.workspace_count,
            team_count: view.team_count,
            is_default: project.is_default,
            default_execution_mode: view.execution_mode,
            auto_destroy_activity_duration: project.auto_destroy_activity_duration.clone(),
            setting_overwrites: ProjectSettingOverwrites {
                default_execution_mode: Some(project.default_execution_mode.is_some()),
                default_agent_pool: Some(project.default_execution_mode.is_some()),
            },
            permissions: ProjectPermissions {
                can_read: can(Action::ReadProject),
                can_update: can(Action::UpdateProject),
                can_destroy: can(Action::DeleteProject) && !project.is_default,
                can_create_workspace: can(Action::CreateWorkspace),
            },
        },
    )
    .relationship(
        "organization",
        Relationship::one("organizations", &view.organization_name)
            .with_related(urls.api(&format!("/organizations/{}", view.organization_name))),
    )
    .relationship(
        "default-agent-pool",
        Relationship::optional("agent-pools", view.agent_pool_id.as_deref()),
    )
    .relationship(
        "tag-bindings",
        Relationship::related(urls.api(&format!("/projects/{}/tag-bindings", project.id))),
    )
    .relationship(
        "effective-tag-bindings",
        Relationship::related(
            urls.api(&format!("/projects/{}/effective-tag-bindings", project.id)),
        ),
    )
    .link("self", urls.api(&format!("/projects/{}", project.id)))
}

/// `include=effective_tag_bindings`: the project names its bindings in effect, and the
/// document carries them.
fn with_included(
    view: &ProjectView,
    resource: Resource<ProjectAttributes>,
    includes: &Includes,
    included: &mut Vec<serde_json::Value>,
    urls: &Urls,
) -> Resource<ProjectAttributes> {
    if !includes.has("effective_tag_bindings") {
        return resource;
    }
    let bindings = super::tags::project_effective_resources(&view.project.id, &view.tags);
    let relationship = Relationship::many(
        "effective-tag-bindings",
        bindings.iter().map(|b| b.id.clone()),
    )
    .with_related(urls.api(&format!(
        "/projects/{}/effective-tag-bindings",
        view.project.id
    )));
    included.extend(bindings.into_iter().map(Resource::into_value));
    resource.relationship("effective-tag-bindings", relationship)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ProjectInput {
    name: Option<String>,
    description: Option<String>,
    /// `remote`, `local` or `agent` (which needs `default-agent-pool-id`).
    default_execution_mode: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    default_agent_pool_id: Option<Option<String>>,
    setting_overwrites: Option<ProjectSettingOverwrites>,
    /// Destroys the resources of the workspaces that inherit it after this long without a
    /// state change: 1-9999 hours or days (`24h`, `14d`); `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    auto_destroy_activity_duration: Option<Option<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ProjectRelationships {
    /// The same as `default-agent-pool-id` (`data: null` clears it).
    default_agent_pool: Option<RelationshipOne>,
    /// Create: the project's bindings; update: replaces them all (`[]` removes them).
    tag_bindings: Option<RelationshipMany>,
}

type ProjectBody = Body<ProjectInput, ProjectRelationships>;

fn changes(body: ProjectBody) -> ApiResult<ProjectChanges> {
    let (input, relationships) = body.into_parts("projects")?;
    let execution_mode = input
        .default_execution_mode
        .map(|mode| {
            mode.parse::<ExecutionMode>()
                .map_err(|e| ApiError::invalid("/data/attributes/default-execution-mode", e))
        })
        .transpose()?;
    let agent_pool_id = match relationships.default_agent_pool {
        Some(RelationshipOne {
            data: Some(linkage),
        }) => {
            let id = linkage.id.ok_or_else(|| {
                ApiError::invalid(
                    "/data/relationships/default-agent-pool/data/id",
                    "the agent pool needs an id",
                )
            })?;
            if input
                .default_agent_pool_id
                .as_ref()
                .is_some_and(|a| a.as_ref() != Some(&id))
            {
                return Err(ApiError::invalid(
                    "/data/relationships/default-agent-pool",
                    "the default-agent-pool relationship and default-agent-pool-id name different pools",
                ));
            }
            Some(Some(id))
        }
        Some(RelationshipOne { data: None }) => Some(None),
        None => input.default_agent_pool_id,
    };
    let overwrites = input.setting_overwrites.unwrap_or_default();
    let tags: Option<Vec<TagBinding>> = relationships
        .tag_bindings
        .map(|list| super::tags::bindings_from(&list, "/data/relationships/tag-bindings"))
        .transpose()?;
    Ok(ProjectChanges {
        name: input.name,
        description: input.description,
        defaults: DefaultsChange {
            execution_mode,
            agent_pool_id,
            overwrites_execution_mode: overwrites.default_execution_mode,
            overwrites_agent_pool: overwrites.default_agent_pool,
        },
        auto_destroy_activity_duration: input.auto_destroy_activity_duration,
        tags,
    })
}

/// `filter[tagged][N][key]` and `filter[tagged][N][value]` (an empty value: any value).
fn tagged_filter(params: &Params) -> Vec<TagBinding> {
    (0..)
        .map_while(|n| {
            let key = params.get(&format!("filter[tagged][{n}][key]"))?;
            Some(TagBinding {
                key: key.to_string(),
                value: params
                    .get(&format!("filter[tagged][{n}][value]"))
                    .unwrap_or("")
                    .to_string(),
            })
        })
        .collect()
}

/// Projects of an organization; `filter[names]` matches exact names, `q` a substring,
/// `filter[tagged][N][key]` (and `[value]`) tag bindings.
#[utoipa::path(get, path = "/organizations/{organization}/projects", tag = "projects",
    params(("organization" = String, Path), ("filter[names]" = Option<String>, Query), ("q" = Option<String>, Query),
        ("filter[tagged][0][key]" = Option<String>, Query), ("filter[tagged][0][value]" = Option<String>, Query),
        ("include" = Option<String>, Query, description = "effective_tag_bindings"),
        PageParams),
    responses((status = 200, body = ListDocument<ProjectAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<ProjectAttributes>>> {
    let includes = params.includes();
    let filter = ProjectFilter {
        names: params.list("filter[names]"),
        query: params.get("q").map(str::to_string),
        tagged: tagged_filter(&params),
        ..Default::default()
    };
    let page = params.page()?;
    let found = state
        .services
        .list_projects(&caller, &org, &filter, page)
        .await?;
    let mut included = Vec::new();
    let data = found
        .items
        .iter()
        .map(|v| {
            let r = resource(v, &state.urls);
            with_included(v, r, &includes, &mut included, &state.urls)
        })
        .collect();
    Ok(JsonApi::ok(
        ListDocument::paginate(data, page, found.total, &state.urls.request(&uri))
            .with_included(included),
    ))
}

#[utoipa::path(post, path = "/organizations/{organization}/projects", tag = "projects",
    params(("organization" = String, Path)),
    request_body(content = Body<ProjectInput, ProjectRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<ProjectAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<ProjectBody>,
) -> ApiResult<JsonApi<Document<ProjectAttributes>>> {
    let view = state
        .services
        .create_project(&caller, &org, changes(body)?)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &view,
        &state.urls,
    ))))
}

#[utoipa::path(get, path = "/projects/{project_id}", tag = "projects",
    params(("project_id" = String, Path), ("include" = Option<String>, Query, description = "effective_tag_bindings")),
    responses((status = 200, body = Document<ProjectAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<Document<ProjectAttributes>>> {
    let includes = params.includes();
    let view = state.services.project(&caller, &id).await?;
    let mut included = Vec::new();
    let resource = with_included(
        &view,
        resource(&view, &state.urls),
        &includes,
        &mut included,
        &state.urls,
    );
    Ok(JsonApi::ok(Document::new(resource).with_included(included)))
}

#[utoipa::path(patch, path = "/projects/{project_id}", tag = "projects", params(("project_id" = String, Path)),
    request_body(content = Body<ProjectInput, ProjectRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<ProjectAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ProjectBody>,
) -> ApiResult<JsonApi<Document<ProjectAttributes>>> {
    let view = state
        .services
        .update_project(&caller, &id, changes(body)?)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Deletes an empty project (409 while it holds workspaces, or for the default project).
#[utoipa::path(delete, path = "/projects/{project_id}", tag = "projects", params(("project_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.delete_project(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
