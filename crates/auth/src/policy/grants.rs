//! What teams are granted, TFE-shaped: organization-wide permissions of a team
//! (`organization-access`), access to one workspace (`team-workspaces`) and to one project
//! (`team-projects`). Each preset level is a fixed grant; `custom` names the parts. A caller
//! on several teams holds the union of their grants ([`WorkspaceGrant::union`]).

use serde::{Deserialize, Serialize};

/// A team's organization-wide permissions (its `organization-access` object). Permissions for
/// features this server does not have are kept as given, and grant nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct OrganizationAccess {
    pub manage_policies: bool,
    pub manage_policy_overrides: bool,
    pub manage_workspaces: bool,
    pub manage_vcs_settings: bool,
    pub manage_providers: bool,
    pub manage_modules: bool,
    pub manage_run_tasks: bool,
    pub manage_projects: bool,
    pub manage_membership: bool,
    pub manage_teams: bool,
    pub manage_organization_access: bool,
    pub access_secret_teams: bool,
    pub manage_agent_pools: bool,
    pub read_workspaces: bool,
    pub read_projects: bool,
}

impl OrganizationAccess {
    /// Everything (the owners team, site administrators).
    pub const ALL: OrganizationAccess = OrganizationAccess {
        manage_policies: true,
        manage_policy_overrides: true,
        manage_workspaces: true,
        manage_vcs_settings: true,
        manage_providers: true,
        manage_modules: true,
        manage_run_tasks: true,
        manage_projects: true,
        manage_membership: true,
        manage_teams: true,
        manage_organization_access: true,
        access_secret_teams: true,
        manage_agent_pools: true,
        read_workspaces: true,
        read_projects: true,
    };

    pub fn union(self, o: OrganizationAccess) -> OrganizationAccess {
        OrganizationAccess {
            manage_policies: self.manage_policies || o.manage_policies,
            manage_policy_overrides: self.manage_policy_overrides || o.manage_policy_overrides,
            manage_workspaces: self.manage_workspaces || o.manage_workspaces,
            manage_vcs_settings: self.manage_vcs_settings || o.manage_vcs_settings,
            manage_providers: self.manage_providers || o.manage_providers,
            manage_modules: self.manage_modules || o.manage_modules,
            manage_run_tasks: self.manage_run_tasks || o.manage_run_tasks,
            manage_projects: self.manage_projects || o.manage_projects,
            manage_membership: self.manage_membership || o.manage_membership,
            manage_teams: self.manage_teams || o.manage_teams,
            manage_organization_access: self.manage_organization_access
                || o.manage_organization_access,
            access_secret_teams: self.access_secret_teams || o.access_secret_teams,
            manage_agent_pools: self.manage_agent_pools || o.manage_agent_pools,
            read_workspaces: self.read_workspaces || o.read_workspaces,
            read_projects: self.read_projects || o.read_projects,
        }
    }

    /// The grant these permissions give on every workspace of the organization: managing
    /// workspaces or projects administers them all, reading workspaces reads them all.
    pub fn workspace_grant(&self) -> WorkspaceGrant {
        if self.manage_workspaces || self.manage_projects {
            WorkspaceGrant::of_level(WorkspaceLevel::Admin)
        } else if self.read_workspaces {
            WorkspaceGrant::of_level(WorkspaceLevel::Read)
        } else {
            WorkspaceGrant::NONE
        }
    }
}

/// Declares a string enum ordered weakest first, (de)serialized as its TFE name.
macro_rules! grant_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "\"{other}\" is not one of: {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

grant_enum!(
    /// A `team-workspaces` access level.
    WorkspaceLevel { Read => "read", Plan => "plan", Write => "write", Admin => "admin", Custom => "custom" }
);
grant_enum!(
    /// A `team-projects` access level.
    ProjectLevel { Read => "read", Write => "write", Maintain => "maintain", Admin => "admin", Custom => "custom" }
);
grant_enum!(RunsAccess { None => "none", Read => "read", Plan => "plan", Apply => "apply" });
grant_enum!(
    /// A workspace's variables, or (in `team-projects`) the project's own variable sets.
    VariablesAccess { None => "none", Read => "read", Write => "write" }
);

// `grant_enum!` declares the variants, so `#[default]` cannot mark one.
#[allow(clippy::derivable_impls)]
impl Default for VariablesAccess {
    fn default() -> Self {
        VariablesAccess::None
    }
}
grant_enum!(StateAccess { None => "none", ReadOutputs => "read-outputs", Read => "read", Write => "write" });
grant_enum!(SentinelMocksAccess { None => "none", Read => "read" });

/// What a caller may do to one workspace. `RunsAccess::None` and nothing else: the workspace
/// is invisible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct WorkspaceGrant {
    pub runs: RunsAccess,
    pub variables: VariablesAccess,
    pub state_versions: StateAccess,
    pub sentinel_mocks: SentinelMocksAccess,
    pub workspace_locking: bool,
    pub run_tasks: bool,
    /// Settings, deletion, moving, force-unlock and team access of the workspace.
    #[serde(default)]
    pub admin: bool,
    /// Deleting the workspace without administering it (a custom project grant's `delete`).
    /// Grants stored before this part existed lack it: `admin` still deletes.
    #[serde(default)]
    pub delete: bool,
    /// Moving the workspace to another project without administering it (a custom project
    /// grant's `move`); the destination must let the caller create workspaces there.
    #[serde(default, rename = "move")]
    pub move_: bool,
}

impl WorkspaceGrant {
    pub const NONE: WorkspaceGrant = WorkspaceGrant {
        runs: RunsAccess::None,
        variables: VariablesAccess::None,
        state_versions: StateAccess::None,
        sentinel_mocks: SentinelMocksAccess::None,
        workspace_locking: false,
        run_tasks: false,
        admin: false,
        delete: false,
        move_: false,
    };

    /// The fixed grant of a preset level (`Custom` grants what its parts say: start from
    /// [`Self::custom`]).
    pub const fn of_level(level: WorkspaceLevel) -> WorkspaceGrant {
        let read = WorkspaceGrant {
            runs: RunsAccess::Read,
            variables: VariablesAccess::Read,
            state_versions: StateAccess::Read,
            sentinel_mocks: SentinelMocksAccess::None,
            workspace_locking: false,
            run_tasks: false,
            admin: false,
            delete: false,
            move_: false,
        };
        match level {
            WorkspaceLevel::Read | WorkspaceLevel::Custom => read,
            WorkspaceLevel::Plan => WorkspaceGrant {
                runs: RunsAccess::Plan,
                ..read
            },
            WorkspaceLevel::Write => WorkspaceGrant {
                runs: RunsAccess::Apply,
                variables: VariablesAccess::Write,
                state_versions: StateAccess::Write,
                sentinel_mocks: SentinelMocksAccess::Read,
                workspace_locking: true,
                ..read
            },
            WorkspaceLevel::Admin => WorkspaceGrant {
                runs: RunsAccess::Apply,
                variables: VariablesAccess::Write,
                state_versions: StateAccess::Write,
                sentinel_mocks: SentinelMocksAccess::Read,
                workspace_locking: true,
                run_tasks: true,
                admin: true,
                delete: true,
                move_: true,
            },
        }
    }

    /// The starting point of a `custom` grant: reading runs, nothing else (TFE's defaults).
    pub const fn custom() -> WorkspaceGrant {
        WorkspaceGrant {
            runs: RunsAccess::Read,
            variables: VariablesAccess::None,
            state_versions: StateAccess::None,
            ..WorkspaceGrant::NONE
        }
    }

    pub fn visible(&self) -> bool {
        *self != WorkspaceGrant::NONE
    }

    /// Whether the grant deletes the workspace: administrators do, and custom project grants
    /// with `delete`.
    pub fn deletes(&self) -> bool {
        self.admin || self.delete
    }

    /// Whether the grant moves the workspace out of its project: administrators do, and
    /// custom project grants with `move`.
    pub fn moves(&self) -> bool {
        self.admin || self.move_
    }

    /// Everything either grant allows.
    pub fn union(self, o: WorkspaceGrant) -> WorkspaceGrant {
        WorkspaceGrant {
            runs: self.runs.max(o.runs),
            variables: self.variables.max(o.variables),
            state_versions: self.state_versions.max(o.state_versions),
            sentinel_mocks: self.sentinel_mocks.max(o.sentinel_mocks),
            workspace_locking: self.workspace_locking || o.workspace_locking,
            run_tasks: self.run_tasks || o.run_tasks,
            admin: self.admin || o.admin,
            delete: self.delete || o.delete,
            move_: self.move_ || o.move_,
        }
    }

    /// The part of this grant an organization token may use: it configures workspaces but
    /// neither runs, writes state nor locks (as HCP Terraform's organization tokens).
    pub fn without_operations(self) -> WorkspaceGrant {
        WorkspaceGrant {
            runs: self.runs.min(RunsAccess::Read),
            state_versions: self.state_versions.min(StateAccess::Read),
            workspace_locking: false,
            ..self
        }
    }
}

/// What a caller may do to a project itself (its workspaces get a [`WorkspaceGrant`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct ProjectGrant {
    pub read: bool,
    pub create_workspaces: bool,
    /// Rename and describe the project.
    pub update: bool,
    pub delete: bool,
    /// Give teams access to the project.
    pub manage_teams: bool,
    /// The variable sets the project owns: read them (and their variables' non-sensitive
    /// values), or also create, change and delete them.
    pub variable_sets: VariablesAccess,
}

impl ProjectGrant {
    pub fn union(self, o: ProjectGrant) -> ProjectGrant {
        ProjectGrant {
            read: self.read || o.read,
            create_workspaces: self.create_workspaces || o.create_workspaces,
            update: self.update || o.update,
            delete: self.delete || o.delete,
            manage_teams: self.manage_teams || o.manage_teams,
            variable_sets: self.variable_sets.max(o.variable_sets),
        }
    }
}

/// A `team-projects` entry: what the team may do to the project and to each of its
/// workspaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProjectAccess {
    pub project: ProjectGrant,
    pub workspaces: WorkspaceGrant,
}

impl ProjectAccess {
    /// The fixed grants of a preset level: read and write pass their level to the
    /// workspaces; maintain administers them, creates new ones and manages the project's own
    /// variable sets (which reach only workspaces it administers); admin also manages the
    /// project and its team access.
    pub fn of_level(level: ProjectLevel) -> ProjectAccess {
        let read = ProjectGrant {
            read: true,
            ..ProjectGrant::default()
        };
        match level {
            ProjectLevel::Read | ProjectLevel::Custom => ProjectAccess {
                project: read,
                workspaces: WorkspaceGrant::of_level(WorkspaceLevel::Read),
            },
            ProjectLevel::Write => ProjectAccess {
                project: read,
                workspaces: WorkspaceGrant::of_level(WorkspaceLevel::Write),
            },
            ProjectLevel::Maintain => ProjectAccess {
                project: ProjectGrant {
                    create_workspaces: true,
                    variable_sets: VariablesAccess::Write,
                    ..read
                },
                workspaces: WorkspaceGrant::of_level(WorkspaceLevel::Admin),
            },
            ProjectLevel::Admin => ProjectAccess {
                project: ProjectGrant {
                    read: true,
                    create_workspaces: true,
                    update: true,
                    delete: true,
                    manage_teams: true,
                    variable_sets: VariablesAccess::Write,
                },
                workspaces: WorkspaceGrant::of_level(WorkspaceLevel::Admin),
            },
        }
    }
}
