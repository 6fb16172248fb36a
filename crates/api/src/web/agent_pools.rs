//! An organization's agent pools: listed and created; one pool's agents (status, last seen),
//! the workspaces that run on it, its tokens (created with the secret shown once, revoked),
//! its name and scope, and its deletion. The same domain calls as `/agent-pools` and
//! `/agent-pools/:id/authentication-tokens`: members read, owners manage.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use terrace_auth::policy::{organization_permissions, Action};
use terrace_domain::access::WorkspaceRef;
use terrace_domain::agent_pools::{AgentPoolChanges, AgentPoolView};
use terrace_domain::DomainError;
use terrace_storage::model::{AgentPoolSort, PageRequest, TokenKind};

use super::{
    failure, forged_form, form_token_ok, page_count, path_segment, redirect, shown_once,
    status_for, when, PageQuery, Session, TokenForm,
};
use crate::app::AppState;
use crate::jsonapi::RawBody;

/// How many of a pool's workspaces its page names.
const WORKSPACES_SHOWN: usize = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PoolForm {
    csrf: String,
    name: String,
    /// Checkbox: present when the pool serves every workspace of the organization.
    organization_scoped: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenCreateForm {
    csrf: String,
    description: String,
}

fn pools_path(organization: &str) -> String {
    format!("/app/{}/agent-pools", path_segment(organization))
}

fn pool_path(organization: &str, pool_id: &str) -> String {
    format!("{}/{}", pools_path(organization), path_segment(pool_id))
}

/// The organization's pools as `(id, name)`, to pick one for agent execution (none for a
/// caller who may not list them).
pub(super) async fn choices(
    state: &AppState,
    session: &Session,
    organization: &str,
) -> Result<Vec<(String, String)>, DomainError> {
    let found = state
        .services
        .list_agent_pools(
            &session.caller,
            organization,
            None,
            AgentPoolSort::Name,
            None,
            PageRequest::all(),
        )
        .await;
    match found {
        Ok(found) => Ok(found
            .items
            .into_iter()
            .map(|p| (p.pool.id, p.pool.name))
            .collect()),
        Err(DomainError::Forbidden(_)) => Ok(Vec::new()),
        Err(err) => Err(err),
    }
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    list_page(&state, &session, &organization, &query, None).await
}

/// The pools page, with `error` about the create form just sent if it was refused.
async fn list_page(
    state: &AppState,
    session: &Session,
    organization: &str,
    query: &PageQuery,
    error: Option<&str>,
) -> Response {
    let services = &state.services;
    let org = match services.organization(&session.caller, organization).await {
        Ok(org) => org,
        Err(err) => return failure(state, err),
    };
    let page = query.request();
    let found = match services
        .list_agent_pools(
            &session.caller,
            organization,
            None,
            AgentPoolSort::Name,
            None,
            page,
        )
        .await
    {
        Ok(found) => found,
        Err(err) => return failure(state, err),
    };
    let pools: Vec<_> = found
        .items
        .iter()
        .map(|view| {
            minijinja::context! {
                id => view.pool.id.clone(),
                name => view.pool.name.clone(),
                organization_scoped => view.pool.organization_scoped,
                agents => view.agent_count,
                workspaces => view.workspaces.len(),
            }
        })
        .collect();
    let status = status_for(error);
    state.pages.render(
        status,
        "app/agent_pools.html",
        minijinja::context! {
            session => session.view(),
            organization,
            pools,
            total => found.total,
            page => page.number,
            pages => page_count(found.total),
            can_manage => organization_permissions(org.access).can_update_agent_pools,
            error,
        },
    )
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
    RawBody(body): RawBody,
) -> Response {
    let form: PoolForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let changes = AgentPoolChanges {
        name: Some(form.name.trim().to_string()),
        organization_scoped: Some(form.organization_scoped.is_some()),
        ..AgentPoolChanges::default()
    };
    match state
        .services
        .create_agent_pool(&session.caller, &organization, changes)
        .await
    {
        Ok(view) => redirect(&pool_path(&organization, &view.pool.id)),
        Err(DomainError::Invalid { detail, .. }) => {
            list_page(
                &state,
                &session,
                &organization,
                &PageQuery::default(),
                Some(&detail),
            )
            .await
        }
        Err(err) => failure(&state, err),
    }
}

/// The pool a page's path names: one of that organization's, as the caller may see it (a
/// pool of another organization is not found under this one's path).
async fn named_pool(
    state: &AppState,
    session: &Session,
    organization: &str,
    pool_id: &str,
) -> Result<AgentPoolView, DomainError> {
    let view = state
        .services
        .show_agent_pool(&session.caller, pool_id)
        .await?;
    if view.organization_name != organization {
        return Err(DomainError::NotFound("agent pool"));
    }
    Ok(view)
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path((organization, pool_id)): Path<(String, String)>,
) -> Response {
    pool_page(&state, &session, &organization, &pool_id, None, None).await
}

/// One pool's page; with `created`, a new token's secret, shown this once; with `error`, why
/// the form just sent was refused.
async fn pool_page(
    state: &AppState,
    session: &Session,
    organization: &str,
    pool_id: &str,
    created: Option<&str>,
    error: Option<&str>,
) -> Response {
    let services = &state.services;
    let view = match named_pool(state, session, organization, pool_id).await {
        Ok(view) => view,
        Err(err) => return failure(state, err),
    };
    let agents = match services.list_agents(&session.caller, pool_id).await {
        Ok(agents) => agents,
        Err(err) => return failure(state, err),
    };
    let tokens = match services
        .list_agent_tokens(&session.caller, pool_id, PageRequest::all())
        .await
    {
        Ok(found) => found.items,
        Err(err) => return failure(state, err),
    };
    // Only the workspaces the caller may read are named.
    let mut workspaces = Vec::new();
    for id in view.workspaces.iter().take(WORKSPACES_SHOWN) {
        let reference = WorkspaceRef::Id(id.clone());
        if let Ok(ws) = services.workspace(&session.caller, &reference).await {
            workspaces.push(ws.workspace.name);
        }
    }
    let agents: Vec<_> = agents
        .into_iter()
        .map(|a| {
            minijinja::context! {
                name => a.listener.name,
                hostname => a.listener.hostname,
                version => a.listener.version,
                executor => a.listener.executor,
                capacity => a.listener.capacity,
                running => a.running_jobs,
                ip_address => a.listener.ip_address,
                status => a.status.as_str(),
                last_seen => when(a.listener.last_heartbeat_at),
            }
        })
        .collect();
    let tokens: Vec<_> = tokens
        .into_iter()
        .map(|t| {
            minijinja::context! {
                id => t.id,
                description => t.description,
                created_at => when(t.created_at),
                last_used_at => t.last_used_at.map(when),
            }
        })
        .collect();
    let status = status_for(error);
    shown_once(state.pages.render(
        status,
        "app/agent_pool.html",
        minijinja::context! {
            session => session.view(),
            organization,
            pool => minijinja::context! {
                id => view.pool.id,
                name => view.pool.name,
                organization_scoped => view.pool.organization_scoped,
                allowed_workspaces => view.scope.allowed_workspaces.len(),
                allowed_projects => view.scope.allowed_projects.len(),
                excluded_workspaces => view.scope.excluded_workspaces.len(),
                created_at => when(view.pool.created_at),
            },
            agents,
            tokens,
            workspaces,
            more_workspaces => view.workspaces.len().saturating_sub(WORKSPACES_SHOWN),
            can_manage => organization_permissions(view.access).can_update_agent_pools,
            created,
            error,
        },
    ))
}

/// Renames the pool or changes whether it serves every workspace.
pub async fn update(
    State(state): State<AppState>,
    session: Session,
    Path((organization, pool_id)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: PoolForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    if let Err(err) = named_pool(&state, &session, &organization, &pool_id).await {
        return failure(&state, err);
    }
    let changes = AgentPoolChanges {
        name: Some(form.name.trim().to_string()),
        organization_scoped: Some(form.organization_scoped.is_some()),
        ..AgentPoolChanges::default()
    };
    refused_or(
        &state,
        &session,
        &organization,
        &pool_id,
        state
            .services
            .update_agent_pool(&session.caller, &pool_id, changes)
            .await
            .map(|_| ()),
    )
    .await
}

pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    Path((organization, pool_id)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: TokenForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    if let Err(err) = named_pool(&state, &session, &organization, &pool_id).await {
        return failure(&state, err);
    }
    match state
        .services
        .delete_agent_pool(&session.caller, &pool_id)
        .await
    {
        Ok(()) => redirect(&pools_path(&organization)),
        Err(DomainError::Invalid { detail, .. }) => {
            pool_page(
                &state,
                &session,
                &organization,
                &pool_id,
                None,
                Some(&detail),
            )
            .await
        }
        Err(err) => failure(&state, err),
    }
}

pub async fn create_token(
    State(state): State<AppState>,
    session: Session,
    Path((organization, pool_id)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: TokenCreateForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    if let Err(err) = named_pool(&state, &session, &organization, &pool_id).await {
        return failure(&state, err);
    }
    match state
        .services
        .create_agent_token(
            &session.caller,
            &pool_id,
            Some(form.description.trim().to_string()),
        )
        .await
    {
        Ok((_, secret)) => {
            pool_page(
                &state,
                &session,
                &organization,
                &pool_id,
                Some(&secret),
                None,
            )
            .await
        }
        Err(DomainError::Invalid { detail, .. }) => {
            pool_page(
                &state,
                &session,
                &organization,
                &pool_id,
                None,
                Some(&detail),
            )
            .await
        }
        Err(err) => failure(&state, err),
    }
}

pub async fn delete_token(
    State(state): State<AppState>,
    session: Session,
    Path((organization, pool_id, token_id)): Path<(String, String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: TokenForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let services = &state.services;
    let pool = match named_pool(&state, &session, &organization, &pool_id).await {
        Ok(view) => view.pool,
        Err(err) => return failure(&state, err),
    };
    // Only a token of this pool: any other is not found here.
    match services
        .authentication_token(&session.caller, &token_id, Action::ManageAgentPools)
        .await
    {
        Ok(token) if token.kind == TokenKind::Agent && token.owner_id == pool.id => {}
        Ok(_) => return failure(&state, DomainError::NotFound("authentication token")),
        Err(err) => return failure(&state, err),
    }
    refused_or(
        &state,
        &session,
        &organization,
        &pool_id,
        services
            .delete_authentication_token(&session.caller, &token_id)
            .await,
    )
    .await
}

/// After a change to the pool: back to its page, or the page again saying why it was refused.
async fn refused_or(
    state: &AppState,
    session: &Session,
    organization: &str,
    pool_id: &str,
    outcome: Result<(), DomainError>,
) -> Response {
    match outcome {
        Ok(()) => redirect(&pool_path(organization, pool_id)),
        Err(DomainError::Invalid { detail, .. }) => {
            pool_page(state, session, organization, pool_id, None, Some(&detail)).await
        }
        Err(err) => failure(state, err),
    }
}
