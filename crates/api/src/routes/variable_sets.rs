//! Variable sets: `/organizations/:org/varsets`, `/varsets/:id`, their workspaces, projects
//! and variables, and `/workspaces/:id/varsets`, `/projects/:id/varsets`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_domain::variables::{VariableSetInput, VariableSetView};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::variables::{self, VariableAttributes, VariableAttributesInput, VariableBody};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::body::LinkageList;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{
    time, Body, Document, JsonApi, JsonBody, ListDocument, Params, Relationship, RelationshipMany,
    RelationshipOne, Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
        .routes(routes!(attach_workspaces, detach_workspaces))
        .routes(routes!(attach_projects, detach_projects))
        .routes(routes!(list_variables, create_variable))
        .routes(routes!(show_variable, update_variable, delete_variable))
        .routes(routes!(list_for_workspace))
        .routes(routes!(list_for_project))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct VariableSetAttributes {
    name: String,
    description: String,
    global: bool,
    priority: bool,
    #[serde(serialize_with = "time::serialize")]
    updated_at: DateTime<Utc>,
    var_count: usize,
    workspace_count: usize,
    project_count: usize,
}

fn resource(view: &VariableSetView, urls: &Urls) -> Resource<VariableSetAttributes> {
    let set = &view.set;
    Resource::new(
        "varsets",
        &set.id,
        VariableSetAttributes {
            name: set.name.clone(),
            description: set.description.clone(),
            global: set.global,
            priority: set.priority,
            updated_at: set.updated_at,
            var_count: view.variables.len(),
            workspace_count: view.workspace_ids.len(),
            project_count: view.project_ids.len(),
        },
    )
    .relationship(
        "organization",
        Relationship::one("organizations", &view.organization_name),
    )
    .relationship(
        "parent",
        match &set.project_id {
            Some(project) => Relationship::one("projects", project),
            None => Relationship::one("organizations", &view.organization_name),
        },
    )
    .relationship(
        "workspaces",
        Relationship::many("workspaces", view.workspace_ids.clone()),
    )
    .relationship(
        "projects",
        Relationship::many("projects", view.project_ids.clone()),
    )
    .relationship(
        "vars",
        Relationship::many("vars", view.variables.iter().map(|v| v.variable.id.clone())),
    )
    .link("self", urls.api(&format!("/varsets/{}", set.id)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct VariableSetAttributesInput {
    name: Option<String>,
    description: Option<String>,
    global: Option<bool>,
    priority: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct VariableSetRelationships {
    workspaces: Option<RelationshipMany>,
    projects: Option<RelationshipMany>,
    /// Variables to create with the set (create only).
    vars: Option<RelationshipMany>,
    /// Who owns the set (create only): the organization (the default) or one of its
    /// projects (`{"type": "projects", "id": ...}`), whose teams with `variable-sets` access
    /// manage it.
    parent: Option<RelationshipOne>,
}

/// The project a create request names as the set's parent; `None`: the organization.
fn parent_project(parent: Option<RelationshipOne>) -> ApiResult<Option<String>> {
    let Some(linkage) = parent.and_then(|p| p.data) else {
        return Ok(None);
    };
    match (linkage.kind.as_deref(), linkage.id) {
        (Some("organizations"), _) => Ok(None),
        (Some("projects"), Some(id)) if !id.is_empty() => Ok(Some(id)),
        _ => Err(ApiError::invalid(
            "/data/relationships/parent/data",
            "parent must be an organization or a project: {\"type\": \"projects\", \"id\": ...}",
        )),
    }
}

type VariableSetBody = Body<VariableSetAttributesInput, VariableSetRelationships>;

impl VariableSetAttributesInput {
    fn into_input(self) -> VariableSetInput {
        VariableSetInput {
            name: self.name,
            description: self.description,
            global: self.global,
            priority: self.priority,
        }
    }
}

#[utoipa::path(get, path = "/organizations/{organization}/varsets", tag = "variables",
    params(("organization" = String, Path), ("q" = Option<String>, Query), PageParams),
    responses((status = 200, body = ListDocument<VariableSetAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<VariableSetAttributes>>> {
    let page = params.page()?;
    let found = state
        .services
        .list_variable_sets(&caller, &org, params.get("q"), page)
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

/// Creates a variable set, optionally attached to workspaces and projects, with variables.
#[utoipa::path(post, path = "/organizations/{organization}/varsets", tag = "variables", params(("organization" = String, Path)),
    request_body(content = Body<VariableSetAttributesInput, VariableSetRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<VariableSetAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<VariableSetBody>,
) -> ApiResult<JsonApi<Document<VariableSetAttributes>>> {
    let (input, relationships) = body.into_parts("varsets")?;
    let workspaces = relationships
        .workspaces
        .map(|r| r.ids())
        .unwrap_or_default();
    let projects = relationships.projects.map(|r| r.ids()).unwrap_or_default();
    let parent = parent_project(relationships.parent)?;
    let mut view = state
        .services
        .create_variable_set(
            &caller,
            &org,
            input.into_input(),
            parent,
            workspaces,
            projects,
        )
        .await?;
    for var in relationships.vars.map(|r| r.data).unwrap_or_default() {
        let attributes: VariableAttributesInput = serde_json::from_value(
            serde_json::Value::Object(var.attributes.unwrap_or_default()),
        )
        .unwrap_or_default();
        let created = state
            .services
            .create_variable_set_variable(&caller, &view.set.id, attributes.into_input()?)
            .await?;
        view.variables.push(created);
    }
    Ok(JsonApi::created(Document::new(resource(
        &view,
        &state.urls,
    ))))
}

#[utoipa::path(get, path = "/varsets/{varset_id}", tag = "variables", params(("varset_id" = String, Path)),
    responses((status = 200, body = Document<VariableSetAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<VariableSetAttributes>>> {
    let view = state.services.variable_set(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Changes a set; `relationships.workspaces` or `.projects`, when given, become the exact
/// lists of what the set is attached to.
#[utoipa::path(patch, path = "/varsets/{varset_id}", tag = "variables", params(("varset_id" = String, Path)),
    request_body(content = Body<VariableSetAttributesInput, VariableSetRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<VariableSetAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VariableSetBody>,
) -> ApiResult<JsonApi<Document<VariableSetAttributes>>> {
    let (input, relationships) = body.into_parts("varsets")?;
    let view = state
        .services
        .update_variable_set(
            &caller,
            &id,
            input.into_input(),
            relationships.workspaces.map(|r| r.ids()),
            relationships.projects.map(|r| r.ids()),
        )
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

#[utoipa::path(delete, path = "/varsets/{varset_id}", tag = "variables", params(("varset_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.delete_variable_set(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn retarget(
    state: &AppState,
    caller: &terrace_domain::Caller,
    id: &str,
    attach: bool,
    workspaces: Vec<String>,
    projects: Vec<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .retarget_variable_set(caller, id, attach, workspaces, projects)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/varsets/{varset_id}/relationships/workspaces", tag = "variables", params(("varset_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"), responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn attach_workspaces(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<StatusCode> {
    retarget(&state, &caller, &id, true, body.ids(), Vec::new()).await
}

#[utoipa::path(delete, path = "/varsets/{varset_id}/relationships/workspaces", tag = "variables", params(("varset_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"), responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn detach_workspaces(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<StatusCode> {
    retarget(&state, &caller, &id, false, body.ids(), Vec::new()).await
}

#[utoipa::path(post, path = "/varsets/{varset_id}/relationships/projects", tag = "variables", params(("varset_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"), responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn attach_projects(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<StatusCode> {
    retarget(&state, &caller, &id, true, Vec::new(), body.ids()).await
}

#[utoipa::path(delete, path = "/varsets/{varset_id}/relationships/projects", tag = "variables", params(("varset_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"), responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn detach_projects(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<StatusCode> {
    retarget(&state, &caller, &id, false, Vec::new(), body.ids()).await
}

type VariableList = ListDocument<VariableAttributes>;

#[utoipa::path(get, path = "/varsets/{varset_id}/relationships/vars", tag = "variables", params(("varset_id" = String, Path)),
    responses((status = 200, body = ListDocument<VariableAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_variables(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<VariableList>> {
    let views = state
        .services
        .list_variable_set_variables(&caller, &id)
        .await?;
    Ok(JsonApi::ok(ListDocument::all(
        views
            .iter()
            .map(|v| variables::resource(v, &state.urls))
            .collect(),
    )))
}

#[utoipa::path(post, path = "/varsets/{varset_id}/relationships/vars", tag = "variables", params(("varset_id" = String, Path)),
    request_body(content = Body<VariableAttributesInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<VariableAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create_variable(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VariableBody>,
) -> ApiResult<JsonApi<Document<VariableAttributes>>> {
    let (input, _) = body.into_parts("vars")?;
    let view = state
        .services
        .create_variable_set_variable(&caller, &id, input.into_input()?)
        .await?;
    Ok(JsonApi::created(Document::new(variables::resource(
        &view,
        &state.urls,
    ))))
}

#[utoipa::path(get, path = "/varsets/{varset_id}/relationships/vars/{variable_id}", tag = "variables",
    params(("varset_id" = String, Path), ("variable_id" = String, Path)),
    responses((status = 200, body = Document<VariableAttributes>), (status = 404, body = ErrorDocument)))]
async fn show_variable(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((set, id)): Path<(String, String)>,
) -> ApiResult<JsonApi<Document<VariableAttributes>>> {
    let view = state
        .services
        .variable_set_variable(&caller, &set, &id)
        .await?;
    Ok(JsonApi::ok(Document::new(variables::resource(
        &view,
        &state.urls,
    ))))
}

#[utoipa::path(patch, path = "/varsets/{varset_id}/relationships/vars/{variable_id}", tag = "variables",
    params(("varset_id" = String, Path), ("variable_id" = String, Path)),
    request_body(content = Body<VariableAttributesInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<VariableAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update_variable(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((set, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<VariableBody>,
) -> ApiResult<JsonApi<Document<VariableAttributes>>> {
    let (input, _) = body.into_parts("vars")?;
    let view = state
        .services
        .update_variable_set_variable(&caller, &set, &id, input.into_input()?)
        .await?;
    Ok(JsonApi::ok(Document::new(variables::resource(
        &view,
        &state.urls,
    ))))
}

#[utoipa::path(delete, path = "/varsets/{varset_id}/relationships/vars/{variable_id}", tag = "variables",
    params(("varset_id" = String, Path), ("variable_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn delete_variable(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((set, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_variable_set_variable(&caller, &set, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The variable sets that apply to a workspace (global ones, and those attached to it or to
/// its project); paginated when a page is named.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/varsets", tag = "variables",
    params(("workspace_id" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<VariableSetAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_for_workspace(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<VariableSetAttributes>>> {
    let page = params.explicit_page()?;
    let views = state.services.workspace_variable_sets(&caller, &id).await?;
    Ok(JsonApi::ok(ListDocument::page_of(
        views.iter().map(|v| resource(v, &state.urls)).collect(),
        page,
        &state.urls.request(&uri),
    )))
}

/// The variable sets that apply to a project (global ones, those attached to it and those
/// it owns); paginated when a page is named. Teams that read only the project's own sets
/// (`variable-sets` project access) see only those.
#[utoipa::path(get, path = "/projects/{project_id}/varsets", tag = "variables",
    params(("project_id" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<VariableSetAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn list_for_project(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<VariableSetAttributes>>> {
    let page = params.explicit_page()?;
    let views = state.services.project_variable_sets(&caller, &id).await?;
    Ok(JsonApi::ok(ListDocument::page_of(
        views.iter().map(|v| resource(v, &state.urls)).collect(),
        page,
        &state.urls.request(&uri),
    )))
}
