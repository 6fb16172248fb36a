//! The authorization policy: the one place that decides whether a caller may perform an
//! action on an organization's resources. Handlers and workers never compare roles
//! themselves; they ask [`decide`], and the `permissions` objects of API resources are
//! derived from the same function, so what the API advertises is exactly what it enforces.
//!
//! Today access comes from organization membership (owners team or another team). Teams with
//! workspace permission levels and team/organization tokens refine [`Access`] later; the
//! decision points stay where they are.

use serde::Serialize;

/// What a caller may do in one organization, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Not a member: the organization and everything in it is invisible.
    None,
    Read,
    Plan,
    Write,
    /// Workspace administration (settings, deletion, force-unlock).
    Admin,
    /// Organization ownership (the owners team, site admins).
    Owner,
}

/// The caller's access to one organization, as resolved from its memberships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub level: Level,
}

impl Access {
    pub const NONE: Access = Access { level: Level::None };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ReadOrganization,
    UpdateOrganization,
    DeleteOrganization,
    CreateWorkspace,
    CreateProject,
    UpdateProject,
    DeleteProject,
    ManageTags,
    ReadWorkspace,
    UpdateWorkspace,
    DeleteWorkspace,
    LockWorkspace,
    UnlockWorkspace,
    ForceUnlockWorkspace,
    ReadStateVersions,
    ReadStateOutputs,
    CreateStateVersion,
    ReadRuns,
    QueueRun,
    QueueApply,
    QueueDestroy,
    ReadVariables,
    UpdateVariables,
    ManageVariableSets,
    ManageRunTasks,
    /// Agent pools, their tokens and agents (reading them is `ReadOrganization`).
    ManageAgentPools,
}

impl Action {
    /// The weakest level that may perform the action.
    pub fn required(self) -> Level {
        use Action::*;
        match self {
            ReadOrganization | ReadWorkspace | ReadStateVersions | ReadStateOutputs | ReadRuns
            | ReadVariables => Level::Read,
            QueueRun => Level::Plan,
            LockWorkspace | UnlockWorkspace | CreateStateVersion | QueueApply | QueueDestroy
            | UpdateVariables => Level::Write,
            CreateWorkspace | CreateProject | UpdateProject | ManageTags | UpdateWorkspace
            | DeleteWorkspace | ForceUnlockWorkspace | ManageRunTasks => Level::Admin,
            ManageVariableSets | ManageAgentPools => Level::Owner,
            UpdateOrganization | DeleteOrganization | DeleteProject => Level::Owner,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The caller can see the resource but not do this to it (403).
    Forbidden,
    /// The caller cannot see the resource at all (404, so its existence does not leak).
    Hidden,
}

pub fn decide(access: Access, action: Action) -> Decision {
    if access.level == Level::None {
        Decision::Hidden
    } else if access.level >= action.required() {
        Decision::Allow
    } else {
        Decision::Forbidden
    }
}

fn allows(access: Access, action: Action) -> bool {
    decide(access, action) == Decision::Allow
}

/// The `permissions` object of a workspace, as HCP Terraform names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct WorkspacePermissions {
    pub can_update: bool,
    pub can_destroy: bool,
    pub can_queue_run: bool,
    pub can_read_run: bool,
    pub can_read_variable: bool,
    pub can_update_variable: bool,
    pub can_read_state_versions: bool,
    pub can_read_state_outputs: bool,
    pub can_create_state_versions: bool,
    pub can_queue_apply: bool,
    pub can_lock: bool,
    pub can_unlock: bool,
    pub can_force_unlock: bool,
    pub can_read_settings: bool,
    pub can_manage_tags: bool,
    pub can_manage_run_tasks: bool,
    /// Its presence tells the CLI that safe-delete exists.
    pub can_force_delete: bool,
    pub can_manage_assessments: bool,
    pub can_read_assessment_results: bool,
    pub can_queue_destroy: bool,
}

pub fn workspace_permissions(access: Access) -> WorkspacePermissions {
    use Action::*;
    let can = |action| allows(access, action);
    WorkspacePermissions {
        can_update: can(UpdateWorkspace),
        can_destroy: can(DeleteWorkspace),
        can_queue_run: can(QueueRun),
        can_read_run: can(ReadRuns),
        can_read_variable: can(ReadVariables),
        can_update_variable: can(UpdateVariables),
        can_read_state_versions: can(ReadStateVersions),
        can_read_state_outputs: can(ReadStateOutputs),
        can_create_state_versions: can(CreateStateVersion),
        can_queue_apply: can(QueueApply),
        can_lock: can(LockWorkspace),
        can_unlock: can(UnlockWorkspace),
        can_force_unlock: can(ForceUnlockWorkspace),
        can_read_settings: can(ReadWorkspace),
        can_manage_tags: can(UpdateWorkspace),
        can_manage_run_tasks: can(ManageRunTasks),
        can_force_delete: can(DeleteWorkspace),
        can_manage_assessments: can(UpdateWorkspace),
        can_read_assessment_results: can(ReadWorkspace),
        can_queue_destroy: can(QueueDestroy),
    }
}

/// The `permissions` object of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct OrganizationPermissions {
    pub can_update: bool,
    pub can_destroy: bool,
    pub can_access_via_teams: bool,
    pub can_create_team: bool,
    pub can_create_workspace: bool,
    pub can_create_workspace_migration: bool,
    pub can_create_project: bool,
    pub can_manage_users: bool,
    pub can_manage_tags: bool,
    pub can_traverse: bool,
    pub can_update_api_token: bool,
    pub can_update_oauth: bool,
    pub can_update_sentinel: bool,
    pub can_update_ssh_keys: bool,
    pub can_update_agent_pools: bool,
    pub can_manage_run_tasks: bool,
    pub can_manage_varsets: bool,
    pub can_read_varsets: bool,
    pub can_manage_subscription: bool,
    pub can_deploy_no_code_modules: bool,
    pub can_manage_no_code_modules: bool,
}

pub fn organization_permissions(access: Access) -> OrganizationPermissions {
    use Action::*;
    let can = |action| allows(access, action);
    let owner = can(UpdateOrganization);
    OrganizationPermissions {
        can_update: owner,
        can_destroy: can(DeleteOrganization),
        can_access_via_teams: can(ReadOrganization),
        can_create_team: owner,
        can_create_workspace: can(CreateWorkspace),
        can_create_workspace_migration: can(CreateWorkspace),
        can_create_project: can(CreateProject),
        can_manage_users: owner,
        can_manage_tags: can(ManageTags),
        can_traverse: can(ReadOrganization),
        can_update_api_token: owner,
        can_update_oauth: owner,
        can_update_sentinel: owner,
        can_update_ssh_keys: owner,
        can_update_agent_pools: can(ManageAgentPools),
        can_manage_run_tasks: owner,
        can_manage_varsets: can(ManageVariableSets),
        can_read_varsets: can(ReadOrganization),
        can_manage_subscription: false,
        can_deploy_no_code_modules: false,
        can_manage_no_code_modules: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outsiders_see_nothing() {
        for action in [
            Action::ReadWorkspace,
            Action::DeleteOrganization,
            Action::ReadStateOutputs,
        ] {
            assert_eq!(decide(Access::NONE, action), Decision::Hidden);
        }
        assert!(!workspace_permissions(Access::NONE).can_lock);
    }

    #[test]
    fn levels_are_ordered() {
        let read = Access { level: Level::Read };
        assert_eq!(decide(read, Action::ReadStateVersions), Decision::Allow);
        assert_eq!(decide(read, Action::LockWorkspace), Decision::Forbidden);
        let admin = Access {
            level: Level::Admin,
        };
        assert_eq!(decide(admin, Action::ForceUnlockWorkspace), Decision::Allow);
        assert_eq!(
            decide(admin, Action::DeleteOrganization),
            Decision::Forbidden
        );
        let owner = Access {
            level: Level::Owner,
        };
        assert!(organization_permissions(owner).can_destroy);
        assert!(!organization_permissions(admin).can_destroy);
    }

    #[test]
    fn permissions_mirror_decisions() {
        let write = Access {
            level: Level::Write,
        };
        let p = workspace_permissions(write);
        assert!(p.can_lock && p.can_unlock && p.can_queue_apply && p.can_create_state_versions);
        assert!(!p.can_force_unlock && !p.can_update && !p.can_destroy);
    }
}
