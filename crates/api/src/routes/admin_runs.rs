//! `/admin/runs`: TFE's admin runs API for site administrators (everyone else gets 404): the
//! runs of every workspace, and force-cancel, which ends any unfinished run at once.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use terrace_domain::site_admin::{AdminRunQuery, AdminRunView};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin_workspaces;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{time, JsonApi, JsonBody, ListDocument, Params, Relationship, Resource};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(force_cancel))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct AdminRunAttributes {
    #[schema(value_type = String)]
    status: &'static str,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    has_changes: bool,
    status_timestamps: serde_json::Map<String, Value>,
}

fn resource(view: &AdminRunView, urls: &Urls) -> Resource<AdminRunAttributes> {
    let run = &view.run;
    Resource::new(
        "runs",
        &run.id,
        AdminRunAttributes {
            status: run.status.as_str(),
            created_at: run.created_at,
            has_changes: run.has_changes,
            status_timestamps: super::runs::timestamps(&run.status_timestamps.0),
        },
    )
    .relationship(
        "workspace",
        Relationship::one("workspaces", &run.workspace_id),
    )
    .link("self", urls.api(&format!("/runs/{}", run.id)))
}

/// A creation-time bound: RFC 3339, or a 400 naming the parameter.
fn instant(params: &Params, key: &str) -> ApiResult<Option<DateTime<Utc>>> {
    params
        .get(key)
        .filter(|v| !v.is_empty())
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|e| ApiError::bad_request(format!("{key} must be an RFC 3339 time: {e}")))
        })
        .transpose()
}

/// Every run of the server, newest first. `filter[status]` (comma-separated statuses),
/// `filter[from]` and `filter[to]` (creation times, RFC 3339), `q` (a run ID or part of a
/// workspace name).
#[utoipa::path(get, path = "/admin/runs", tag = "admin",
    params(("filter[status]" = Option<String>, Query), ("filter[from]" = Option<String>, Query),
        ("filter[to]" = Option<String>, Query), ("q" = Option<String>, Query),
        ("include" = Option<String>, Query, description = "workspace, workspace.organization"), PageParams),
    responses((status = 200, body = ListDocument<AdminRunAttributes>), (status = 400, body = ErrorDocument),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<AdminRunAttributes>>> {
    let includes = params.includes_of(&["workspace", "workspace.organization"])?;
    let query = AdminRunQuery {
        statuses: params.parsed_list("filter[status]")?,
        created_after: instant(&params, "filter[from]")?,
        created_before: instant(&params, "filter[to]")?,
        query: params.get("q").map(str::to_string),
    };
    let page = params.page()?;
    let found = state.services.admin_list_runs(&caller, query, page).await?;
    let data = found
        .items
        .iter()
        .map(|view| resource(view, &state.urls))
        .collect();
    let mut included = Vec::new();
    let with_organizations = includes.has("workspace.organization");
    if includes.has("workspace") || with_organizations {
        let mut seen = std::collections::BTreeSet::new();
        for view in &found.items {
            if seen.insert(view.workspace.workspace.id.clone()) {
                included
                    .push(admin_workspaces::resource(&view.workspace, &state.urls).into_value());
            }
        }
    }
    if with_organizations {
        included.extend(admin_workspaces::organizations(
            found.items.iter().map(|v| &v.workspace),
            &state.urls,
        ));
    }
    Ok(JsonApi::ok(
        ListDocument::paginate(data, page, found.total, &state.urls.request(&uri))
            .with_included(included),
    ))
}

/// Ends an unfinished run at once, without a cancel and its cool-off first; an optional
/// `{"comment": ...}` is posted on the run.
#[utoipa::path(post, path = "/admin/runs/{run_id}/actions/force-cancel", tag = "admin",
    params(("run_id" = String, Path)),
    responses((status = 202), (status = 409, description = "The run is over", body = ErrorDocument),
        (status = 422, body = ErrorDocument),
        (status = 404, description = "No such run, or the caller is not a site administrator", body = ErrorDocument)))]
async fn force_cancel(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<StatusCode> {
    let action = state.services.admin_force_cancel_run(&caller, &id);
    super::runs::act_with_comment(&state, &caller, &id, &body, action).await
}
