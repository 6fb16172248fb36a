//! Workspace variables: `/workspaces/:id/vars`, and `/workspaces/:id/all-vars` (with those of
//! variable sets). Sensitive values are write-only: every
//! response shows them as `null`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_domain::variables::{VariableInput, VariableView};
use terrace_storage::model::VariableCategory;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::{
    time, Body, Document, JsonApi, JsonBody, ListDocument, Relationship, Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
        .routes(routes!(list_effective))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct VariableAttributes {
    key: String,
    /// `null` when the variable is sensitive.
    value: Option<String>,
    description: String,
    category: String,
    hcl: bool,
    sensitive: bool,
    version_id: String,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
}

pub fn resource(view: &VariableView, urls: &Urls) -> Resource<VariableAttributes> {
    let v = &view.variable;
    let resource = bare_resource(view);
    match (&v.workspace_id, &v.varset_id) {
        (Some(ws), _) => resource
            .relationship(
                "configurable",
                Relationship::one("workspaces", ws)
                    .with_related(urls.api(&format!("/workspaces/{ws}"))),
            )
            .link("self", urls.api(&format!("/workspaces/{ws}/vars/{}", v.id))),
        (None, Some(set)) => set_relationships(resource, set, &v.id, urls).relationship(
            "configurable",
            Relationship::one("varsets", set).with_related(urls.api(&format!("/varsets/{set}"))),
        ),
        (None, None) => resource,
    }
}

/// A variable among a workspace's `all-vars`: one of a set names its set only as `varset`, as
/// clients read `configurable` there as the workspace.
fn effective_resource(view: &VariableView, urls: &Urls) -> Resource<VariableAttributes> {
    match &view.variable.varset_id {
        Some(set) => set_relationships(bare_resource(view), set, &view.variable.id, urls),
        None => resource(view, urls),
    }
}

fn set_relationships(
    resource: Resource<VariableAttributes>,
    set: &str,
    id: &str,
    urls: &Urls,
) -> Resource<VariableAttributes> {
    resource
        .relationship("varset", Relationship::one("varsets", set))
        .link(
            "self",
            urls.api(&format!("/varsets/{set}/relationships/vars/{id}")),
        )
}

fn bare_resource(view: &VariableView) -> Resource<VariableAttributes> {
    let v = &view.variable;
    Resource::new(
        "vars",
        &v.id,
        VariableAttributes {
            key: v.key.clone(),
            value: view.value.clone(),
            description: v.description.clone(),
            category: v.category.to_string(),
            hcl: v.hcl,
            sensitive: v.sensitive,
            version_id: v.version_id.clone(),
            created_at: v.created_at,
        },
    )
}

/// Variable fields as create and update accept them.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct VariableAttributesInput {
    key: Option<String>,
    value: Option<String>,
    description: Option<String>,
    category: Option<String>,
    hcl: Option<bool>,
    sensitive: Option<bool>,
}

impl VariableAttributesInput {
    pub fn into_input(self) -> ApiResult<VariableInput> {
        let category = self
            .category
            .map(|c| {
                c.parse::<VariableCategory>()
                    .map_err(|e| ApiError::invalid("/data/attributes/category", e))
            })
            .transpose()?;
        Ok(VariableInput {
            key: self.key,
            value: self.value,
            description: self.description,
            category,
            hcl: self.hcl,
            sensitive: self.sensitive,
        })
    }
}

pub type VariableBody = Body<VariableAttributesInput>;
type VariableList = ListDocument<VariableAttributes>;

#[utoipa::path(get, path = "/workspaces/{workspace_id}/vars", tag = "variables", params(("workspace_id" = String, Path)),
    responses((status = 200, body = ListDocument<VariableAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(ws): Path<String>,
) -> ApiResult<JsonApi<VariableList>> {
    let views = state
        .services
        .list_workspace_variables(&caller, &ws)
        .await?;
    Ok(JsonApi::ok(ListDocument::all(
        views.iter().map(|v| resource(v, &state.urls)).collect(),
    )))
}

/// Every variable a run of the workspace receives, workspace and variable set ones, each
/// category and key once: the one that wins by precedence.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/all-vars", tag = "variables", params(("workspace_id" = String, Path)),
    responses((status = 200, body = ListDocument<VariableAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_effective(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(ws): Path<String>,
) -> ApiResult<JsonApi<VariableList>> {
    let views = state
        .services
        .effective_workspace_variables(&caller, &ws)
        .await?;
    Ok(JsonApi::ok(ListDocument::all(
        views
            .iter()
            .map(|v| effective_resource(v, &state.urls))
            .collect(),
    )))
}

#[utoipa::path(post, path = "/workspaces/{workspace_id}/vars", tag = "variables", params(("workspace_id" = String, Path)),
    request_body(content = Body<VariableAttributesInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<VariableAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(ws): Path<String>,
    JsonBody(body): JsonBody<VariableBody>,
) -> ApiResult<JsonApi<Document<VariableAttributes>>> {
    let (input, _) = body.into_parts("vars")?;
    let view = state
        .services
        .create_workspace_variable(&caller, &ws, input.into_input()?)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &view,
        &state.urls,
    ))))
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}/vars/{variable_id}", tag = "variables",
    params(("workspace_id" = String, Path), ("variable_id" = String, Path)),
    responses((status = 200, body = Document<VariableAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((ws, id)): Path<(String, String)>,
) -> ApiResult<JsonApi<Document<VariableAttributes>>> {
    let view = state
        .services
        .show_workspace_variable(&caller, Some(&ws), &id)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Changes a variable; a sensitive variable stays sensitive.
#[utoipa::path(patch, path = "/workspaces/{workspace_id}/vars/{variable_id}", tag = "variables",
    params(("workspace_id" = String, Path), ("variable_id" = String, Path)),
    request_body(content = Body<VariableAttributesInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<VariableAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((ws, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<VariableBody>,
) -> ApiResult<JsonApi<Document<VariableAttributes>>> {
    let (input, _) = body.into_parts("vars")?;
    let view = state
        .services
        .update_workspace_variable(&caller, Some(&ws), &id, input.into_input()?)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

#[utoipa::path(delete, path = "/workspaces/{workspace_id}/vars/{variable_id}", tag = "variables",
    params(("workspace_id" = String, Path), ("variable_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((ws, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_workspace_variable(&caller, Some(&ws), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
