//! Agent pools and their agents: `/organizations/:org/agent-pools`, `/agent-pools/:id`,
//! `/agent-pools/:id/authentication-tokens` (agent tokens; `/authentication-tokens/:id` is in
//! [`super::tokens`]), `/agent-pools/:id/agents` and `/agents/:id`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_domain::agent_pools::{AgentPoolChanges, AgentPoolView, AgentView, PoolUser};
use terrace_storage::model::AgentPoolSort;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::tokens::{self, TokenAttributes, TokenInput};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{
    time, Body, Document, JsonApi, JsonBody, ListDocument, Params, Relationship, RelationshipMany,
    Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(list_agents))
        .routes(routes!(show_agent))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct AgentPoolAttributes {
    name: String,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    organization_scoped: bool,
    /// Listeners connected to the pool now.
    agent_count: u64,
}

fn resource(view: &AgentPoolView, urls: &Urls) -> Resource<AgentPoolAttributes> {
    let pool = &view.pool;
    let path = format!("/agent-pools/{}", pool.id);
    Resource::new(
        "agent-pools",
        &pool.id,
        AgentPoolAttributes {
            name: pool.name.clone(),
            created_at: pool.created_at,
            organization_scoped: pool.organization_scoped,
            agent_count: view.agent_count,
        },
    )
    .relationship(
        "organization",
        Relationship::one("organizations", &view.organization_name)
            .with_related(urls.api(&format!("/organizations/{}", view.organization_name))),
    )
    .relationship(
        "workspaces",
        Relationship::many("workspaces", view.workspaces.iter().cloned()),
    )
    .relationship(
        "allowed-workspaces",
        Relationship::many("workspaces", view.scope.allowed_workspaces.iter().cloned()),
    )
    .relationship(
        "allowed-projects",
        Relationship::many("projects", view.scope.allowed_projects.iter().cloned()),
    )
    .relationship(
        "excluded-workspaces",
        Relationship::many("workspaces", view.scope.excluded_workspaces.iter().cloned()),
    )
    .relationship(
        "agents",
        Relationship::related(urls.api(&format!("{path}/agents"))),
    )
    .relationship(
        "authentication-tokens",
        Relationship::related(urls.api(&format!("{path}/authentication-tokens"))),
    )
    .link("self", urls.api(&path))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct AgentAttributes {
    name: String,
    /// idle, busy or unknown (silent for over 30 s; forgotten after 90 s).
    status: &'static str,
    ip_address: Option<String>,
    #[serde(serialize_with = "time::serialize")]
    last_ping_at: DateTime<Utc>,
    hostname: String,
    version: String,
    executor: String,
    capacity: i64,
    running_jobs: u64,
}

fn agent_resource(view: &AgentView, urls: &Urls) -> Resource<AgentAttributes> {
    let l = &view.listener;
    Resource::new(
        "agents",
        &l.id,
        AgentAttributes {
            name: l.name.clone(),
            status: view.status.as_str(),
            ip_address: l.ip_address.clone(),
            last_ping_at: l.last_heartbeat_at,
            hostname: l.hostname.clone(),
            version: l.version.clone(),
            executor: l.executor.clone(),
            capacity: l.capacity,
            running_jobs: view.running_jobs,
        },
    )
    .relationship(
        "agent-pool",
        Relationship::one("agent-pools", &view.pool_id)
            .with_related(urls.api(&format!("/agent-pools/{}", view.pool_id))),
    )
    .link("self", urls.api(&format!("/agents/{}", l.id)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct AgentPoolInput {
    name: Option<String>,
    organization_scoped: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct AgentPoolRelationships {
    allowed_workspaces: Option<RelationshipMany>,
    allowed_projects: Option<RelationshipMany>,
    excluded_workspaces: Option<RelationshipMany>,
}

type AgentPoolBody = Body<AgentPoolInput, AgentPoolRelationships>;

/// The IDs of a to-many relationship of the pool, each linkage of type `kind` (or untyped).
fn linked_ids(
    many: Option<RelationshipMany>,
    name: &str,
    kind: &str,
) -> ApiResult<Option<Vec<String>>> {
    let Some(many) = many else {
        return Ok(None);
    };
    let pointer = format!("/data/relationships/{name}");
    many.data
        .iter()
        .map(|linkage| {
            if linkage
                .kind
                .as_deref()
                .is_some_and(|k| !k.is_empty() && k != kind)
            {
                return Err(ApiError::invalid(
                    &pointer,
                    format!("{name} must be {kind}"),
                ));
            }
            linkage
                .id
                .clone()
                .ok_or_else(|| ApiError::invalid(&pointer, format!("each of {name} needs an id")))
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Some)
}

fn changes(body: AgentPoolBody) -> ApiResult<AgentPoolChanges> {
    let (input, relationships) = body.into_parts("agent-pools")?;
    Ok(AgentPoolChanges {
        name: input.name,
        organization_scoped: input.organization_scoped,
        allowed_workspaces: linked_ids(
            relationships.allowed_workspaces,
            "allowed-workspaces",
            "workspaces",
        )?,
        allowed_projects: linked_ids(
            relationships.allowed_projects,
            "allowed-projects",
            "projects",
        )?,
        excluded_workspaces: linked_ids(
            relationships.excluded_workspaces,
            "excluded-workspaces",
            "workspaces",
        )?,
    })
}

/// Agent pools of an organization; `q` matches a substring of the name.
#[utoipa::path(get, path = "/organizations/{organization}/agent-pools", tag = "agent-pools",
    params(("organization" = String, Path), ("q" = Option<String>, Query),
        ("sort" = Option<String>, Query, description = "name (default), created-at; a leading - reverses"),
        ("filter[allowed_workspaces][name]" = Option<String>, Query, description = "Only pools that serve the workspace of that name"),
        ("filter[allowed_projects][name]" = Option<String>, Query, description = "Only pools that serve the project of that name"),
        PageParams),
    responses((status = 200, body = ListDocument<AgentPoolAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<AgentPoolAttributes>>> {
    let page = params.page()?;
    let sort = params
        .get("sort")
        .map(|s| s.parse::<AgentPoolSort>().map_err(ApiError::bad_request))
        .transpose()?
        .unwrap_or(AgentPoolSort::Name);
    let serving = match (
        params.get("filter[allowed_workspaces][name]"),
        params.get("filter[allowed_projects][name]"),
    ) {
        (Some(name), _) => Some(PoolUser::Workspace(name.to_string())),
        (None, Some(name)) => Some(PoolUser::Project(name.to_string())),
        (None, None) => None,
    };
    let found = state
        .services
        .list_agent_pools(&caller, &org, params.get("q"), sort, serving, page)
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

/// Creates an agent pool (organization owners); organization-scoped unless told otherwise.
#[utoipa::path(post, path = "/organizations/{organization}/agent-pools", tag = "agent-pools",
    params(("organization" = String, Path)),
    request_body(content = Body<AgentPoolInput, AgentPoolRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<AgentPoolAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<AgentPoolBody>,
) -> ApiResult<JsonApi<Document<AgentPoolAttributes>>> {
    let changes = changes(body)?;
    let view = state
        .services
        .create_agent_pool(&caller, &org, changes)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &view,
        &state.urls,
    ))))
}

#[utoipa::path(get, path = "/agent-pools/{agent_pool_id}", tag = "agent-pools",
    params(("agent_pool_id" = String, Path)),
    responses((status = 200, body = Document<AgentPoolAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<AgentPoolAttributes>>> {
    let view = state.services.show_agent_pool(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Renames the pool, changes its scope, or replaces its allowed workspaces, allowed projects
/// or excluded workspaces (each list given replaces the old one).
#[utoipa::path(patch, path = "/agent-pools/{agent_pool_id}", tag = "agent-pools",
    params(("agent_pool_id" = String, Path)),
    request_body(content = Body<AgentPoolInput, AgentPoolRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<AgentPoolAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AgentPoolBody>,
) -> ApiResult<JsonApi<Document<AgentPoolAttributes>>> {
    let changes = changes(body)?;
    let view = state
        .services
        .update_agent_pool(&caller, &id, changes)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Deletes the pool and its tokens (422 while workspaces use it).
#[utoipa::path(delete, path = "/agent-pools/{agent_pool_id}", tag = "agent-pools",
    params(("agent_pool_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.delete_agent_pool(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The pool's agent tokens (never their secrets), 20 a page unless asked otherwise.
#[utoipa::path(get, path = "/agent-pools/{agent_pool_id}/authentication-tokens", tag = "agent-pools",
    params(("agent_pool_id" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<TokenAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_tokens(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<TokenAttributes>>> {
    // Paged like TFE's (20 by default), whose clients read the total from the meta.
    let page = params.page()?;
    let found = state.services.list_agent_tokens(&caller, &id, page).await?;
    let data = found
        .items
        .iter()
        .map(|t| tokens::resource(t, None, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(&uri),
    )))
}

/// Creates an agent token for the pool's listeners; the response carries the secret, once.
#[utoipa::path(post, path = "/agent-pools/{agent_pool_id}/authentication-tokens", tag = "agent-pools",
    params(("agent_pool_id" = String, Path)),
    request_body(content = Body<TokenInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<TokenAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Body<TokenInput>>,
) -> ApiResult<JsonApi<Document<TokenAttributes>>> {
    // go-tfe sends type "agent-tokens"; HCP Terraform answers "authentication-tokens".
    let kind = match body.data.as_ref().and_then(|d| d.kind.as_deref()) {
        Some("agent-tokens") => "agent-tokens",
        _ => "authentication-tokens",
    };
    let (input, _) = body.into_parts(kind)?;
    let (token, secret) = state
        .services
        .create_agent_token(&caller, &id, input.description)
        .await?;
    Ok(JsonApi::created(Document::new(tokens::resource(
        &token,
        Some(secret),
        &state.urls,
    ))))
}

/// The listeners connected to the pool, with their status.
#[utoipa::path(get, path = "/agent-pools/{agent_pool_id}/agents", tag = "agent-pools",
    params(("agent_pool_id" = String, Path)),
    responses((status = 200, body = ListDocument<AgentAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_agents(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<ListDocument<AgentAttributes>>> {
    let agents = state.services.list_agents(&caller, &id).await?;
    Ok(JsonApi::ok(ListDocument::all(
        agents
            .iter()
            .map(|a| agent_resource(a, &state.urls))
            .collect(),
    )))
}

#[utoipa::path(get, path = "/agents/{agent_id}", tag = "agent-pools",
    params(("agent_id" = String, Path)),
    responses((status = 200, body = Document<AgentAttributes>), (status = 404, body = ErrorDocument)))]
async fn show_agent(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<AgentAttributes>>> {
    let agent = state.services.agent(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(agent_resource(
        &agent,
        &state.urls,
    ))))
}
