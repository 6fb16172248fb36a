//! Team access to workspaces and projects: `/team-workspaces` and `/team-projects` (TFE's
//! team access API). What a level grants is decided in the domain and the policy.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use terrace_auth::policy::{ProjectAccess, WorkspaceGrant};
use terrace_domain::team_access::{AccessInput, ProjectParts, WorkspaceParts};
use terrace_storage::model::{TeamProject, TeamWorkspace};
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
        .routes(routes!(list_workspace_access, add_workspace_access))
        .routes(routes!(
            show_workspace_access,
            update_workspace_access,
            remove_workspace_access
        ))
        .routes(routes!(list_project_access, add_project_access))
        .routes(routes!(
            show_project_access,
            update_project_access,
            remove_project_access
        ))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TeamWorkspaceAttributes {
    /// read, plan, write, admin or custom.
    access: String,
    runs: &'static str,
    variables: &'static str,
    state_versions: &'static str,
    sentinel_mocks: &'static str,
    workspace_locking: bool,
    run_tasks: bool,
}

fn workspace_attributes(access: &str, g: &WorkspaceGrant) -> TeamWorkspaceAttributes {
    TeamWorkspaceAttributes {
        access: access.to_string(),
        runs: g.runs.as_str(),
        variables: g.variables.as_str(),
        state_versions: g.state_versions.as_str(),
        sentinel_mocks: g.sentinel_mocks.as_str(),
        workspace_locking: g.workspace_locking,
        run_tasks: g.run_tasks,
    }
}

fn team_workspace_resource(tw: &TeamWorkspace, urls: &Urls) -> Resource<TeamWorkspaceAttributes> {
    Resource::new(
        "team-workspaces",
        &tw.id,
        workspace_attributes(&tw.access, &tw.grants.0),
    )
    .relationship(
        "team",
        Relationship::one("teams", &tw.team_id)
            .with_related(urls.api(&format!("/teams/{}", tw.team_id))),
    )
    .relationship(
        "workspace",
        Relationship::one("workspaces", &tw.workspace_id)
            .with_related(urls.api(&format!("/workspaces/{}", tw.workspace_id))),
    )
    .link("self", urls.api(&format!("/team-workspaces/{}", tw.id)))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ProjectSettingsAttributes {
    /// read, update or delete.
    settings: &'static str,
    /// none or manage.
    teams: &'static str,
    /// none, read or write: the variable sets the project owns.
    variable_sets: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ProjectWorkspaceAttributes {
    runs: &'static str,
    variables: &'static str,
    state_versions: &'static str,
    sentinel_mocks: &'static str,
    create: bool,
    locking: bool,
    delete: bool,
    #[serde(rename = "move")]
    move_: bool,
    run_tasks: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TeamProjectAttributes {
    /// read, write, maintain, admin or custom.
    access: String,
    project_access: ProjectSettingsAttributes,
    workspace_access: ProjectWorkspaceAttributes,
}

fn team_project_resource(tp: &TeamProject, urls: &Urls) -> Resource<TeamProjectAttributes> {
    let ProjectAccess {
        project: p,
        workspaces: w,
    } = tp.grants.0;
    Resource::new(
        "team-projects",
        &tp.id,
        TeamProjectAttributes {
            access: tp.access.clone(),
            project_access: ProjectSettingsAttributes {
                settings: if p.delete {
                    "delete"
                } else if p.update {
                    "update"
                } else {
                    "read"
                },
                teams: if p.manage_teams { "manage" } else { "none" },
                variable_sets: p.variable_sets.as_str(),
            },
            workspace_access: ProjectWorkspaceAttributes {
                runs: w.runs.as_str(),
                variables: w.variables.as_str(),
                state_versions: w.state_versions.as_str(),
                sentinel_mocks: w.sentinel_mocks.as_str(),
                create: p.create_workspaces,
                locking: w.workspace_locking,
                delete: w.deletes(),
                move_: w.moves(),
                run_tasks: w.run_tasks,
            },
        },
    )
    .relationship(
        "team",
        Relationship::one("teams", &tp.team_id)
            .with_related(urls.api(&format!("/teams/{}", tp.team_id))),
    )
    .relationship(
        "project",
        Relationship::one("projects", &tp.project_id)
            .with_related(urls.api(&format!("/projects/{}", tp.project_id))),
    )
    .link("self", urls.api(&format!("/team-projects/{}", tp.id)))
}

/// The access attributes of a request; each part left out keeps its value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct AccessAttributes {
    access: Option<String>,
    runs: Option<String>,
    variables: Option<String>,
    state_versions: Option<String>,
    sentinel_mocks: Option<String>,
    workspace_locking: Option<bool>,
    run_tasks: Option<bool>,
    project_access: Option<ProjectAccessInput>,
    workspace_access: Option<WorkspaceAccessInput>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ProjectAccessInput {
    settings: Option<String>,
    teams: Option<String>,
    variable_sets: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct WorkspaceAccessInput {
    runs: Option<String>,
    variables: Option<String>,
    state_versions: Option<String>,
    sentinel_mocks: Option<String>,
    create: Option<bool>,
    locking: Option<bool>,
    delete: Option<bool>,
    #[serde(rename = "move")]
    move_: Option<bool>,
    run_tasks: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct AccessRelationships {
    team: Option<RelationshipOne>,
    workspace: Option<RelationshipOne>,
    project: Option<RelationshipOne>,
}

type AccessBody = Body<AccessAttributes, AccessRelationships>;

fn input(a: AccessAttributes) -> AccessInput {
    let w = a.workspace_access.unwrap_or_default();
    let p = a.project_access.unwrap_or_default();
    AccessInput {
        access: a.access,
        workspace: WorkspaceParts {
            runs: a.runs.or(w.runs),
            variables: a.variables.or(w.variables),
            state_versions: a.state_versions.or(w.state_versions),
            sentinel_mocks: a.sentinel_mocks.or(w.sentinel_mocks),
            workspace_locking: a.workspace_locking.or(w.locking),
            run_tasks: a.run_tasks.or(w.run_tasks),
            delete: w.delete,
            move_: w.move_,
            create: w.create,
        },
        project: ProjectParts {
            settings: p.settings,
            teams: p.teams,
            variable_sets: p.variable_sets,
        },
    }
}

/// The ID of a required to-one relationship.
fn related(one: Option<RelationshipOne>, name: &str) -> ApiResult<String> {
    one.and_then(|r| r.data).and_then(|l| l.id).ok_or_else(|| {
        ApiError::invalid(
            &format!("/data/relationships/{name}"),
            format!("{name} is required"),
        )
    })
}

fn required_filter<'p>(params: &'p Params, key: &str) -> ApiResult<&'p str> {
    params
        .get(key)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{key} is required")))
}

/// Teams with access to a workspace; `filter[workspace][id]` is required.
#[utoipa::path(get, path = "/team-workspaces", tag = "team-access",
    params(("filter[workspace][id]" = String, Query), PageParams),
    responses((status = 200, body = ListDocument<TeamWorkspaceAttributes>), (status = 400, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn list_workspace_access(
    State(state): State<AppState>,
    Auth(caller): Auth,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<TeamWorkspaceAttributes>>> {
    let workspace = required_filter(&params, "filter[workspace][id]")?;
    let page = params.page()?;
    let found = state
        .services
        .list_team_workspaces(&caller, workspace, page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|tw| team_workspace_resource(tw, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(&uri),
    )))
}

/// Gives a team access to a workspace (workspace administrators).
#[utoipa::path(post, path = "/team-workspaces", tag = "team-access",
    request_body(content = Body<AccessAttributes, AccessRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<TeamWorkspaceAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn add_workspace_access(
    State(state): State<AppState>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<AccessBody>,
) -> ApiResult<JsonApi<Document<TeamWorkspaceAttributes>>> {
    let (attributes, relationships) = body.into_parts("team-workspaces")?;
    let team = related(relationships.team, "team")?;
    let workspace = related(relationships.workspace, "workspace")?;
    let tw = state
        .services
        .add_team_workspace(&caller, &team, &workspace, &input(attributes))
        .await?;
    Ok(JsonApi::created(Document::new(team_workspace_resource(
        &tw,
        &state.urls,
    ))))
}

#[utoipa::path(get, path = "/team-workspaces/{team_workspace_id}", tag = "team-access",
    params(("team_workspace_id" = String, Path)),
    responses((status = 200, body = Document<TeamWorkspaceAttributes>), (status = 404, body = ErrorDocument)))]
async fn show_workspace_access(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<TeamWorkspaceAttributes>>> {
    let tw = state.services.team_workspace(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(team_workspace_resource(
        &tw,
        &state.urls,
    ))))
}

/// Changes the level, or the parts of a custom level.
#[utoipa::path(patch, path = "/team-workspaces/{team_workspace_id}", tag = "team-access",
    params(("team_workspace_id" = String, Path)),
    request_body(content = Body<AccessAttributes, AccessRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<TeamWorkspaceAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update_workspace_access(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AccessBody>,
) -> ApiResult<JsonApi<Document<TeamWorkspaceAttributes>>> {
    let (attributes, _) = body.into_parts("team-workspaces")?;
    let tw = state
        .services
        .update_team_workspace(&caller, &id, &input(attributes))
        .await?;
    Ok(JsonApi::ok(Document::new(team_workspace_resource(
        &tw,
        &state.urls,
    ))))
}

#[utoipa::path(delete, path = "/team-workspaces/{team_workspace_id}", tag = "team-access",
    params(("team_workspace_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn remove_workspace_access(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.remove_team_workspace(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Teams with access to a project; `filter[project][id]` is required.
#[utoipa::path(get, path = "/team-projects", tag = "team-access",
    params(("filter[project][id]" = String, Query), PageParams),
    responses((status = 200, body = ListDocument<TeamProjectAttributes>), (status = 400, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn list_project_access(
    State(state): State<AppState>,
    Auth(caller): Auth,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<TeamProjectAttributes>>> {
    let project = required_filter(&params, "filter[project][id]")?;
    let page = params.page()?;
    let found = state
        .services
        .list_team_projects(&caller, project, page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|tp| team_project_resource(tp, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(&uri),
    )))
}

/// Gives a team access to a project and its workspaces (project administrators).
#[utoipa::path(post, path = "/team-projects", tag = "team-access",
    request_body(content = Body<AccessAttributes, AccessRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<TeamProjectAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 409, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn add_project_access(
    State(state): State<AppState>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<AccessBody>,
) -> ApiResult<JsonApi<Document<TeamProjectAttributes>>> {
    let (attributes, relationships) = body.into_parts("team-projects")?;
    let team = related(relationships.team, "team")?;
    let project = related(relationships.project, "project")?;
    let tp = state
        .services
        .add_team_project(&caller, &team, &project, &input(attributes))
        .await?;
    Ok(JsonApi::created(Document::new(team_project_resource(
        &tp,
        &state.urls,
    ))))
}

#[utoipa::path(get, path = "/team-projects/{team_project_id}", tag = "team-access",
    params(("team_project_id" = String, Path)),
    responses((status = 200, body = Document<TeamProjectAttributes>), (status = 404, body = ErrorDocument)))]
async fn show_project_access(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<TeamProjectAttributes>>> {
    let tp = state.services.team_project(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(team_project_resource(
        &tp,
        &state.urls,
    ))))
}

#[utoipa::path(patch, path = "/team-projects/{team_project_id}", tag = "team-access",
    params(("team_project_id" = String, Path)),
    request_body(content = Body<AccessAttributes, AccessRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<TeamProjectAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update_project_access(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AccessBody>,
) -> ApiResult<JsonApi<Document<TeamProjectAttributes>>> {
    let (attributes, _) = body.into_parts("team-projects")?;
    let tp = state
        .services
        .update_team_project(&caller, &id, &input(attributes))
        .await?;
    Ok(JsonApi::ok(Document::new(team_project_resource(
        &tp,
        &state.urls,
    ))))
}

#[utoipa::path(delete, path = "/team-projects/{team_project_id}", tag = "team-access",
    params(("team_project_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn remove_project_access(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.remove_team_project(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
