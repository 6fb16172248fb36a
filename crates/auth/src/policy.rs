//! The authorization policy: the one place that decides whether a caller may perform an
//! action on an organization's resources. Handlers and workers never compare roles
//! themselves; they ask [`decide`], and the `permissions` objects of API resources are
//! derived from the same function, so what the API advertises is exactly what it enforces.
//!
//! Today access comes from organization membership (owners team or another team) and the
//! organization settings that widen a level (`allow-force-delete-workspaces`). Teams with
//! workspace permission levels and team/organization tokens refine [`Access`] later; the
//! decision points stay where they are.
//!
//! A flag is true only when the request it governs is allowed: features this server does
//! not have (teams, run tasks, VCS, Sentinel, ...) are advertised as false to everyone.
//! Rules about a resource's state (a locked workspace, a run's status) live with the
//! resource in the domain crate, which combines them with these flags.

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

/// The caller's access to one organization, as resolved from its memberships and the
/// organization's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub level: Level,
    /// The organization lets workspace administrators force-delete workspaces
    /// (`allow-force-delete-workspaces`); owners always may.
    pub admins_may_force_delete: bool,
}

impl Access {
    pub const NONE: Access = Access::at(Level::None);

    /// Access at `level`, with no setting widening it.
    pub const fn at(level: Level) -> Access {
        Access {
            level,
            admins_may_force_delete: false,
        }
    }
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
    /// Safe deletion: only a workspace that is unlocked and manages no resources.
    DeleteWorkspace,
    /// Deletion whatever the workspace manages.
    ForceDeleteWorkspace,
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
            | DeleteWorkspace | ForceUnlockWorkspace => Level::Admin,
            ManageVariableSets | ManageAgentPools => Level::Owner,
            UpdateOrganization | DeleteOrganization | DeleteProject | ForceDeleteWorkspace => {
                Level::Owner
            }
        }
    }

    /// The weakest level that may perform the action with this access, whose organization
    /// settings may lower [`required`](Self::required).
    fn required_with(self, access: Access) -> Level {
        match self {
            Action::ForceDeleteWorkspace if access.admins_may_force_delete => Level::Admin,
            _ => self.required(),
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
    } else if access.level >= action.required_with(access) {
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
        // No run tasks and no assessment results on this server.
        can_manage_run_tasks: false,
        can_force_delete: can(ForceDeleteWorkspace),
        can_manage_assessments: can(UpdateWorkspace),
        can_read_assessment_results: false,
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
    OrganizationPermissions {
        can_update: can(UpdateOrganization),
        can_destroy: can(DeleteOrganization),
        can_access_via_teams: can(ReadOrganization),
        can_create_workspace: can(CreateWorkspace),
        can_create_project: can(CreateProject),
        can_manage_tags: can(ManageTags),
        can_traverse: can(ReadOrganization),
        can_update_agent_pools: can(ManageAgentPools),
        can_manage_varsets: can(ManageVariableSets),
        can_read_varsets: can(ReadVariables),
        // Features this server does not have: no API for them, so nobody can.
        can_create_team: false,
        can_create_workspace_migration: false,
        can_manage_users: false,
        can_update_api_token: false,
        can_update_oauth: false,
        can_update_sentinel: false,
        can_update_ssh_keys: false,
        can_manage_run_tasks: false,
        can_manage_subscription: false,
        can_deploy_no_code_modules: false,
        can_manage_no_code_modules: false,
    }
}

/// The `permissions` object of a run: what the caller may ask of runs of the workspace.
/// Whether the run's status allows it is the run's `actions` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RunPermissions {
    pub can_apply: bool,
    pub can_cancel: bool,
    pub can_comment: bool,
    pub can_discard: bool,
    pub can_force_execute: bool,
    pub can_force_cancel: bool,
    pub can_override_policy_check: bool,
}

pub fn run_permissions(access: Access) -> RunPermissions {
    let apply = allows(access, Action::QueueApply);
    RunPermissions {
        can_apply: apply,
        can_cancel: apply,
        can_discard: apply,
        can_force_cancel: apply,
        // No run comments, no forced execution ahead of the queue, no policy checks here.
        can_comment: false,
        can_force_execute: false,
        can_override_policy_check: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVELS: [Level; 6] = [
        Level::None,
        Level::Read,
        Level::Plan,
        Level::Write,
        Level::Admin,
        Level::Owner,
    ];

    #[test]
    fn outsiders_see_nothing() {
        for action in [
            Action::ReadWorkspace,
            Action::DeleteOrganization,
            Action::ReadStateOutputs,
            Action::ForceDeleteWorkspace,
        ] {
            assert_eq!(decide(Access::NONE, action), Decision::Hidden);
        }
        assert!(!workspace_permissions(Access::NONE).can_lock);
        assert!(!run_permissions(Access::NONE).can_cancel);
    }

    #[test]
    fn levels_are_ordered() {
        let read = Access::at(Level::Read);
        assert_eq!(decide(read, Action::ReadStateVersions), Decision::Allow);
        assert_eq!(decide(read, Action::LockWorkspace), Decision::Forbidden);
        let admin = Access::at(Level::Admin);
        assert_eq!(decide(admin, Action::ForceUnlockWorkspace), Decision::Allow);
        assert_eq!(
            decide(admin, Action::DeleteOrganization),
            Decision::Forbidden
        );
        let owner = Access::at(Level::Owner);
        assert!(organization_permissions(owner).can_destroy);
        assert!(!organization_permissions(admin).can_destroy);
    }

    #[test]
    fn permissions_mirror_decisions() {
        let write = Access::at(Level::Write);
        let p = workspace_permissions(write);
        assert!(p.can_lock && p.can_unlock && p.can_queue_apply && p.can_create_state_versions);
        assert!(!p.can_force_unlock && !p.can_update && !p.can_destroy);
        for level in LEVELS {
            let access = Access::at(level);
            let can = |action| decide(access, action) == Decision::Allow;
            let w = workspace_permissions(access);
            assert_eq!(w.can_queue_destroy, can(Action::QueueDestroy), "{level:?}");
            assert_eq!(w.can_destroy, can(Action::DeleteWorkspace), "{level:?}");
            assert_eq!(w.can_force_delete, can(Action::ForceDeleteWorkspace));
            let o = organization_permissions(access);
            assert_eq!(o.can_read_varsets, can(Action::ReadVariables), "{level:?}");
            assert_eq!(o.can_manage_varsets, can(Action::ManageVariableSets));
            let r = run_permissions(access);
            assert_eq!(r.can_apply, can(Action::QueueApply), "{level:?}");
            assert_eq!(r.can_discard, r.can_apply);
        }
    }

    #[test]
    fn force_delete_is_for_owners_unless_the_organization_lets_admins() {
        let admin = Access::at(Level::Admin);
        assert_eq!(
            decide(admin, Action::ForceDeleteWorkspace),
            Decision::Forbidden
        );
        assert_eq!(decide(admin, Action::DeleteWorkspace), Decision::Allow);
        assert!(!workspace_permissions(admin).can_force_delete);
        let granted = Access {
            admins_may_force_delete: true,
            ..admin
        };
        assert_eq!(
            decide(granted, Action::ForceDeleteWorkspace),
            Decision::Allow
        );
        assert!(workspace_permissions(granted).can_force_delete);
        // The setting widens administrators, never writers.
        let writer = Access {
            admins_may_force_delete: true,
            ..Access::at(Level::Write)
        };
        assert_eq!(
            decide(writer, Action::ForceDeleteWorkspace),
            Decision::Forbidden
        );
        assert_eq!(
            decide(Access::at(Level::Owner), Action::ForceDeleteWorkspace),
            Decision::Allow
        );
    }

    #[test]
    fn features_the_server_lacks_are_advertised_to_nobody() {
        let owner = Access::at(Level::Owner);
        let o = organization_permissions(owner);
        assert!(
            !(o.can_create_team
                || o.can_manage_users
                || o.can_update_api_token
                || o.can_update_oauth
                || o.can_update_sentinel
                || o.can_update_ssh_keys
                || o.can_manage_run_tasks
                || o.can_create_workspace_migration)
        );
        let w = workspace_permissions(owner);
        assert!(!w.can_manage_run_tasks && !w.can_read_assessment_results);
        let r = run_permissions(owner);
        assert!(!r.can_comment && !r.can_force_execute && !r.can_override_policy_check);
        assert!(r.can_apply && r.can_cancel && r.can_force_cancel);
    }
}
