//! Resolving what a caller may do, and refusing what it may not. Every service method goes
//! through [`Services::authorize`]; nothing else interprets roles.

use std::collections::HashMap;

use terrace_auth::policy::{decide, Access, Action, Decision, OrganizationAccess};
use terrace_storage::model::{Organization, PageRequest, Project, Team, Workspace};
use terrace_storage::store::WorkspaceFilter;

use crate::org_sso::{credential_allowed, sso_required_message};
use crate::workspaces::WorkspaceView;
use crate::{Caller, DomainError, DomainResult, Principal, Services};

/// A workspace named by ID or by organization and name, as the API addresses them.
#[derive(Debug, Clone)]
pub enum WorkspaceRef {
    Id(String),
    Name { organization: String, name: String },
}

/// Who the caller is to an organization, before any particular project or workspace.
#[derive(Debug, Clone)]
pub(crate) struct Standing {
    /// Access to the organization, and to every project and workspace in it.
    pub access: Access,
    /// The caller's teams, whose grants on a project or workspace add to `access`.
    teams: Vec<String>,
    /// False for organization tokens, which configure workspaces but never operate them.
    operations: bool,
}

impl Standing {
    const OUTSIDER: Standing = Standing {
        access: Access::NONE,
        teams: Vec::new(),
        operations: true,
    };

    fn owner() -> Standing {
        Standing {
            access: Access::owner(),
            teams: Vec::new(),
            operations: true,
        }
    }

    fn finish(&self, access: Access) -> Access {
        if self.operations {
            access
        } else {
            Access {
                workspace: access.workspace.without_operations(),
                ..access
            }
        }
    }

    /// The caller's own teams in the organization (none for owners, who need none).
    pub fn teams(&self) -> &[String] {
        &self.teams
    }

    /// The teams lists of workspaces (and what is in them) must be narrowed to; `None` when
    /// the caller sees every workspace of the organization.
    pub fn visible_to_teams(&self) -> Option<Vec<String>> {
        (!self.access.workspace.visible()).then(|| self.teams.clone())
    }
}

/// What an organization token may do: run the organization's configuration (workspaces,
/// projects, teams, memberships, agent pools), never its settings, and no runs or state
/// writes ([`Standing::operations`]).
const ORGANIZATION_TOKEN: OrganizationAccess = OrganizationAccess {
    manage_workspaces: true,
    manage_projects: true,
    manage_teams: true,
    manage_membership: true,
    manage_organization_access: true,
    access_secret_teams: true,
    manage_agent_pools: true,
    read_workspaces: true,
    read_projects: true,
    manage_policies: false,
    manage_policy_overrides: false,
    manage_vcs_settings: false,
    // Publishing private providers from CI is what organization tokens are for.
    manage_providers: true,
    manage_modules: false,
    manage_run_tasks: false,
};

impl Services {
    /// Who the caller is to `org`: its teams there and what they hold organization-wide.
    pub(crate) async fn standing(
        &self,
        caller: &Caller,
        org: &Organization,
    ) -> DomainResult<Standing> {
        let of_teams = |teams: Vec<Team>| {
            if teams.iter().any(|t| t.is_owners) {
                return Standing::owner();
            }
            let organization = teams.iter().fold(OrganizationAccess::default(), |acc, t| {
                acc.union(t.organization_access.0)
            });
            Standing {
                access: Access::member(organization),
                teams: teams.into_iter().map(|t| t.id).collect(),
                operations: true,
            }
        };
        // An organization may shut out users' API tokens (its members' and site
        // administrators'), leaving browser sessions and team and organization tokens: the
        // credential is refused. Outsiders still get "not found", learning nothing.
        let user_token_refused = caller.token_id.is_some() && !org.user_tokens_enabled;
        let mut standing = match &caller.principal {
            // Agents and runners reach their jobs through the runner protocol, not the API.
            // An audit trail token reads the audit trail (crate::audit), nothing else.
            // A task result's token calls back its result (crate::runs::task_stages).
            Principal::Agent { .. }
            | Principal::Job(_)
            | Principal::AuditTrail { .. }
            | Principal::TaskResult { .. } => Standing::OUTSIDER,
            Principal::User(_) if user_token_refused && self.is_insider(caller, org).await? => {
                return Err(DomainError::Unauthorized)
            }
            Principal::User(user) if user.is_site_admin => Standing::owner(),
            Principal::User(user) => match self.member_teams(caller, &org.id, &user.id).await? {
                Some(teams) => {
                    self.check_sign_in(caller, org, teams.iter().any(|t| t.is_owners))
                        .await?;
                    of_teams(teams)
                }
                None => Standing::OUTSIDER,
            },
            Principal::Team(team) if team.organization_id == org.id => of_teams(vec![team.clone()]),
            Principal::Organization { organization_id } if *organization_id == org.id => Standing {
                access: Access::member(ORGANIZATION_TOKEN),
                teams: Vec::new(),
                operations: false,
            },
            Principal::Team(_) | Principal::Organization { .. } => Standing::OUTSIDER,
        };
        standing.access.admins_may_force_delete = org.allow_force_delete_workspaces;
        standing.access = standing.finish(standing.access);
        Ok(standing)
    }

    /// Refuses a member's credential the organization does not accept: one that did not come
    /// from single sign-on when the organization enforces it ([`credential_allowed`]).
    /// Whether the caller is a site administrator or a member of `org`.
    async fn is_insider(&self, caller: &Caller, org: &Organization) -> DomainResult<bool> {
        Ok(match caller.user() {
            Some(user) if user.is_site_admin => true,
            Some(user) => self
                .member_teams(caller, &org.id, &user.id)
                .await?
                .is_some(),
            None => false,
        })
    }

    async fn check_sign_in(
        &self,
        caller: &Caller,
        org: &Organization,
        is_owner: bool,
    ) -> DomainResult<()> {
        let config = self.sso_configuration_for(caller, &org.id).await?;
        if credential_allowed(config.as_ref(), &org.id, is_owner, &caller.signed_in_with) {
            Ok(())
        } else {
            Err(DomainError::Forbidden(sso_required_message(&org.name)))
        }
    }

    /// The caller's access to `org` as a whole.
    pub async fn access(&self, caller: &Caller, org: &Organization) -> DomainResult<Access> {
        Ok(self.standing(caller, org).await?.access)
    }

    /// The caller's access to one workspace: organization-wide permissions and what its
    /// teams were given on the workspace and its project.
    pub(crate) async fn workspace_access(
        &self,
        standing: &Standing,
        ws: &Workspace,
    ) -> DomainResult<Access> {
        let placed = (ws.id.clone(), ws.project_id.clone());
        let mut access = self
            .workspaces_access(standing, std::slice::from_ref(&placed))
            .await?;
        Ok(access.remove(&ws.id).unwrap_or(Access::NONE))
    }

    /// The caller's access to each of the workspaces, given as (ID, project ID), by ID: one
    /// read of its teams' grants for all of them.
    pub(crate) async fn workspaces_access(
        &self,
        standing: &Standing,
        workspaces: &[(String, String)],
    ) -> DomainResult<HashMap<String, Access>> {
        if standing.teams.is_empty() {
            return Ok(workspaces
                .iter()
                .map(|(id, _)| (id.clone(), standing.access))
                .collect());
        }
        let grants = self
            .store
            .workspace_grants(&standing.teams, workspaces)
            .await?;
        Ok(grants
            .into_iter()
            .map(|(id, (direct, inherited))| {
                let access = direct
                    .into_iter()
                    .fold(standing.access, Access::with_workspace);
                let access = inherited.into_iter().fold(access, Access::with_project);
                (id, standing.finish(access))
            })
            .collect())
    }

    /// The caller's access to one project (and, through it, to its workspaces).
    pub(crate) async fn project_access(
        &self,
        standing: &Standing,
        project: &Project,
    ) -> DomainResult<Access> {
        if standing.teams.is_empty() {
            return Ok(standing.access);
        }
        let grants = self
            .store
            .project_grants(&standing.teams, &project.id)
            .await?;
        let mut access = grants
            .into_iter()
            .fold(standing.access, Access::with_project);
        if !access.project.read {
            // A project holding a workspace the caller sees is visible (read-only) too.
            let visible = self
                .store
                .list_workspaces(
                    &project.organization_id,
                    &WorkspaceFilter {
                        project_id: Some(project.id.clone()),
                        visible_to_teams: Some(standing.teams.clone()),
                        ..Default::default()
                    },
                    PageRequest { number: 1, size: 1 },
                )
                .await?;
            access.project.read = visible.total > 0;
        }
        Ok(standing.finish(access))
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
        check(access, action, org, what)?;
        Ok(access)
    }

    /// [`authorize`](Self::authorize) for an action on one workspace.
    pub(crate) async fn authorize_workspace(
        &self,
        caller: &Caller,
        org: &Organization,
        ws: &Workspace,
        action: Action,
        what: &'static str,
    ) -> DomainResult<Access> {
        if let Principal::Job(job) = &caller.principal {
            // Runs read shared state (crate::remote_state), nothing else of the API.
            return self.job_workspace_access(job, ws, action).await;
        }
        let standing = self.standing(caller, org).await?;
        let access = self.workspace_access(&standing, ws).await?;
        check(access, action, org, what)?;
        Ok(access)
    }

    /// Whether the caller may take one more `action` on a workspace this request has read
    /// and authorized already (its `view`): the access found then decides, without reading
    /// the workspace again. A job's access depends on the action, so a job's is looked up
    /// afresh.
    pub(crate) async fn may_in_view(
        &self,
        caller: &Caller,
        view: &WorkspaceView,
        action: Action,
    ) -> DomainResult<bool> {
        const WHAT: &str = "workspace";
        let decided = if let Principal::Job(_) = &caller.principal {
            self.authorize_workspace(caller, &view.organization, &view.workspace, action, WHAT)
                .await
                .map(|_| ())
        } else {
            check(view.access, action, &view.organization, WHAT)
        };
        match decided {
            Ok(()) => Ok(true),
            Err(DomainError::NotFound(_) | DomainError::Forbidden(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// [`authorize`](Self::authorize) for an action on one project.
    pub(crate) async fn authorize_project(
        &self,
        caller: &Caller,
        org: &Organization,
        project: &Project,
        action: Action,
        what: &'static str,
    ) -> DomainResult<Access> {
        let standing = self.standing(caller, org).await?;
        let access = self.project_access(&standing, project).await?;
        check(access, action, org, what)?;
        Ok(access)
    }

    /// Checks the caller may create workspaces in the project (or anywhere).
    pub(crate) async fn authorize_in_project(
        &self,
        caller: &Caller,
        org: &Organization,
        project_id: &str,
    ) -> DomainResult<Access> {
        let project = self
            .store
            .project_by_id(project_id)
            .await?
            .filter(|p| p.organization_id == org.id)
            .ok_or(DomainError::NotFound("project"))?;
        self.authorize_project(caller, org, &project, Action::CreateWorkspace, "project")
            .await
    }

    /// Loads an organization by name and authorizes `action` on it.
    pub(crate) async fn organization_for(
        &self,
        caller: &Caller,
        name: &str,
        action: Action,
    ) -> DomainResult<(Organization, Access)> {
        let org = self
            .organization_named(caller, name)
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
                    .organization_with_id(caller, &ws.organization_id)
                    .await?
                    .ok_or(DomainError::NotFound(WHAT))?;
                (ws, org)
            }
            WorkspaceRef::Name { organization, name } => {
                let org = self
                    .organization_named(caller, organization)
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
        let access = self
            .authorize_workspace(caller, &org, &ws, action, WHAT)
            .await?;
        Ok((ws, org, access))
    }
}

/// Turns the policy's decision into the API's answer.
pub(crate) fn check(
    access: Access,
    action: Action,
    org: &Organization,
    what: &'static str,
) -> DomainResult<()> {
    match decide(access, action) {
        Decision::Allow => Ok(()),
        Decision::Hidden => Err(DomainError::NotFound(what)),
        Decision::Forbidden => Err(DomainError::Forbidden(format!(
            "you are not allowed to {} in organization {}{}",
            describe(action),
            org.name,
            hint(action)
        ))),
    }
}

pub(crate) use terrace_auth::policy::allows;

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
        MoveWorkspace => "move workspaces out of their project",
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
        ManageModules => "manage the registry's modules",
        ReadProject => "read projects",
        ManageProjectAccess => "manage team access to projects",
        ReadProjectVariableSets => "read the project's variable sets",
        ManageProjectVariableSets => "manage the project's variable sets",
        ManageWorkspaceAccess => "manage team access to workspaces",
        ReadVariableSets => "read variable sets",
        ManageTeams => "manage teams",
        ManageOrganizationAccess => "change what teams may do across the organization",
        ManageMembership => "manage memberships",
        ReadSecretTeams => "see secret teams",
        ManageOrganizationToken => "manage the organization token",
        ReadAuditTrail => "read the audit trail",
        ManageProviders => "manage the private provider registry",
        ManageVcsSettings => "manage SSH keys (VCS settings)",
        ManageRunTasks => "manage run tasks",
        ManageWorkspaceRunTasks => "manage the run tasks of workspaces",
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
