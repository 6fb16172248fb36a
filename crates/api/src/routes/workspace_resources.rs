//! `/workspaces/:id/resources`: the managed resource instances of a workspace's current
//! state (HCP Terraform's workspace resources), read from the summary its upload recorded.

use axum::extract::{OriginalUri, Path, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use terrace_domain::state::resources::WorkspaceResource;
use terrace_domain::workspaces::WorkspaceRef;
use terrace_storage::model::StateVersion;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{time, JsonApi, ListDocument, Params, Resource};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct WorkspaceResourceAttributes {
    address: String,
    name: String,
    /// `root`, or the module path without its `module.` words.
    module: String,
    provider: String,
    provider_type: String,
    /// The instance key (`0`, `eu`), null without `count` or `for_each`.
    name_index: Option<String>,
    /// The current state version's: Terrace keeps no history per resource.
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    updated_at: DateTime<Utc>,
    modified_by_state_version_id: String,
}

fn resource(r: WorkspaceResource, sv: &StateVersion) -> Resource<WorkspaceResourceAttributes> {
    Resource::new(
        "resources",
        &r.id,
        WorkspaceResourceAttributes {
            address: r.address,
            name: r.name,
            module: r.module,
            provider: r.provider,
            provider_type: r.provider_type,
            name_index: r.name_index,
            created_at: sv.created_at,
            updated_at: sv.created_at,
            modified_by_state_version_id: sv.id.clone(),
        },
    )
}

/// The managed resource instances of the workspace's current state, in state order (none
/// before its first state).
#[utoipa::path(get, path = "/workspaces/{workspace_id}/resources", tag = "state-versions",
    params(("workspace_id" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<WorkspaceResourceAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<WorkspaceResourceAttributes>>> {
    let page = params.page()?;
    let (found, sv) = state
        .services
        .workspace_resources(&caller, &WorkspaceRef::Id(id), page)
        .await?;
    let data = match &sv {
        Some(sv) => found.items.into_iter().map(|r| resource(r, sv)).collect(),
        None => Vec::new(),
    };
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(&uri),
    )))
}
