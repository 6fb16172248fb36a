//! SSH keys (HCP Terraform's `ssh-keys`): `/organizations/:org/ssh-keys` (list, create),
//! `/ssh-keys/:id` (show, update, delete) and a workspace's key
//! (`/workspaces/:id/relationships/ssh-key`). The value is write-only: no response carries
//! it. The rules are the domain's `ssh_keys`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use terrace_storage::model::SshKey;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::workspaces::{self, WorkspaceAttributes};
use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{Body, Document, JsonApi, JsonBody, ListDocument, Params, Resource};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
        .routes(routes!(assign, set_workspace_key))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct SshKeyAttributes {
    name: String,
}

pub fn resource(key: &SshKey, urls: &Urls) -> Resource<SshKeyAttributes> {
    Resource::new(
        "ssh-keys",
        &key.id,
        SshKeyAttributes {
            name: key.name.clone(),
        },
    )
    .link("self", urls.api(&format!("/ssh-keys/{}", key.id)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SshKeyInput {
    name: Option<String>,
    /// The private key (OpenSSH or PEM); write-only.
    value: Option<String>,
}

/// Adds an SSH key to the organization (owners and teams with `manage-vcs-settings`).
#[utoipa::path(post, path = "/organizations/{organization}/ssh-keys", tag = "ssh-keys",
    params(("organization" = String, Path)),
    request_body(content = Body<SshKeyInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<SshKeyAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<Body<SshKeyInput>>,
) -> ApiResult<JsonApi<Document<SshKeyAttributes>>> {
    let (input, _) = body.into_parts("ssh-keys")?;
    let key = state
        .services
        .create_ssh_key(&caller, &org, input.name.as_deref(), input.value.as_deref())
        .await?;
    Ok(JsonApi::created(Document::new(resource(&key, &state.urls))))
}

/// The organization's SSH keys, oldest first (names only).
#[utoipa::path(get, path = "/organizations/{organization}/ssh-keys", tag = "ssh-keys",
    params(("organization" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<SshKeyAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<SshKeyAttributes>>> {
    let page = params.page()?;
    let found = state.services.list_ssh_keys(&caller, &org, page).await?;
    let data = found
        .items
        .iter()
        .map(|k| resource(k, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(&uri),
    )))
}

#[utoipa::path(get, path = "/ssh-keys/{ssh_key_id}", tag = "ssh-keys",
    params(("ssh_key_id" = String, Path)),
    responses((status = 200, body = Document<SshKeyAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<SshKeyAttributes>>> {
    let key = state.services.ssh_key(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(resource(&key, &state.urls))))
}

/// Renames a key or replaces its value.
#[utoipa::path(patch, path = "/ssh-keys/{ssh_key_id}", tag = "ssh-keys",
    params(("ssh_key_id" = String, Path)),
    request_body(content = Body<SshKeyInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<SshKeyAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Body<SshKeyInput>>,
) -> ApiResult<JsonApi<Document<SshKeyAttributes>>> {
    let (input, _) = body.into_parts("ssh-keys")?;
    let key = state
        .services
        .update_ssh_key(&caller, &id, input.name.as_deref(), input.value.as_deref())
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&key, &state.urls))))
}

/// Deletes a key; workspaces using it are left without one.
#[utoipa::path(delete, path = "/ssh-keys/{ssh_key_id}", tag = "ssh-keys",
    params(("ssh_key_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.delete_ssh_key(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"data": {"type": "workspaces", "attributes": {"id": "sshkey-..."}}}`; a null or absent
/// `id` unassigns (go-tfe's `WorkspaceAssignSSHKeyOptions` and its unassign).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct WorkspaceSshKeyInput {
    id: Option<String>,
}

async fn set_key(
    state: &AppState,
    caller: &terrace_domain::Caller,
    workspace_id: &str,
    body: Body<WorkspaceSshKeyInput>,
) -> ApiResult<JsonApi<Document<WorkspaceAttributes>>> {
    let (input, _) = body.into_parts("workspaces")?;
    let key = input.id.filter(|id| !id.is_empty());
    let view = state
        .services
        .set_workspace_ssh_key(caller, workspace_id, key.as_deref())
        .await?;
    Ok(JsonApi::ok(Document::new(workspaces::resource(
        &view,
        &state.urls,
    ))))
}

/// Assigns an SSH key of the workspace's organization to it (`id`), or unassigns it (`id`
/// null), as go-tfe's `AssignSSHKey` and `UnassignSSHKey` do. Needs administering the
/// workspace.
#[utoipa::path(patch, path = "/workspaces/{workspace_id}/relationships/ssh-key", tag = "ssh-keys",
    params(("workspace_id" = String, Path)),
    request_body(content = Body<WorkspaceSshKeyInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<WorkspaceAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn set_workspace_key(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Body<WorkspaceSshKeyInput>>,
) -> ApiResult<JsonApi<Document<WorkspaceAttributes>>> {
    set_key(&state, &caller, &id, body).await
}

/// The same as PATCH (some clients POST the assignment).
#[utoipa::path(post, path = "/workspaces/{workspace_id}/relationships/ssh-key", tag = "ssh-keys",
    params(("workspace_id" = String, Path)),
    request_body(content = Body<WorkspaceSshKeyInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<WorkspaceAttributes>), (status = 403, body = ErrorDocument),
        (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn assign(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Body<WorkspaceSshKeyInput>>,
) -> ApiResult<JsonApi<Document<WorkspaceAttributes>>> {
    set_key(&state, &caller, &id, body).await
}
