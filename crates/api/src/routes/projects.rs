//! Projects: `/organizations/:org/projects` and `/projects/:id`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_domain::projects::ProjectView;
use terrace_storage::store::ProjectFilter;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{
    time, Body, Document, JsonApi, JsonBody, ListDocument, Params, Relationship, Resource,
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
    default_execution_mode: &'static str,
    permissions: ProjectPermissions,
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
            default_execution_mode: "remote",
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
    .link("self", urls.api(&format!("/projects/{}", project.id)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ProjectInput {
    name: Option<String>,
    description: Option<String>,
}

type ProjectBody = Body<ProjectInput>;

/// Projects of an organization; `filter[names]` matches exact names, `q` a substring.
#[utoipa::path(get, path = "/organizations/{organization}/projects", tag = "projects",
    params(("organization" = String, Path), ("filter[names]" = Option<String>, Query), ("q" = Option<String>, Query),
        PageParams),
    responses((status = 200, body = ListDocument<ProjectAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<ProjectAttributes>>> {
    let filter = ProjectFilter {
        names: params.list("filter[names]"),
        query: params.get("q").map(str::to_string),
        ..Default::default()
    };
    let page = params.page()?;
    let found = state
        .services
        .list_projects(&caller, &org, &filter, page)
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

#[utoipa::path(post, path = "/organizations/{organization}/projects", tag = "projects",
    params(("organization" = String, Path)),
    request_body(content = Body<ProjectInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<ProjectAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<ProjectBody>,
) -> ApiResult<JsonApi<Document<ProjectAttributes>>> {
    let (input, _) = body.into_parts("projects")?;
    let name = input
        .name
        .ok_or_else(|| ApiError::invalid("/data/attributes/name", "name is required"))?;
    let view = state
        .services
        .create_project(&caller, &org, &name, input.description)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &view,
        &state.urls,
    ))))
}

#[utoipa::path(get, path = "/projects/{project_id}", tag = "projects", params(("project_id" = String, Path)),
    responses((status = 200, body = Document<ProjectAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<ProjectAttributes>>> {
    let view = state.services.project(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

#[utoipa::path(patch, path = "/projects/{project_id}", tag = "projects", params(("project_id" = String, Path)),
    request_body(content = Body<ProjectInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<ProjectAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ProjectBody>,
) -> ApiResult<JsonApi<Document<ProjectAttributes>>> {
    let (input, _) = body.into_parts("projects")?;
    let view = state
        .services
        .update_project(&caller, &id, input.name, input.description)
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
