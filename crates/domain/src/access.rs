//! Resolving what a caller may do, and refusing what it may not. Every service method goes
//! through [`Services::authorize`]; nothing else interprets roles.

use terrace_auth::policy::{decide, Access, Action, Decision, Level};
use terrace_storage::model::{OrgRole, Organization, Workspace};

use crate::{Caller, DomainError, DomainResult, Principal, Services};

/// A workspace named by ID or by organization and name, as the API addresses them.
#[derive(Debug, Clone)]
pub enum WorkspaceRef {
    Id(String),
    Name { organization: String, name: String },
}

impl Services {
    /// The caller's access to `org`.
    pub async fn access(&self, caller: &Caller, org: &Organization) -> DomainResult<Access> {
        let level = match &caller.principal {
            // Agents and runners reach their jobs through the runner protocol, not the API.
            Principal::Agent { .. } | Principal::Job(_) => Level::None,
            Principal::User(user) if user.is_site_admin => Level::Owner,
            Principal::User(user) => match self.store.org_role(&org.id, &user.id).await? {
                Some(OrgRole::Owner) => Level::Owner,
                // Until teams carry workspace permission levels, members administer workspaces.
                Some(OrgRole::Member) => Level::Admin,
                None => Level::None,
            },
        };
        Ok(Access {
            level,
            admins_may_force_delete: org.allow_force_delete_workspaces,
        })
    }

    /// Resolves the caller's access to `org` and checks it allows `action`. Invisible
    /// resources answer "`what` not found", so their existence does not leak.
    pub async fn authorize(
        &self,
        caller: &Caller,
        org: &Organization,
        action: Action,
        what: &'static str,
    ) -> DomainResult<Access> {
        let access = self.access(caller, org).await?;
        match decide(access, action) {
            Decision::Allow => Ok(access),
            Decision::Hidden => Err(DomainError::NotFound(what)),
            Decision::Forbidden => Err(DomainError::Forbidden(format!(
                "you are not allowed to {} in organization {}{}",
                describe(action),
                org.name,
                hint(action)
            ))),
        }
    }

    /// Loads an organization by name and authorizes `action` on it.
    pub(crate) async fn organization_for(
        &self,
        caller: &Caller,
        name: &str,
        action: Action,
    ) -> DomainResult<(Organization, Access)> {
        let org = self
            .store
            .organization_by_name(name)
            .await?
            .ok_or(DomainError::NotFound("organization"))?;
        let access = self.authorize(caller, &org, action, "organization").await?;
        Ok((org, access))
    }

    /// [`workspace_for`](Self::workspace_for) by ID.
    pub(crate) async fn workspace_id_for(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> DomainResult<(Workspace, Organization, Access)> {
        self.workspace_for(caller, &WorkspaceRef::Id(id.to_string()), action)
            .await
    }

    /// Loads a workspace and its organization and authorizes `action` on it.
    pub(crate) async fn workspace_for(
        &self,
        caller: &Caller,
        workspace: &WorkspaceRef,
        action: Action,
    ) -> DomainResult<(Workspace, Organization, Access)> {
        const WHAT: &str = "workspace";
        let (ws, org) = match workspace {
            WorkspaceRef::Id(id) => {
                let ws = self
                    .store
                    .workspace_by_id(id)
                    .await?
                    .ok_or(DomainError::NotFound(WHAT))?;
                let org = self
                    .store
                    .organization_by_id(&ws.organization_id)
                    .await?
                    .ok_or(DomainError::NotFound(WHAT))?;
                (ws, org)
            }
            WorkspaceRef::Name { organization, name } => {
                let org = self
                    .store
                    .organization_by_name(organization)
                    .await?
                    .ok_or(DomainError::NotFound(WHAT))?;
                let ws = self
                    .store
                    .workspace_by_name(&org.id, name)
                    .await?
                    .ok_or(DomainError::NotFound(WHAT))?;
                (ws, org)
            }
        };
        let access = self.authorize(caller, &org, action, WHAT).await?;
        Ok((ws, org, access))
    }
}

/// Whether `access` allows `action`: for what a view offers (an upload URL only to writers).
pub(crate) fn allows(access: Access, action: Action) -> bool {
    decide(access, action) == Decision::Allow
}

fn describe(action: Action) -> &'static str {
    use Action::*;
    match action {
        ReadOrganization => "read the organization",
        UpdateOrganization => "update the organization",
        DeleteOrganization => "delete the organization",
        CreateWorkspace => "create workspaces",
        CreateProject => "create projects",
        UpdateProject => "update projects",
        DeleteProject => "delete projects",
        ManageTags => "manage tags",
        ReadWorkspace => "read workspaces",
        UpdateWorkspace => "update workspace settings",
        DeleteWorkspace => "delete workspaces",
        ForceDeleteWorkspace => "force-delete workspaces",
        LockWorkspace => "lock workspaces",
        UnlockWorkspace => "unlock workspaces",
        ForceUnlockWorkspace => "force-unlock workspaces",
        ReadStateVersions => "read state",
        ReadStateOutputs => "read state outputs",
        CreateStateVersion => "write state",
        ReadRuns => "read runs",
        QueueRun => "queue plans",
        QueueApply => "apply runs",
        QueueDestroy => "queue destroy plans",
        ReadVariables => "read variables",
        UpdateVariables => "update variables",
        ManageVariableSets => "manage variable sets",
        ManageAgentPools => "manage agent pools",
    }
}

/// What the caller can do instead, where that is not obvious.
fn hint(action: Action) -> &'static str {
    match action {
        Action::ForceDeleteWorkspace => {
            ": the organization lets only its owners delete workspaces whatever they manage \
             (allow-force-delete-workspaces is off); safe-delete deletes a workspace that \
             manages no resources"
        }
        _ => "",
    }
}
