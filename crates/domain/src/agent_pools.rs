//! Agent pools: groups of listeners an organization runs in its own networks (`terrace
//! listener` with a pool token). Workspaces in agent execution mode name a pool; their jobs are
//! claimed only by that pool's listeners. Organization owners manage pools and their tokens;
//! other members may read them. Agents are the pool's connected listeners.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use terrace_auth::policy::{Access, Action};
use terrace_storage::model::{
    AgentPool, AgentPoolScope, AgentPoolSort, Listener, Organization, Page, PageRequest, Token,
    TokenKind, Workspace,
};
use terrace_storage::store::ProjectFilter;
use terrace_storage::{clock, ids};

use crate::organizations::name_taken;
use crate::{validate, Caller, DomainError, DomainResult, Services};

/// A listener that has not heartbeated for this long (three beats) is of unknown status.
const AGENT_UNKNOWN_AFTER_SECONDS: i64 = 30;

#[derive(Debug, Clone)]
pub struct AgentPoolView {
    pub pool: AgentPool,
    pub organization_name: String,
    /// Connected listeners.
    pub agent_count: u64,
    /// Workspaces that run on the pool.
    pub workspaces: Vec<String>,
    /// Allowed workspaces and projects, excluded workspaces.
    pub scope: AgentPoolScope,
    pub access: Access,
}

/// What a create or update may set; `None` leaves it as it is.
#[derive(Debug, Clone, Default)]
pub struct AgentPoolChanges {
    pub name: Option<String>,
    pub organization_scoped: Option<bool>,
    pub allowed_workspaces: Option<Vec<String>>,
    pub allowed_projects: Option<Vec<String>>,
    pub excluded_workspaces: Option<Vec<String>>,
}

/// Whose pools a list asks for: those serving the workspace, or the project, of that name.
#[derive(Debug, Clone)]
pub enum PoolUser {
    Workspace(String),
    Project(String),
}

/// Whether a pool serves a workspace of its organization: one it allows by name always;
/// otherwise one its organization scope or an allowed project brings in, unless excluded.
pub fn pool_serves(pool: &AgentPool, scope: &AgentPoolScope, ws: &Workspace) -> bool {
    serves(pool.organization_scoped, scope, &ws.id, &ws.project_id)
}

/// Whether a pool may be a project's default: organization-scoped, or allowing the project.
pub fn pool_serves_project(pool: &AgentPool, scope: &AgentPoolScope, project_id: &str) -> bool {
    pool.organization_scoped || scope.allowed_projects.iter().any(|p| p == project_id)
}

fn serves(
    organization_scoped: bool,
    scope: &AgentPoolScope,
    workspace_id: &str,
    project_id: &str,
) -> bool {
    let named = |ids: &[String], id: &str| ids.iter().any(|i| i == id);
    if named(&scope.allowed_workspaces, workspace_id) {
        return true;
    }
    (organization_scoped || named(&scope.allowed_projects, project_id))
        && !named(&scope.excluded_workspaces, workspace_id)
}

/// How a connected listener is doing, as HCP Terraform names agent statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentStatus {
    Idle,
    Busy,
    /// Silent for a while: it may be gone (the reaper forgets it after 90 s).
    Unknown,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Idle => "idle",
            AgentStatus::Busy => "busy",
            AgentStatus::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone)]
pub struct AgentView {
    pub listener: Listener,
    pub pool_id: String,
    pub status: AgentStatus,
    pub running_jobs: u64,
}

/// A pool that is not there (or hidden) makes what hangs off it not found too.
fn not_found_as(err: DomainError, what: &'static str) -> DomainError {
    match err {
        DomainError::NotFound(_) => DomainError::NotFound(what),
        other => other,
    }
}

fn agent_status(listener: &Listener, running: u64, now: DateTime<Utc>) -> AgentStatus {
    if now - listener.last_heartbeat_at > Duration::seconds(AGENT_UNKNOWN_AFTER_SECONDS) {
        AgentStatus::Unknown
    } else if running > 0 {
        AgentStatus::Busy
    } else {
        AgentStatus::Idle
    }
}

impl Services {
    /// An organization's pools in `sort` order; `query` matches a substring of the name and
    /// `serving`, when given, keeps the pools that serve that workspace or project.
    pub async fn list_agent_pools(
        &self,
        caller: &Caller,
        org_name: &str,
        query: Option<&str>,
        sort: AgentPoolSort,
        serving: Option<PoolUser>,
        page: PageRequest,
    ) -> DomainResult<Page<AgentPoolView>> {
        let (org, access) = self
            .organization_for(caller, org_name, Action::ReadOrganization)
            .await?;
        let found = match serving {
            None => {
                self.store
                    .list_agent_pools(&org.id, query, sort, page)
                    .await?
            }
            // Few pools per organization: the rule is applied to all of them here.
            Some(user) => {
                let all = self
                    .store
                    .list_agent_pools(&org.id, query, sort, PageRequest::all())
                    .await?
                    .items;
                let (workspace_id, project_id) = match user {
                    PoolUser::Workspace(name) => {
                        match self.store.workspace_by_name(&org.id, &name).await? {
                            Some(ws) => (Some(ws.id), Some(ws.project_id)),
                            None => (None, None),
                        }
                    }
                    PoolUser::Project(name) => (None, self.project_id_by_name(&org, &name).await?),
                };
                let mut served = Vec::new();
                if let Some(project_id) = project_id {
                    for pool in all {
                        let scope = self.store.agent_pool_scope(&pool.id).await?;
                        // A project is served when its workspaces are (one not excluded).
                        let workspace_id = workspace_id.as_deref().unwrap_or("");
                        if serves(pool.organization_scoped, &scope, workspace_id, &project_id) {
                            served.push(pool);
                        }
                    }
                }
                let total = served.len() as u64;
                let items = served
                    .into_iter()
                    .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
                    .take(page.size as usize)
                    .collect();
                Page { items, total }
            }
        };
        let mut items = Vec::with_capacity(found.items.len());
        for pool in found.items {
            items.push(self.agent_pool_view(pool, &org, access).await?);
        }
        Ok(Page {
            items,
            total: found.total,
        })
    }

    async fn project_id_by_name(
        &self,
        org: &Organization,
        name: &str,
    ) -> DomainResult<Option<String>> {
        let filter = ProjectFilter {
            names: vec![name.to_string()],
            ..ProjectFilter::default()
        };
        Ok(self
            .store
            .list_projects(&org.id, &filter, PageRequest { number: 1, size: 1 })
            .await?
            .items
            .into_iter()
            .next()
            .map(|p| p.id))
    }

    pub async fn create_agent_pool(
        &self,
        caller: &Caller,
        org_name: &str,
        changes: AgentPoolChanges,
    ) -> DomainResult<AgentPoolView> {
        let (org, access) = self
            .organization_for(caller, org_name, Action::ManageAgentPools)
            .await?;
        let name = changes
            .name
            .clone()
            .ok_or_else(|| DomainError::invalid("name", "an agent pool needs a name"))?;
        validate::agent_pool_name(&name)?;
        let organization_scoped = changes.organization_scoped.unwrap_or(true);
        let scope = self
            .scope_after(&org, AgentPoolScope::default(), changes)
            .await?;
        let pool = AgentPool {
            id: ids::new_id(ids::AGENT_POOL),
            organization_id: org.id.clone(),
            name,
            organization_scoped,
            created_at: clock::now(),
        };
        self.store
            .create_agent_pool(&pool, &scope)
            .await
            .map_err(name_taken)?;
        self.agent_pool_view(pool, &org, access).await
    }

    pub async fn show_agent_pool(&self, caller: &Caller, id: &str) -> DomainResult<AgentPoolView> {
        let (pool, org, access) = self
            .agent_pool_for(caller, id, Action::ReadOrganization)
            .await?;
        self.agent_pool_view(pool, &org, access).await
    }

    pub async fn update_agent_pool(
        &self,
        caller: &Caller,
        id: &str,
        changes: AgentPoolChanges,
    ) -> DomainResult<AgentPoolView> {
        let (mut pool, org, access) = self
            .agent_pool_for(caller, id, Action::ManageAgentPools)
            .await?;
        if let Some(name) = &changes.name {
            validate::agent_pool_name(name)?;
            pool.name = name.clone();
        }
        if let Some(scoped) = changes.organization_scoped {
            pool.organization_scoped = scoped;
        }
        let scope_changed = changes.allowed_workspaces.is_some()
            || changes.allowed_projects.is_some()
            || changes.excluded_workspaces.is_some();
        let old_scope = self.store.agent_pool_scope(&pool.id).await?;
        let scope = self.scope_after(&org, old_scope, changes).await?;
        if !pool.organization_scoped && org.default_agent_pool_id.as_deref() == Some(&pool.id) {
            return Err(DomainError::invalid(
                "organization-scoped",
                "this pool is the organization's default agent pool, which serves every workspace: choose another default first",
            ));
        }
        // A workspace that uses the pool must stay served: otherwise its runs would go to a
        // pool it may no longer use.
        for ws_id in self.store.agent_pool_workspaces(&pool.id).await? {
            let Some(ws) = self.store.workspace_by_id(&ws_id).await? else {
                continue;
            };
            if !pool_serves(&pool, &scope, &ws) {
                return Err(DomainError::Invalid {
                    pointer: Some("/data/relationships/allowed-workspaces".into()),
                    detail: format!(
                        "workspace {} uses this agent pool: keep it in allowed-workspaces (or its project in allowed-projects, and not in excluded-workspaces), or move it to another pool or execution mode first",
                        ws.name
                    ),
                });
            }
        }
        // So must a project that names it as its default.
        for project in self.store.agent_pool_projects(&pool.id).await? {
            if !pool_serves_project(&pool, &scope, &project.id) {
                return Err(DomainError::Invalid {
                    pointer: Some("/data/relationships/allowed-projects".into()),
                    detail: format!(
                        "project {} uses this agent pool as its default: keep it in allowed-projects, or give the project another default first",
                        project.name
                    ),
                });
            }
        }
        self.store
            .update_agent_pool(&pool, scope_changed.then_some(&scope))
            .await
            .map_err(name_taken)?;
        self.agent_pool_view(pool, &org, access).await
    }

    /// Deletes a pool no workspace uses, with its tokens; its listeners lose their access.
    pub async fn delete_agent_pool(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let (pool, _, _) = self
            .agent_pool_for(caller, id, Action::ManageAgentPools)
            .await?;
        if !self.store.delete_agent_pool(&pool.id).await? {
            return Err(DomainError::Invalid {
                pointer: None,
                detail: format!(
                    "agent pool {} is still used by workspaces, by projects as their default, or by runs waiting for its agents: move the workspaces and projects to another execution mode or pool, and let their runs finish or cancel them, first",
                    pool.name
                ),
            });
        }
        Ok(())
    }

    pub async fn list_agent_tokens(
        &self,
        caller: &Caller,
        pool_id: &str,
        page: PageRequest,
    ) -> DomainResult<Page<Token>> {
        let (pool, _, _) = self
            .agent_pool_for(caller, pool_id, Action::ReadOrganization)
            .await?;
        Ok(self
            .store
            .list_tokens(TokenKind::Agent, &pool.id, page)
            .await?)
    }

    /// A token for the pool's listeners; returned with its secret, which is shown this once.
    pub async fn create_agent_token(
        &self,
        caller: &Caller,
        pool_id: &str,
        description: Option<String>,
    ) -> DomainResult<(Token, String)> {
        let (pool, _, _) = self
            .agent_pool_for(caller, pool_id, Action::ManageAgentPools)
            .await?;
        let description = description
            .filter(|d| !d.trim().is_empty())
            .ok_or_else(|| {
                DomainError::invalid("description", "an agent token needs a description")
            })?;
        let created_by = self.current_user(caller).ok().map(|u| u.id.clone());
        self.issue_token(
            TokenKind::Agent,
            &pool.id,
            Some(description),
            None,
            created_by.as_deref(),
        )
        .await
    }

    /// `/authentication-tokens/:id`: one of the caller's own user tokens, or an agent token of
    /// a pool the caller may see (`action` decides for the latter).
    pub async fn authentication_token(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> DomainResult<Token> {
        const WHAT: &str = "authentication token";
        let token = self
            .store
            .token_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        match token.kind {
            TokenKind::User if token.owner_id == self.current_user(caller)?.id => Ok(token),
            // A team's token: whoever may manage it (team managers, or its members when the
            // team allows it); everyone else learns nothing of it.
            TokenKind::Team => {
                self.team_token_owner(caller, &token.owner_id)
                    .await
                    .map_err(|e| match e {
                        DomainError::Forbidden(_) => DomainError::NotFound(WHAT),
                        other => not_found_as(other, WHAT),
                    })?;
                Ok(token)
            }
            // The server's own pool (owner `server`) is not managed through the API: not found.
            TokenKind::Agent => {
                self.agent_pool_for(caller, &token.owner_id, action)
                    .await
                    .map_err(|e| not_found_as(e, WHAT))?;
                Ok(token)
            }
            _ => Err(DomainError::NotFound(WHAT)),
        }
    }

    pub async fn delete_authentication_token(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let token = self
            .authentication_token(caller, id, Action::ManageAgentPools)
            .await?;
        self.store.delete_token(&token.id).await?;
        Ok(())
    }

    /// The pool's connected listeners with their status.
    pub async fn list_agents(
        &self,
        caller: &Caller,
        pool_id: &str,
    ) -> DomainResult<Vec<AgentView>> {
        let (pool, _, _) = self
            .agent_pool_for(caller, pool_id, Action::ReadOrganization)
            .await?;
        let listeners = self.store.list_listeners(Some(&pool.id)).await?;
        self.agent_views(listeners, &pool.id).await
    }

    pub async fn agent(&self, caller: &Caller, id: &str) -> DomainResult<AgentView> {
        const WHAT: &str = "agent";
        let listener = self
            .store
            .listener_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        // Listeners of the server's own pool are not agents of any organization.
        let pool_id = listener
            .pool_id
            .clone()
            .ok_or(DomainError::NotFound(WHAT))?;
        let (pool, _, _) = self
            .agent_pool_for(caller, &pool_id, Action::ReadOrganization)
            .await
            .map_err(|e| not_found_as(e, WHAT))?;
        let mut views = self.agent_views(vec![listener], &pool.id).await?;
        Ok(views.remove(0))
    }

    async fn agent_views(
        &self,
        listeners: Vec<Listener>,
        pool_id: &str,
    ) -> DomainResult<Vec<AgentView>> {
        let ids: Vec<String> = listeners.iter().map(|l| l.id.clone()).collect();
        let running = self.store.running_jobs_by_listener(&ids).await?;
        let now = clock::now();
        Ok(listeners
            .into_iter()
            .map(|listener| {
                let jobs = running.get(&listener.id).copied().unwrap_or(0);
                AgentView {
                    status: agent_status(&listener, jobs, now),
                    running_jobs: jobs,
                    pool_id: pool_id.to_string(),
                    listener,
                }
            })
            .collect())
    }

    /// Checks that a workspace may run on `pool_id`: the pool belongs to the workspace's
    /// organization and is organization-scoped or allows the workspace.
    /// An organization's default pool serves every workspace that inherits agent execution,
    /// so it must be one of the organization's organization-scoped pools.
    pub(crate) async fn check_default_agent_pool(
        &self,
        org: &Organization,
        pool_id: &str,
    ) -> DomainResult<()> {
        let invalid = |detail: String| DomainError::Invalid {
            pointer: Some("/data/relationships/default-agent-pool".into()),
            detail,
        };
        match self.store.agent_pool_by_id(pool_id).await? {
            Some(pool) if pool.organization_id == org.id && pool.organization_scoped => Ok(()),
            Some(pool) if pool.organization_id == org.id => Err(invalid(format!(
                "agent pool {} is not organization-scoped: it cannot serve every workspace",
                pool.name
            ))),
            _ => Err(invalid(format!("agent pool {pool_id} not found"))),
        }
    }

    pub(crate) async fn check_workspace_pool(
        &self,
        org: &Organization,
        ws: &Workspace,
        pool_id: &str,
    ) -> DomainResult<()> {
        let invalid = |detail: String| DomainError::Invalid {
            pointer: Some("/data/relationships/agent-pool".into()),
            detail,
        };
        let pool = match self.store.agent_pool_by_id(pool_id).await? {
            Some(pool) if pool.organization_id == org.id => pool,
            _ => return Err(invalid(format!("agent pool {pool_id} not found"))),
        };
        let scope = self.store.agent_pool_scope(&pool.id).await?;
        if pool_serves(&pool, &scope, ws) {
            Ok(())
        } else {
            Err(invalid(format!(
                "agent pool {} does not serve workspace {}: add the workspace to its allowed-workspaces (or its project to allowed-projects) first",
                pool.name, ws.name
            )))
        }
    }

    async fn agent_pool_for(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> DomainResult<(AgentPool, Organization, Access)> {
        const WHAT: &str = "agent pool";
        let pool = self
            .store
            .agent_pool_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let org = self
            .store
            .organization_by_id(&pool.organization_id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let access = self.authorize(caller, &org, action, WHAT).await?;
        Ok((pool, org, access))
    }

    /// `scope` with the lists `changes` gives replaced, each ID checked to name a workspace
    /// (or project) of the organization, deduplicated.
    async fn scope_after(
        &self,
        org: &Organization,
        mut scope: AgentPoolScope,
        changes: AgentPoolChanges,
    ) -> DomainResult<AgentPoolScope> {
        if let Some(ids) = changes.allowed_workspaces {
            scope.allowed_workspaces = self
                .organization_workspaces(org, ids, "allowed-workspaces")
                .await?;
        }
        if let Some(ids) = changes.excluded_workspaces {
            scope.excluded_workspaces = self
                .organization_workspaces(org, ids, "excluded-workspaces")
                .await?;
        }
        if let Some(ids) = changes.allowed_projects {
            let mut checked = BTreeSet::new();
            for id in ids {
                match self.store.project_by_id(&id).await? {
                    Some(project) if project.organization_id == org.id => {
                        checked.insert(id);
                    }
                    _ => {
                        return Err(DomainError::Invalid {
                            pointer: Some("/data/relationships/allowed-projects".into()),
                            detail: format!("project {id} not found"),
                        })
                    }
                }
            }
            scope.allowed_projects = checked.into_iter().collect();
        }
        Ok(scope)
    }

    /// Checks that each ID names a workspace of the organization; returns them deduplicated.
    async fn organization_workspaces(
        &self,
        org: &Organization,
        ids: Vec<String>,
        relationship: &str,
    ) -> DomainResult<Vec<String>> {
        let mut checked = BTreeSet::new();
        for id in ids {
            if checked.contains(&id) {
                continue;
            }
            match self.store.workspace_by_id(&id).await? {
                Some(ws) if ws.organization_id == org.id => {
                    checked.insert(id);
                }
                _ => {
                    return Err(DomainError::Invalid {
                        pointer: Some(format!("/data/relationships/{relationship}")),
                        detail: format!("workspace {id} not found"),
                    })
                }
            }
        }
        Ok(checked.into_iter().collect())
    }

    async fn agent_pool_view(
        &self,
        pool: AgentPool,
        org: &Organization,
        access: Access,
    ) -> DomainResult<AgentPoolView> {
        let agent_count = self.store.list_listeners(Some(&pool.id)).await?.len() as u64;
        let workspaces = self.store.agent_pool_workspaces(&pool.id).await?;
        let scope = self.store.agent_pool_scope(&pool.id).await?;
        Ok(AgentPoolView {
            pool,
            organization_name: org.name.clone(),
            agent_count,
            workspaces,
            scope,
            access,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_serves_its_scope_less_its_exclusions() {
        let ids = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let scope = AgentPoolScope {
            allowed_workspaces: ids(&["ws-named"]),
            allowed_projects: ids(&["prj-a"]),
            excluded_workspaces: ids(&["ws-out", "ws-named"]),
        };
        // Named workspaces are served whatever else the scope says.
        assert!(serves(false, &scope, "ws-named", "prj-z"));
        // An allowed project brings its workspaces in, except excluded ones.
        assert!(serves(false, &scope, "ws-1", "prj-a"));
        assert!(!serves(false, &scope, "ws-out", "prj-a"));
        assert!(!serves(false, &scope, "ws-1", "prj-z"));
        // Organization scope brings every workspace in, except excluded ones.
        assert!(serves(true, &scope, "ws-1", "prj-z"));
        assert!(!serves(true, &scope, "ws-out", "prj-z"));
        assert!(!serves(false, &AgentPoolScope::default(), "ws-1", "prj-a"));
    }
}
