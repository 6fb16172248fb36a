//! `/admin/workspaces`: TFE's admin workspaces API for site administrators (everyone else
//! gets 404): the workspaces of every organization, one by ID, deletion.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use terrace_auth::policy::Access;
use terrace_domain::organizations::OrganizationView;
use terrace_domain::site_admin::AdminWorkspaceView;
use terrace_domain::Caller;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::{Includes, PageParams};
use crate::jsonapi::{Document, JsonApi, ListDocument, Params, Relationship, Resource};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show, delete))
}

/// What `include` may name.
const INCLUDES: &[&str] = &["organization", "current_run"];

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct AdminWorkspaceAttributes {
    name: String,
    locked: bool,
    /// Always null: workspaces here are not connected to a VCS repository.
    #[schema(value_type = Option<Object>)]
    vcs_repo: Option<()>,
}

pub(crate) fn resource(
    view: &AdminWorkspaceView,
    urls: &Urls,
) -> Resource<AdminWorkspaceAttributes> {
    let ws = &view.workspace;
    Resource::new(
        "workspaces",
        &ws.id,
        AdminWorkspaceAttributes {
            name: ws.name.clone(),
            locked: ws.lock_holder().is_some(),
            vcs_repo: None,
        },
    )
    .relationship(
        "organization",
        Relationship::one("organizations", &view.organization.name),
    )
    .relationship(
        "current-run",
        Relationship::optional("runs", ws.latest_run_id.as_deref()),
    )
    .link("self", urls.api(&format!("/admin/workspaces/{}", ws.id)))
}

/// `include=organization,current_run`: each organization and run once.
async fn included(
    views: &[AdminWorkspaceView],
    includes: &Includes,
    caller: &Caller,
    state: &AppState,
) -> ApiResult<Vec<Value>> {
    let mut included = Vec::new();
    if includes.has("organization") {
        included.extend(organizations(views, &state.urls));
    }
    if includes.has("current_run") {
        let runs: Vec<&str> = views
            .iter()
            .filter_map(|v| v.workspace.latest_run_id.as_deref())
            .collect();
        included.extend(super::runs::included_runs(&runs, caller, state).await?);
    }
    Ok(included)
}

/// The organizations of the workspaces, each once, for `include`.
pub(crate) fn organizations<'a>(
    views: impl IntoIterator<Item = &'a AdminWorkspaceView>,
    urls: &Urls,
) -> Vec<Value> {
    let mut seen = std::collections::BTreeSet::new();
    views
        .into_iter()
        .filter(|view| seen.insert(view.organization.id.clone()))
        .map(|view| {
            // A site administrator has an owner's powers in every organization.
            let org = OrganizationView {
                organization: view.organization.clone(),
                access: Access::owner(),
                data_retention_policy: None,
            };
            super::organizations::resource(&org, urls).into_value()
        })
        .collect()
}

/// Every workspace of the server. `q` matches the name, `filter[current_run][status]` the
/// status of the current run; `sort` is `name` or `current-run.created-at` (`-` first for
/// descending), the most recently active first without.
#[utoipa::path(get, path = "/admin/workspaces", tag = "admin",
    params(("q" = Option<String>, Query), ("filter[current_run][status]" = Option<String>, Query),
        ("sort" = Option<String>, Query), ("include" = Option<String>, Query, description = "organization, current_run"), PageParams),
    responses((status = 200, body = ListDocument<AdminWorkspaceAttributes>),
        (status = 400, body = ErrorDocument), (status = 422, body = ErrorDocument),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<AdminWorkspaceAttributes>>> {
    let includes = params.includes_of(INCLUDES)?;
    let page = params.page()?;
    let found = state
        .services
        .admin_list_workspaces(
            &caller,
            params.get("q"),
            params.get("filter[current_run][status]"),
            params.get("sort"),
            page,
        )
        .await?;
    let data = found
        .items
        .iter()
        .map(|view| resource(view, &state.urls))
        .collect();
    let included = included(&found.items, &includes, &caller, &state).await?;
    Ok(JsonApi::ok(
        ListDocument::paginate(data, page, found.total, &state.urls.request(&uri))
            .with_included(included),
    ))
}

#[utoipa::path(get, path = "/admin/workspaces/{workspace_id}", tag = "admin",
    params(("workspace_id" = String, Path), ("include" = Option<String>, Query, description = "organization, current_run")),
    responses((status = 200, body = Document<AdminWorkspaceAttributes>), (status = 400, body = ErrorDocument),
        (status = 404, description = "No such workspace, or the caller is not a site administrator", body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<Document<AdminWorkspaceAttributes>>> {
    let includes = params.includes_of(INCLUDES)?;
    let view = state.services.admin_workspace(&caller, &id).await?;
    let included = included(std::slice::from_ref(&view), &includes, &caller, &state).await?;
    Ok(JsonApi::ok(
        Document::new(resource(&view, &state.urls)).with_included(included),
    ))
}

/// Deletes any workspace with its runs and state, as its organization's owners could.
#[utoipa::path(delete, path = "/admin/workspaces/{workspace_id}", tag = "admin",
    params(("workspace_id" = String, Path)),
    responses((status = 204),
        (status = 404, description = "No such workspace, or the caller is not a site administrator", body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.admin_delete_workspace(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
