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
use terrace_storage::model::{AgentPoolScope, AgentPoolSort, PageRequest, TokenKind};

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

/// A change of which workspaces and projects the pool serves: a workspace by name (added) or
/// ID (removed), a project by ID.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ScopeForm {
    csrf: String,
    workspace: String,
    project: String,
}

/// One of the pool's lists, and whether an ID joins or leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeChange {
    AllowWorkspace,
    DisallowWorkspace,
    AllowProject,
    DisallowProject,
    ExcludeWorkspace,
    IncludeWorkspace,
}

impl ScopeChange {
    fn parse(action: &str) -> Option<ScopeChange> {
        use ScopeChange::*;
        Some(match action {
            "allow-workspace" => AllowWorkspace,
            "disallow-workspace" => DisallowWorkspace,
            "allow-project" => AllowProject,
            "disallow-project" => DisallowProject,
            "exclude-workspace" => ExcludeWorkspace,
            "include-workspace" => IncludeWorkspace,
            _ => return None,
        })
    }

    fn names_a_project(self) -> bool {
        matches!(
            self,
            ScopeChange::AllowProject | ScopeChange::DisallowProject
        )
    }
}

/// The pool's lists after `change` of `id`: only the list it touches is sent, whole, as
/// `PATCH /agent-pools/:id` takes it.
pub fn rescoped(scope: &AgentPoolScope, change: ScopeChange, id: &str) -> AgentPoolChanges {
    use ScopeChange::*;
    let with = |list: &[String]| {
        let mut list = list.to_vec();
        if !list.iter().any(|known| known == id) {
            list.push(id.to_string());
        }
        Some(list)
    };
    let without = |list: &[String]| Some(list.iter().filter(|k| *k != id).cloned().collect());
    let mut changes = AgentPoolChanges::default();
    match change {
        AllowWorkspace => changes.allowed_workspaces = with(&scope.allowed_workspaces),
        DisallowWorkspace => changes.allowed_workspaces = without(&scope.allowed_workspaces),
        AllowProject => changes.allowed_projects = with(&scope.allowed_projects),
        DisallowProject => changes.allowed_projects = without(&scope.allowed_projects),
        ExcludeWorkspace => changes.excluded_workspaces = with(&scope.excluded_workspaces),
        IncludeWorkspace => changes.excluded_workspaces = without(&scope.excluded_workspaces),
    }
    changes
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

/// Each workspace's name, if the caller may read it.
async fn workspace_names(
    state: &AppState,
    session: &Session,
    ids: &[String],
) -> Vec<(String, Option<String>)> {
    let mut named = Vec::with_capacity(ids.len());
    for id in ids {
        let reference = WorkspaceRef::Id(id.clone());
        let name = state
            .services
            .workspace(&session.caller, &reference)
            .await
            .ok()
            .map(|ws| ws.workspace.name);
        named.push((id.clone(), name));
    }
    named
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
    let shown = &view.workspaces[..view.workspaces.len().min(WORKSPACES_SHOWN)];
    let workspaces: Vec<String> = workspace_names(state, session, shown)
        .await
        .into_iter()
        .filter_map(|(_, name)| name)
        .collect();
    // The scope's workspaces by name (unnamed: those the caller may not read), its projects too.
    let named = |found: Vec<(String, Option<String>)>| -> Vec<minijinja::Value> {
        found
            .into_iter()
            .map(|(id, name)| minijinja::context! { id, name })
            .collect()
    };
    let allowed_workspaces =
        named(workspace_names(state, session, &view.scope.allowed_workspaces).await);
    let excluded_workspaces =
        named(workspace_names(state, session, &view.scope.excluded_workspaces).await);
    let projects = match super::projects::choices(state, session, organization).await {
        Ok(projects) => projects,
        Err(err) => return failure(state, err),
    };
    let allowed_projects: Vec<_> = view
        .scope
        .allowed_projects
        .iter()
        .map(|id| {
            let name = projects
                .iter()
                .find(|(p, _)| p == id)
                .map(|(_, n)| n.clone());
            minijinja::context! { id, name }
        })
        .collect();
    let other_projects: Vec<_> = projects
        .iter()
        .filter(|(id, _)| !view.scope.allowed_projects.contains(id))
        .cloned()
        .collect();
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
            allowed_workspaces,
            excluded_workspaces,
            allowed_projects,
            other_projects,
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

/// Adds a workspace or project to one of the pool's lists, or takes it off.
pub async fn rescope(
    State(state): State<AppState>,
    session: Session,
    Path((organization, pool_id, action)): Path<(String, String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: ScopeForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let Some(change) = ScopeChange::parse(&action) else {
        return failure(&state, DomainError::NotFound("page"));
    };
    let view = match named_pool(&state, &session, &organization, &pool_id).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    // Refused before the names are looked up: a reader learns nothing from the answer.
    if !organization_permissions(view.access).can_update_agent_pools {
        let refusal = DomainError::Forbidden("You may not change this agent pool.".into());
        return failure(&state, refusal);
    }
    let id = if change.names_a_project() {
        form.project.trim().to_string()
    } else if matches!(
        change,
        ScopeChange::AllowWorkspace | ScopeChange::ExcludeWorkspace
    ) {
        // Added by name, as people know their workspaces.
        let name = form.workspace.trim();
        match super::named_workspace(&state, &session, &organization, name).await {
            Ok(ws) => ws.workspace.id,
            Err(DomainError::NotFound(_)) => String::new(),
            Err(err) => return failure(&state, err),
        }
    } else {
        form.workspace.trim().to_string()
    };
    if id.is_empty() {
        let detail = "Name a workspace of this organization, or choose a project.";
        return pool_page(
            &state,
            &session,
            &organization,
            &pool_id,
            None,
            Some(detail),
        )
        .await;
    }
    let changes = rescoped(&view.scope, change, &id);
    let outcome = state
        .services
        .update_agent_pool(&session.caller, &pool_id, changes)
        .await
        .map(|_| ());
    refused_or(&state, &session, &organization, &pool_id, outcome).await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> AgentPoolScope {
        AgentPoolScope {
            allowed_workspaces: vec!["ws-a".into()],
            allowed_projects: vec!["prj-a".into()],
            excluded_workspaces: vec!["ws-x".into()],
        }
    }

    #[test]
    fn a_scope_change_sends_the_one_list_it_touches_whole() {
        let changes = rescoped(&scope(), ScopeChange::AllowWorkspace, "ws-b");
        assert_eq!(
            changes.allowed_workspaces,
            Some(vec!["ws-a".into(), "ws-b".into()])
        );
        assert_eq!(changes.allowed_projects, None);
        assert_eq!(changes.excluded_workspaces, None);
        // Adding what is there already changes nothing; removing what is not, neither.
        let again = rescoped(&scope(), ScopeChange::AllowProject, "prj-a");
        assert_eq!(again.allowed_projects, Some(vec!["prj-a".into()]));
        let absent = rescoped(&scope(), ScopeChange::IncludeWorkspace, "ws-zzz");
        assert_eq!(absent.excluded_workspaces, Some(vec!["ws-x".into()]));
        let removed = rescoped(&scope(), ScopeChange::DisallowWorkspace, "ws-a");
        assert_eq!(removed.allowed_workspaces, Some(Vec::new()));
        let removed = rescoped(&scope(), ScopeChange::DisallowProject, "prj-a");
        assert_eq!(removed.allowed_projects, Some(Vec::new()));
        let excluded = rescoped(&scope(), ScopeChange::ExcludeWorkspace, "ws-y");
        assert_eq!(
            excluded.excluded_workspaces,
            Some(vec!["ws-x".into(), "ws-y".into()])
        );
    }

    #[test]
    fn only_known_scope_actions_parse() {
        assert_eq!(
            ScopeChange::parse("allow-project"),
            Some(ScopeChange::AllowProject)
        );
        assert!(ScopeChange::parse("allow-everything").is_none());
        assert!(ScopeChange::AllowProject.names_a_project());
        assert!(!ScopeChange::ExcludeWorkspace.names_a_project());
    }
}
