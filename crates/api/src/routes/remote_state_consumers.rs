//! Remote state sharing: `/workspaces/:id/relationships/remote-state-consumers` lists (as
//! workspaces), adds (`POST`), replaces (`PATCH`) and removes (`DELETE`) the workspaces whose
//! runs may read this one's state. The rules are the domain's `remote_state`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use terrace_domain::remote_state::{consumer_ids, ConsumerChange};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::workspaces::{self, WorkspaceAttributes};
use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::body::LinkageList;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{JsonApi, JsonBody, ListDocument, Params};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, add, replace, remove))
}

/// The workspaces whose runs may read this workspace's state (besides everyone's, when it
/// has `global-remote-state`), oldest first.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/relationships/remote-state-consumers", tag = "workspaces",
    params(("workspace_id" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<WorkspaceAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<WorkspaceAttributes>>> {
    let page = params.page()?;
    let found = state
        .services
        .list_remote_state_consumers(&caller, &id, page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|v| workspaces::resource(v, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(&uri),
    )))
}

async fn change(
    state: &AppState,
    caller: &terrace_domain::Caller,
    id: &str,
    how: ConsumerChange,
    body: &LinkageList,
) -> ApiResult<StatusCode> {
    let linkage: Vec<_> = body
        .data
        .iter()
        .map(|l| (l.kind.clone(), l.id.clone()))
        .collect();
    let ids = consumer_ids(&linkage)?;
    state
        .services
        .change_remote_state_consumers(caller, id, how, &ids)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds workspaces of the same organization as consumers (administrators of the workspace).
#[utoipa::path(post, path = "/workspaces/{workspace_id}/relationships/remote-state-consumers", tag = "workspaces",
    params(("workspace_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument),
        (status = 422, body = ErrorDocument)))]
async fn add(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<StatusCode> {
    change(&state, &caller, &id, ConsumerChange::Add, &body).await
}

/// Makes the named workspaces the only consumers.
#[utoipa::path(patch, path = "/workspaces/{workspace_id}/relationships/remote-state-consumers", tag = "workspaces",
    params(("workspace_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument),
        (status = 422, body = ErrorDocument)))]
async fn replace(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<StatusCode> {
    change(&state, &caller, &id, ConsumerChange::Replace, &body).await
}

/// Removes consumers (unknown ones are ignored).
#[utoipa::path(delete, path = "/workspaces/{workspace_id}/relationships/remote-state-consumers", tag = "workspaces",
    params(("workspace_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument),
        (status = 422, body = ErrorDocument)))]
async fn remove(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<StatusCode> {
    change(&state, &caller, &id, ConsumerChange::Remove, &body).await
}
