//! The authorization policy: the one place that decides whether a caller may perform an
//! action on an organization's resources. Handlers and workers never compare roles
//! themselves; they ask [`decide`], and the `permissions` objects of API resources are
//! derived from the same function, so what the API advertises is exactly what it enforces.
//!
//! Access comes from the caller's teams ([`grants`]): the owners team holds everything, other
//! teams hold organization-wide permissions (`organization-access`) and access to workspaces
//! and projects (`team-workspaces`, `team-projects`). The domain resolves those records into
//! one [`Access`] for the resource at hand; everything here is a pure function of it.
//!
//! A flag is true only when the request it governs is allowed: features this server does
//! not have (VCS, Sentinel, ...) are advertised as false to everyone.
//! Rules about a resource's state (a locked workspace, a run's status) live with the
//! resource in the domain crate, which combines them with these flags.

pub mod grants;

use serde::Serialize;

pub use grants::{
    OrganizationAccess, ProjectAccess, ProjectGrant, ProjectLevel, RunsAccess, SentinelMocksAccess,
    StateAccess, VariablesAccess, WorkspaceGrant, WorkspaceLevel,
};

/// What a caller may do in one organization, and to the project or workspace at hand (for
/// organization-wide requests: to every project and workspace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Sees the organization (any membership, site administrators).
    pub member: bool,
    /// Owns it (the owners team, site administrators).
    pub owner: bool,
    /// The union of the caller's teams' organization-wide permissions.
    pub organization: OrganizationAccess,
    pub project: ProjectGrant,
    pub workspace: WorkspaceGrant,
    /// The organization lets workspace administrators force-delete workspaces
    /// (`allow-force-delete-workspaces`); owners always may.
    pub admins_may_force_delete: bool,
}

impl Access {
    pub const NONE: Access = Access {
        member: false,
        owner: false,
        organization: OrganizationAccess {
            manage_policies: false,
            manage_policy_overrides: false,
            manage_workspaces: false,
            manage_vcs_settings: false,
            manage_providers: false,
            manage_modules: false,
            manage_run_tasks: false,
            manage_projects: false,
            manage_membership: false,
            manage_teams: false,
            manage_organization_access: false,
            access_secret_teams: false,
            manage_agent_pools: false,
            read_workspaces: false,
            read_projects: false,
        },
        project: ProjectGrant {
            read: false,
            create_workspaces: false,
            update: false,
            delete: false,
            manage_teams: false,
            variable_sets: VariablesAccess::None,
        },
        workspace: WorkspaceGrant::NONE,
        admins_may_force_delete: false,
    };

    /// An owner: everything, everywhere in the organization.
    pub fn owner() -> Access {
        Access {
            owner: true,
            ..Access::member(OrganizationAccess::ALL)
        }
    }

    /// A member whose teams hold `organization` permissions, before any grant on a
    /// particular project or workspace.
    pub fn member(organization: OrganizationAccess) -> Access {
        let all_projects = organization.manage_projects;
        Access {
            member: true,
            owner: false,
            organization,
            project: ProjectGrant {
                read: all_projects || organization.read_projects,
                create_workspaces: all_projects,
                update: all_projects,
                delete: all_projects,
                manage_teams: all_projects,
                variable_sets: if all_projects {
                    VariablesAccess::Write
                } else {
                    VariablesAccess::None
                },
            },
            workspace: organization.workspace_grant(),
            admins_may_force_delete: false,
        }
    }

    /// A member holding exactly `level` on the workspace at hand (for tests and examples).
    pub fn at_workspace_level(level: WorkspaceLevel) -> Access {
        Access::member(OrganizationAccess::default())
            .with_workspace(WorkspaceGrant::of_level(level))
    }

    /// Adds a grant on the workspace at hand.
    pub fn with_workspace(self, grant: WorkspaceGrant) -> Access {
        Access {
            workspace: self.workspace.union(grant),
            ..self
        }
    }

    /// Adds a grant on the project at hand (which its workspaces inherit).
    pub fn with_project(self, grant: ProjectAccess) -> Access {
        Access {
            project: self.project.union(grant.project),
            workspace: self.workspace.union(grant.workspaces),
            ..self
        }
    }
}

/// Where an action applies, which decides what an invisible target answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Organization,
    Project,
    Workspace,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Organization => "organization",
            Scope::Project => "project",
            Scope::Workspace => "workspace",
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
    ReadProject,
    UpdateProject,
    DeleteProject,
    /// Give teams access to the project.
    ManageProjectAccess,
    /// Read the variable sets the project owns (owners and readers of the organization's
    /// variable sets read every set).
    ReadProjectVariableSets,
    /// Create, change and delete the variable sets the project owns.
    ManageProjectVariableSets,
    ManageTags,
    ReadWorkspace,
    UpdateWorkspace,
    /// Safe deletion: only a workspace that is unlocked and manages no resources.
    DeleteWorkspace,
    /// Deletion whatever the workspace manages.
    ForceDeleteWorkspace,
    /// Move the workspace out of its project (into one where the caller may create
    /// workspaces).
    MoveWorkspace,
    LockWorkspace,
    UnlockWorkspace,
    ForceUnlockWorkspace,
    /// Give teams access to the workspace.
    ManageWorkspaceAccess,
    ReadStateVersions,
    ReadStateOutputs,
    CreateStateVersion,
    ReadRuns,
    QueueRun,
    QueueApply,
    QueueDestroy,
    ReadVariables,
    UpdateVariables,
    /// Read the organization's variable sets (they reach workspaces the caller may not see).
    ReadVariableSets,
    ManageVariableSets,
    /// Agent pools, their tokens and agents (reading them is `ReadOrganization`).
    ManageAgentPools,
    /// Publish and delete the private registry's modules (reading them is `ReadOrganization`).
    ManageModules,
    /// Create, rename and delete teams.
    ManageTeams,
    /// Set teams' organization-wide permissions (`organization-access`).
    ManageOrganizationAccess,
    /// Invite and remove members, and put them on teams.
    ManageMembership,
    /// See secret teams the caller is not on.
    ReadSecretTeams,
    /// The organization's own API token.
    ManageOrganizationToken,
    ReadAuditTrail,
    /// The private provider registry: GPG keys, providers, their versions and platforms
    /// (reading providers is `ReadOrganization`).
    ManageProviders,
    /// The organization's SSH keys (HCP: owners and teams with `manage-vcs-settings`).
    ManageVcsSettings,
    /// The organization's run tasks (HCP's "Manage Run Tasks": owners and teams with
    /// `manage-run-tasks`).
    ManageRunTasks,
    /// Attach run tasks to the workspace, change and remove them (HCP's "Manage Workspace
    /// Run Tasks": workspace administrators, custom grants with `run-tasks`).
    ManageWorkspaceRunTasks,
}

impl Action {
    /// Every action, for documentation checks.
    pub const ALL: &'static [Action] = {
        use Action::*;
        &[
            ReadOrganization,
            UpdateOrganization,
            DeleteOrganization,
            CreateWorkspace,
            CreateProject,
            ReadProject,
            UpdateProject,
            DeleteProject,
            ManageProjectAccess,
            ReadProjectVariableSets,
            ManageProjectVariableSets,
            ManageTags,
            ReadWorkspace,
            UpdateWorkspace,
            DeleteWorkspace,
            ForceDeleteWorkspace,
            MoveWorkspace,
            LockWorkspace,
            UnlockWorkspace,
            ForceUnlockWorkspace,
            ManageWorkspaceAccess,
            ReadStateVersions,
            ReadStateOutputs,
            CreateStateVersion,
            ReadRuns,
            QueueRun,
            QueueApply,
            QueueDestroy,
            ReadVariables,
            UpdateVariables,
            ReadVariableSets,
            ManageVariableSets,
            ManageAgentPools,
            ManageModules,
            ManageTeams,
            ManageOrganizationAccess,
            ManageMembership,
            ReadSecretTeams,
            ManageOrganizationToken,
            ReadAuditTrail,
            ManageProviders,
            ManageVcsSettings,
            ManageRunTasks,
            ManageWorkspaceRunTasks,
        ]
    };

    /// The action's name in route documentation (`x-terrace-permission`), kebab-case.
    pub fn name(self) -> &'static str {
        use Action::*;
        match self {
            ReadOrganization => "read-organization",
            UpdateOrganization => "update-organization",
            DeleteOrganization => "delete-organization",
            CreateWorkspace => "create-workspace",
            CreateProject => "create-project",
            ReadProject => "read-project",
            UpdateProject => "update-project",
            DeleteProject => "delete-project",
            ManageProjectAccess => "manage-project-access",
            ReadProjectVariableSets => "read-project-variable-sets",
            ManageProjectVariableSets => "manage-project-variable-sets",
            ManageTags => "manage-tags",
            ReadWorkspace => "read-workspace",
            UpdateWorkspace => "update-workspace",
            DeleteWorkspace => "delete-workspace",
            ForceDeleteWorkspace => "force-delete-workspace",
            MoveWorkspace => "move-workspace",
            LockWorkspace => "lock-workspace",
            UnlockWorkspace => "unlock-workspace",
            ForceUnlockWorkspace => "force-unlock-workspace",
            ManageWorkspaceAccess => "manage-workspace-access",
            ReadStateVersions => "read-state-versions",
            ReadStateOutputs => "read-state-outputs",
            CreateStateVersion => "create-state-version",
            ReadRuns => "read-runs",
            QueueRun => "queue-run",
            QueueApply => "queue-apply",
            QueueDestroy => "queue-destroy",
            ReadVariables => "read-variables",
            UpdateVariables => "update-variables",
            ReadVariableSets => "read-variable-sets",
            ManageVariableSets => "manage-variable-sets",
            ManageAgentPools => "manage-agent-pools",
            ManageModules => "manage-modules",
            ManageTeams => "manage-teams",
            ManageOrganizationAccess => "manage-organization-access",
            ManageMembership => "manage-membership",
            ReadSecretTeams => "read-secret-teams",
            ManageOrganizationToken => "manage-organization-token",
            ReadAuditTrail => "read-audit-trail",
            ManageProviders => "manage-providers",
            ManageVcsSettings => "manage-vcs-settings",
            ManageRunTasks => "manage-run-tasks",
            ManageWorkspaceRunTasks => "manage-workspace-run-tasks",
        }
    }

    pub fn scope(self) -> Scope {
        use Action::*;
        match self {
            ReadProject
            | UpdateProject
            | DeleteProject
            | ManageProjectAccess
            | ReadProjectVariableSets
            | ManageProjectVariableSets => Scope::Project,
            ReadWorkspace
            | UpdateWorkspace
            | DeleteWorkspace
            | ForceDeleteWorkspace
            | MoveWorkspace
            | LockWorkspace
            | UnlockWorkspace
            | ForceUnlockWorkspace
            | ManageWorkspaceAccess
            | ReadStateVersions
            | ReadStateOutputs
            | CreateStateVersion
            | ReadRuns
            | QueueRun
            | QueueApply
            | QueueDestroy
            | ReadVariables
            | UpdateVariables
            | ManageWorkspaceRunTasks => Scope::Workspace,
            _ => Scope::Organization,
        }
    }

    /// Whether `access` allows the action.
    fn allowed(self, a: &Access) -> bool {
        use Action::*;
        let (org, p, w) = (&a.organization, &a.project, &a.workspace);
        a.member
            && match self {
                ReadOrganization => true,
                UpdateOrganization
                | DeleteOrganization
                | ManageVariableSets
                | ManageOrganizationToken
                | ReadAuditTrail => a.owner,
                CreateProject => org.manage_projects,
                ReadProject => p.read || w.visible(),
                UpdateProject => p.update,
                DeleteProject => p.delete,
                ManageProjectAccess => p.manage_teams,
                ReadProjectVariableSets => {
                    ReadVariableSets.allowed(a) || p.variable_sets >= VariablesAccess::Read
                }
                ManageProjectVariableSets => {
                    ManageVariableSets.allowed(a) || p.variable_sets >= VariablesAccess::Write
                }
                CreateWorkspace => org.manage_workspaces || p.create_workspaces,
                ManageTags => org.manage_workspaces || org.manage_projects,
                ManageAgentPools => org.manage_agent_pools,
                ManageModules => org.manage_modules,
                ManageProviders => org.manage_providers,
                ManageVcsSettings => org.manage_vcs_settings,
                ManageRunTasks => org.manage_run_tasks,
                ManageWorkspaceRunTasks => w.run_tasks || w.admin,
                ManageTeams => org.manage_teams,
                ManageOrganizationAccess => org.manage_organization_access,
                ManageMembership => org.manage_membership,
                ReadSecretTeams => org.access_secret_teams || org.manage_teams,
                ReadVariableSets => {
                    a.owner || org.workspace_grant().variables >= VariablesAccess::Read
                }
                ReadWorkspace => w.visible(),
                UpdateWorkspace | ForceUnlockWorkspace | ManageWorkspaceAccess => w.admin,
                DeleteWorkspace => w.deletes(),
                MoveWorkspace => w.moves(),
                ForceDeleteWorkspace => a.owner || (w.admin && a.admins_may_force_delete),
                LockWorkspace | UnlockWorkspace => w.workspace_locking,
                ReadStateOutputs => w.state_versions >= StateAccess::ReadOutputs,
                ReadStateVersions => w.state_versions >= StateAccess::Read,
                CreateStateVersion => w.state_versions >= StateAccess::Write,
                ReadRuns => w.runs >= RunsAccess::Read,
                QueueRun => w.runs >= RunsAccess::Plan,
                QueueApply | QueueDestroy => w.runs >= RunsAccess::Apply,
                ReadVariables => w.variables >= VariablesAccess::Read,
                UpdateVariables => w.variables >= VariablesAccess::Write,
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
    if action.allowed(&access) {
        return Decision::Allow;
    }
    let visible = access.member
        && match action.scope() {
            Scope::Organization => true,
            Scope::Project => access.project.read || access.workspace.visible(),
            Scope::Workspace => access.workspace.visible(),
        };
    if visible {
        Decision::Forbidden
    } else {
        Decision::Hidden
    }
}

/// Whether `access` allows `action`: for what a view or a page offers (a button, an upload
/// URL) before anyone asks.
pub fn allows(access: Access, action: Action) -> bool {
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
        can_manage_run_tasks: can(ManageWorkspaceRunTasks),
        // No assessment results on this server.
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
        can_read_varsets: can(ReadVariableSets),
        can_create_team: can(ManageTeams),
        can_manage_users: can(ManageMembership),
        can_update_api_token: can(ManageOrganizationToken),
        can_update_ssh_keys: can(ManageVcsSettings),
        can_manage_run_tasks: can(ManageRunTasks),
        // Features this server does not have: no API for them, so nobody can.
        can_create_workspace_migration: false,
        can_update_oauth: false,
        can_update_sentinel: false,
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
        can_comment: allows(access, Action::QueueRun),
        // Running a run ahead of the queue discards the runs in its way.
        can_force_execute: apply,
        // No policy checks here.
        can_override_policy_check: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVELS: [WorkspaceLevel; 4] = [
        WorkspaceLevel::Read,
        WorkspaceLevel::Plan,
        WorkspaceLevel::Write,
        WorkspaceLevel::Admin,
    ];

    fn member() -> Access {
        Access::member(OrganizationAccess::default())
    }

    #[test]
    fn outsiders_see_nothing() {
        for action in [
            Action::ReadOrganization,
            Action::ReadWorkspace,
            Action::DeleteOrganization,
            Action::ReadStateOutputs,
            Action::ForceDeleteWorkspace,
            Action::ManageTeams,
        ] {
            assert_eq!(decide(Access::NONE, action), Decision::Hidden);
        }
        assert!(!workspace_permissions(Access::NONE).can_lock);
        assert!(!run_permissions(Access::NONE).can_cancel);
    }

    #[test]
    fn a_member_without_grants_sees_the_organization_and_no_workspace() {
        let m = member();
        assert_eq!(decide(m, Action::ReadOrganization), Decision::Allow);
        assert_eq!(decide(m, Action::ReadWorkspace), Decision::Hidden);
        assert_eq!(decide(m, Action::ReadProject), Decision::Hidden);
        assert_eq!(decide(m, Action::CreateWorkspace), Decision::Forbidden);
        assert_eq!(decide(m, Action::ManageTeams), Decision::Forbidden);
        assert_eq!(decide(m, Action::ReadVariableSets), Decision::Forbidden);
    }

    #[test]
    fn levels_are_ordered() {
        let read = Access::at_workspace_level(WorkspaceLevel::Read);
        assert_eq!(decide(read, Action::ReadStateVersions), Decision::Allow);
        assert_eq!(decide(read, Action::QueueRun), Decision::Forbidden);
        assert_eq!(decide(read, Action::LockWorkspace), Decision::Forbidden);
        let plan = Access::at_workspace_level(WorkspaceLevel::Plan);
        assert_eq!(decide(plan, Action::QueueRun), Decision::Allow);
        assert_eq!(decide(plan, Action::QueueApply), Decision::Forbidden);
        assert_eq!(
            decide(plan, Action::CreateStateVersion),
            Decision::Forbidden
        );
        let write = Access::at_workspace_level(WorkspaceLevel::Write);
        assert_eq!(decide(write, Action::QueueApply), Decision::Allow);
        assert_eq!(decide(write, Action::LockWorkspace), Decision::Allow);
        assert_eq!(decide(write, Action::UpdateWorkspace), Decision::Forbidden);
        let admin = Access::at_workspace_level(WorkspaceLevel::Admin);
        assert_eq!(decide(admin, Action::ForceUnlockWorkspace), Decision::Allow);
        assert_eq!(
            decide(admin, Action::ManageWorkspaceAccess),
            Decision::Allow
        );
        assert_eq!(
            decide(admin, Action::DeleteOrganization),
            Decision::Forbidden
        );
        assert!(organization_permissions(Access::owner()).can_destroy);
        assert!(!organization_permissions(admin).can_destroy);
        // Each level holds everything the one before it holds.
        for pair in LEVELS.windows(2) {
            let (lower, higher) = (
                WorkspaceGrant::of_level(pair[0]),
                WorkspaceGrant::of_level(pair[1]),
            );
            assert_eq!(lower.union(higher), higher, "{pair:?}");
        }
    }

    #[test]
    fn custom_grants_are_what_they_name() {
        let grant = WorkspaceGrant {
            runs: RunsAccess::Plan,
            state_versions: StateAccess::ReadOutputs,
            ..WorkspaceGrant::custom()
        };
        let a = member().with_workspace(grant);
        assert_eq!(decide(a, Action::QueueRun), Decision::Allow);
        assert_eq!(decide(a, Action::ReadStateOutputs), Decision::Allow);
        assert_eq!(decide(a, Action::ReadStateVersions), Decision::Forbidden);
        assert_eq!(decide(a, Action::ReadVariables), Decision::Forbidden);
        assert_eq!(decide(a, Action::LockWorkspace), Decision::Forbidden);
        let p = workspace_permissions(a);
        assert!(p.can_queue_run && p.can_read_state_outputs);
        assert!(!p.can_read_state_versions && !p.can_read_variable && !p.can_queue_apply);
    }

    #[test]
    fn several_teams_hold_the_union_of_their_grants() {
        let variables_only = WorkspaceGrant {
            variables: VariablesAccess::Write,
            ..WorkspaceGrant::custom()
        };
        let a = Access::at_workspace_level(WorkspaceLevel::Plan).with_workspace(variables_only);
        assert_eq!(decide(a, Action::UpdateVariables), Decision::Allow);
        assert_eq!(decide(a, Action::QueueRun), Decision::Allow);
        assert_eq!(decide(a, Action::QueueApply), Decision::Forbidden);
    }

    #[test]
    fn projects_pass_their_level_to_their_workspaces() {
        let maintain = member().with_project(ProjectAccess::of_level(ProjectLevel::Maintain));
        assert_eq!(decide(maintain, Action::CreateWorkspace), Decision::Allow);
        assert_eq!(decide(maintain, Action::UpdateWorkspace), Decision::Allow);
        assert_eq!(decide(maintain, Action::UpdateProject), Decision::Forbidden);
        let admin = member().with_project(ProjectAccess::of_level(ProjectLevel::Admin));
        assert_eq!(decide(admin, Action::DeleteProject), Decision::Allow);
        assert_eq!(decide(admin, Action::ManageProjectAccess), Decision::Allow);
        let read = member().with_project(ProjectAccess::of_level(ProjectLevel::Read));
        assert_eq!(decide(read, Action::ReadWorkspace), Decision::Allow);
        assert_eq!(decide(read, Action::QueueRun), Decision::Forbidden);
        assert_eq!(decide(read, Action::CreateWorkspace), Decision::Forbidden);
    }

    #[test]
    fn custom_project_grants_move_and_delete_apart() {
        let move_only = ProjectAccess {
            project: ProjectGrant {
                read: true,
                create_workspaces: true,
                ..ProjectGrant::default()
            },
            workspaces: WorkspaceGrant {
                move_: true,
                ..WorkspaceGrant::custom()
            },
        };
        let a = member().with_project(move_only);
        assert_eq!(decide(a, Action::MoveWorkspace), Decision::Allow);
        assert_eq!(decide(a, Action::DeleteWorkspace), Decision::Forbidden);
        assert_eq!(decide(a, Action::UpdateWorkspace), Decision::Forbidden);
        assert!(!workspace_permissions(a).can_destroy);
        let delete_only = ProjectAccess {
            workspaces: WorkspaceGrant {
                delete: true,
                ..WorkspaceGrant::custom()
            },
            ..move_only
        };
        let d = member().with_project(delete_only);
        assert_eq!(decide(d, Action::DeleteWorkspace), Decision::Allow);
        assert_eq!(decide(d, Action::MoveWorkspace), Decision::Forbidden);
        assert_eq!(decide(d, Action::ForceDeleteWorkspace), Decision::Forbidden);
        assert!(workspace_permissions(d).can_destroy);
        // Administrators move and delete, also with grants stored before the parts existed.
        let legacy: WorkspaceGrant = serde_json::from_str(
            r#"{"runs":"apply","variables":"write","state-versions":"write",
                "sentinel-mocks":"read","workspace-locking":true,"run-tasks":true,"admin":true}"#,
        )
        .unwrap();
        let old_admin = member().with_workspace(legacy);
        assert_eq!(decide(old_admin, Action::DeleteWorkspace), Decision::Allow);
        assert_eq!(decide(old_admin, Action::MoveWorkspace), Decision::Allow);
        let writer = Access::at_workspace_level(WorkspaceLevel::Write);
        assert_eq!(decide(writer, Action::MoveWorkspace), Decision::Forbidden);
        // Invisible workspaces stay hidden.
        assert_eq!(decide(member(), Action::MoveWorkspace), Decision::Hidden);
    }

    #[test]
    fn project_variable_sets_read_and_write() {
        let with = |variable_sets| {
            member().with_project(ProjectAccess {
                project: ProjectGrant {
                    read: true,
                    variable_sets,
                    ..ProjectGrant::default()
                },
                workspaces: WorkspaceGrant::custom(),
            })
        };
        let none = with(VariablesAccess::None);
        assert_eq!(
            decide(none, Action::ReadProjectVariableSets),
            Decision::Forbidden
        );
        let read = with(VariablesAccess::Read);
        assert_eq!(
            decide(read, Action::ReadProjectVariableSets),
            Decision::Allow
        );
        assert_eq!(
            decide(read, Action::ManageProjectVariableSets),
            Decision::Forbidden
        );
        let write = with(VariablesAccess::Write);
        assert_eq!(
            decide(write, Action::ManageProjectVariableSets),
            Decision::Allow
        );
        // A project grant never reaches the organization's own variable sets.
        assert_eq!(decide(write, Action::ReadVariableSets), Decision::Forbidden);
        assert_eq!(
            decide(write, Action::ManageVariableSets),
            Decision::Forbidden
        );
        // Owners manage every set; presets: maintain and admin write, read and write none.
        assert_eq!(
            decide(Access::owner(), Action::ManageProjectVariableSets),
            Decision::Allow
        );
        for (level, expected) in [
            (ProjectLevel::Read, VariablesAccess::None),
            (ProjectLevel::Write, VariablesAccess::None),
            (ProjectLevel::Maintain, VariablesAccess::Write),
            (ProjectLevel::Admin, VariablesAccess::Write),
        ] {
            assert_eq!(
                ProjectAccess::of_level(level).project.variable_sets,
                expected,
                "{level:?}"
            );
        }
        assert_eq!(
            decide(member(), Action::ReadProjectVariableSets),
            Decision::Hidden
        );
        // A project grant stored before variable sets existed loads as none.
        let old: ProjectGrant = serde_json::from_str(r#"{"read":true}"#).unwrap();
        assert_eq!(old.variable_sets, VariablesAccess::None);
    }

    #[test]
    fn organization_access_reaches_every_workspace() {
        let managers = Access::member(OrganizationAccess {
            manage_workspaces: true,
            ..OrganizationAccess::default()
        });
        assert_eq!(decide(managers, Action::CreateWorkspace), Decision::Allow);
        assert_eq!(decide(managers, Action::QueueApply), Decision::Allow);
        assert_eq!(decide(managers, Action::ManageTeams), Decision::Forbidden);
        assert_eq!(
            decide(managers, Action::UpdateOrganization),
            Decision::Forbidden
        );
        let readers = Access::member(OrganizationAccess {
            read_workspaces: true,
            ..OrganizationAccess::default()
        });
        assert_eq!(decide(readers, Action::ReadStateVersions), Decision::Allow);
        assert_eq!(decide(readers, Action::QueueRun), Decision::Forbidden);
        assert_eq!(decide(readers, Action::ReadVariableSets), Decision::Allow);
    }

    #[test]
    fn run_tasks_take_their_organization_permission_and_workspace_administration() {
        let runners = Access::member(OrganizationAccess {
            manage_run_tasks: true,
            ..OrganizationAccess::default()
        });
        assert_eq!(decide(runners, Action::ManageRunTasks), Decision::Allow);
        assert!(organization_permissions(runners).can_manage_run_tasks);
        let plain = Access::member(OrganizationAccess::default());
        assert_eq!(decide(plain, Action::ManageRunTasks), Decision::Forbidden);
        assert!(!organization_permissions(plain).can_manage_run_tasks);
        // Attaching: administrators and custom grants with `run-tasks`, not writers.
        let admin = Access::at_workspace_level(WorkspaceLevel::Admin);
        let writer = Access::at_workspace_level(WorkspaceLevel::Write);
        assert_eq!(
            decide(admin, Action::ManageWorkspaceRunTasks),
            Decision::Allow
        );
        assert_eq!(
            decide(writer, Action::ManageWorkspaceRunTasks),
            Decision::Forbidden
        );
        assert!(workspace_permissions(admin).can_manage_run_tasks);
        assert!(!workspace_permissions(writer).can_manage_run_tasks);
        let custom = Access::member(OrganizationAccess::default()).with_workspace(WorkspaceGrant {
            run_tasks: true,
            ..WorkspaceGrant::of_level(WorkspaceLevel::Read)
        });
        assert_eq!(
            decide(custom, Action::ManageWorkspaceRunTasks),
            Decision::Allow
        );
        assert_eq!(
            decide(Access::NONE, Action::ManageWorkspaceRunTasks),
            Decision::Hidden
        );
    }

    #[test]
    fn organization_tokens_configure_but_do_not_operate() {
        let grant = WorkspaceGrant::of_level(WorkspaceLevel::Admin).without_operations();
        let a = member().with_workspace(grant);
        assert_eq!(decide(a, Action::UpdateVariables), Decision::Allow);
        assert_eq!(decide(a, Action::UpdateWorkspace), Decision::Allow);
        assert_eq!(decide(a, Action::ReadRuns), Decision::Allow);
        for action in [
            Action::QueueRun,
            Action::QueueApply,
            Action::CreateStateVersion,
            Action::LockWorkspace,
        ] {
            assert_eq!(decide(a, action), Decision::Forbidden, "{action:?}");
        }
    }

    #[test]
    fn permissions_mirror_decisions() {
        let write = Access::at_workspace_level(WorkspaceLevel::Write);
        let p = workspace_permissions(write);
        assert!(p.can_lock && p.can_unlock && p.can_queue_apply && p.can_create_state_versions);
        assert!(!p.can_force_unlock && !p.can_update && !p.can_destroy);
        let accesses = LEVELS
            .iter()
            .map(|l| Access::at_workspace_level(*l))
            .chain([Access::NONE, member(), Access::owner()]);
        for access in accesses {
            let can = |action| decide(access, action) == Decision::Allow;
            let w = workspace_permissions(access);
            assert_eq!(w.can_queue_destroy, can(Action::QueueDestroy), "{access:?}");
            assert_eq!(w.can_destroy, can(Action::DeleteWorkspace), "{access:?}");
            assert_eq!(w.can_force_delete, can(Action::ForceDeleteWorkspace));
            assert_eq!(w.can_queue_run, can(Action::QueueRun));
            let o = organization_permissions(access);
            assert_eq!(
                o.can_read_varsets,
                can(Action::ReadVariableSets),
                "{access:?}"
            );
            assert_eq!(o.can_manage_varsets, can(Action::ManageVariableSets));
            assert_eq!(o.can_create_team, can(Action::ManageTeams));
            let r = run_permissions(access);
            assert_eq!(r.can_apply, can(Action::QueueApply), "{access:?}");
            assert_eq!(r.can_discard, r.can_apply);
        }
    }

    #[test]
    fn force_delete_is_for_owners_unless_the_organization_lets_admins() {
        let admin = Access::at_workspace_level(WorkspaceLevel::Admin);
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
            ..Access::at_workspace_level(WorkspaceLevel::Write)
        };
        assert_eq!(
            decide(writer, Action::ForceDeleteWorkspace),
            Decision::Forbidden
        );
        assert_eq!(
            decide(Access::owner(), Action::ForceDeleteWorkspace),
            Decision::Allow
        );
    }

    #[test]
    fn features_the_server_lacks_are_advertised_to_nobody() {
        let owner = Access::owner();
        let o = organization_permissions(owner);
        assert!(!(o.can_update_oauth || o.can_update_sentinel || o.can_create_workspace_migration));
        assert!(o.can_create_team && o.can_manage_users && o.can_update_api_token);
        assert!(o.can_update_ssh_keys && o.can_manage_run_tasks);
        let w = workspace_permissions(owner);
        assert!(w.can_manage_run_tasks && !w.can_read_assessment_results);
        let r = run_permissions(owner);
        assert!(!r.can_override_policy_check);
        assert!(r.can_apply && r.can_cancel && r.can_force_cancel && r.can_comment);
        assert!(r.can_force_execute);
    }
}
