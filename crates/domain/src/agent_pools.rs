//! Agent pools: groups of listeners an organization runs in its own networks (`terrace
//! listener` with a pool token). Workspaces in agent execution mode name a pool; their jobs are
//! claimed only by that pool's listeners. Organization owners manage pools and their tokens;
//! other members may read them. Agents are the pool's connected listeners.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use terrace_auth::policy::{Access, Action};
use terrace_storage::model::{
    AgentPool, Listener, Organization, Page, PageRequest, Token, TokenKind, Workspace,
};
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
    /// Workspaces allowed to use it besides organization scope.
    pub allowed_workspaces: Vec<String>,
    pub access: Access,
}

/// What a create or update may set; `None` leaves it as it is.
#[derive(Debug, Clone, Default)]
pub struct AgentPoolChanges {
    pub name: Option<String>,
    pub organization_scoped: Option<bool>,
    pub allowed_workspaces: Option<Vec<String>>,
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
    pub async fn list_agent_pools(
        &self,
        caller: &Caller,
        org_name: &str,
        query: Option<&str>,
        page: PageRequest,
    ) -> DomainResult<Page<AgentPoolView>> {
        let (org, access) = self
            .organization_for(caller, org_name, Action::ReadOrganization)
            .await?;
        let found = self.store.list_agent_pools(&org.id, query, page).await?;
        let mut items = Vec::with_capacity(found.items.len());
        for pool in found.items {
            items.push(self.agent_pool_view(pool, &org, access).await?);
        }
        Ok(Page {
            items,
            total: found.total,
        })
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
            .ok_or_else(|| DomainError::invalid("name", "an agent pool needs a name"))?;
        validate::agent_pool_name(&name)?;
        let allowed = self
            .allowed_workspaces(&org, changes.allowed_workspaces.unwrap_or_default())
            .await?;
        let pool = AgentPool {
            id: ids::new_id(ids::AGENT_POOL),
            organization_id: org.id.clone(),
            name,
            organization_scoped: changes.organization_scoped.unwrap_or(true),
            created_at: clock::now(),
        };
        self.store
            .create_agent_pool(&pool, &allowed)
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
        if let Some(name) = changes.name {
            validate::agent_pool_name(&name)?;
            pool.name = name;
        }
        if let Some(scoped) = changes.organization_scoped {
            pool.organization_scoped = scoped;
        }
        let allowed = match changes.allowed_workspaces {
            Some(ids) => Some(self.allowed_workspaces(&org, ids).await?),
            None => None,
        };
        if !pool.organization_scoped && org.default_agent_pool_id.as_deref() == Some(&pool.id) {
            return Err(DomainError::invalid(
                "organization-scoped",
                "this pool is the organization's default agent pool, which serves every workspace: choose another default first",
            ));
        }
        if !pool.organization_scoped {
            // A workspace that uses the pool must stay allowed: otherwise its runs would go
            // to a pool it may no longer use.
            let permitted = match &allowed {
                Some(ids) => ids.clone(),
                None => self.store.agent_pool_allowed_workspaces(&pool.id).await?,
            };
            for ws_id in self.store.agent_pool_workspaces(&pool.id).await? {
                if !permitted.contains(&ws_id) {
                    let name = match self.store.workspace_by_id(&ws_id).await? {
                        Some(ws) => ws.name,
                        None => ws_id,
                    };
                    return Err(DomainError::Invalid {
                        pointer: Some("/data/relationships/allowed-workspaces".into()),
                        detail: format!(
                            "workspace {name} uses this agent pool: keep it in allowed-workspaces, or move it to another pool or execution mode first"
                        ),
                    });
                }
            }
        }
        self.store
            .update_agent_pool(&pool, allowed.as_deref())
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
                    "agent pool {} is still used by workspaces or by runs waiting for its agents: move the workspaces to another execution mode or pool, and let their runs finish or cancel them, first",
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
        if pool.organization_scoped
            || self
                .store
                .agent_pool_allowed_workspaces(&pool.id)
                .await?
                .contains(&ws.id)
        {
            Ok(())
        } else {
            Err(invalid(format!(
                "agent pool {} is not organization-scoped and does not allow workspace {}: add the workspace to its allowed-workspaces first",
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

    /// Checks that each ID names a workspace of the organization; returns them deduplicated.
    async fn allowed_workspaces(
        &self,
        org: &Organization,
        ids: Vec<String>,
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
                        pointer: Some("/data/relationships/allowed-workspaces".into()),
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
        let allowed_workspaces = self.store.agent_pool_allowed_workspaces(&pool.id).await?;
        Ok(AgentPoolView {
            pool,
            organization_name: org.name.clone(),
            agent_count,
            workspaces,
            allowed_workspaces,
            access,
        })
    }
}
