//! Team access to workspaces (`team-workspaces`) and projects (`team-projects`): who may give
//! it, and how a level and its custom parts become the grant the policy reads.

use terrace_auth::policy::{
    Action, ProjectAccess, ProjectGrant, ProjectLevel, RunsAccess, SentinelMocksAccess,
    StateAccess, VariablesAccess, WorkspaceGrant, WorkspaceLevel,
};
use terrace_storage::model::{
    JsonText, Organization, Page, PageRequest, Project, Team, TeamProject, TeamWorkspace, Workspace,
};
use terrace_storage::{clock, ids, StorageError};

use crate::{Caller, DomainError, DomainResult, Services};

/// The workspace parts of a `team-workspaces` or `team-projects` request; `None`: not given.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceParts {
    pub runs: Option<String>,
    pub variables: Option<String>,
    pub state_versions: Option<String>,
    pub sentinel_mocks: Option<String>,
    pub workspace_locking: Option<bool>,
    pub run_tasks: Option<bool>,
    /// Project access only: delete the project's workspaces.
    pub delete: Option<bool>,
    /// Project access only: move the project's workspaces to other projects.
    pub move_: Option<bool>,
    /// Project access only: create workspaces in the project.
    pub create: Option<bool>,
}

/// The project parts of a `team-projects` request.
#[derive(Debug, Clone, Default)]
pub struct ProjectParts {
    /// `read`, `update` or `delete`.
    pub settings: Option<String>,
    /// `none`, `read` or `manage`.
    pub teams: Option<String>,
    /// `none`, `read` or `write`: the variable sets the project owns.
    pub variable_sets: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AccessInput {
    pub access: Option<String>,
    pub workspace: WorkspaceParts,
    pub project: ProjectParts,
}

impl WorkspaceParts {
    fn given(&self) -> Option<&'static str> {
        [
            (self.runs.is_some(), "Runs"),
            (self.variables.is_some(), "Variables"),
            (self.state_versions.is_some(), "State versions"),
            (self.sentinel_mocks.is_some(), "Sentinel mocks"),
            (self.workspace_locking.is_some(), "Workspace locking"),
            (self.run_tasks.is_some(), "Run tasks"),
            (self.delete.is_some(), "Delete"),
            (self.move_.is_some(), "Move"),
            (self.create.is_some(), "Create"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }

    /// `base` with the given parts applied.
    fn apply(&self, base: WorkspaceGrant, pointer: &str) -> DomainResult<WorkspaceGrant> {
        let runs: Option<RunsAccess> = parse(&self.runs, &format!("{pointer}runs"))?;
        if runs == Some(RunsAccess::None) {
            return Err(DomainError::invalid(
                &format!("{pointer}runs"),
                "runs must be read, plan or apply: every access level reads runs",
            ));
        }
        Ok(WorkspaceGrant {
            runs: runs.unwrap_or(base.runs),
            variables: parse::<VariablesAccess>(&self.variables, &format!("{pointer}variables"))?
                .unwrap_or(base.variables),
            state_versions: parse::<StateAccess>(
                &self.state_versions,
                &format!("{pointer}state-versions"),
            )?
            .unwrap_or(base.state_versions),
            sentinel_mocks: parse::<SentinelMocksAccess>(
                &self.sentinel_mocks,
                &format!("{pointer}sentinel-mocks"),
            )?
            .unwrap_or(base.sentinel_mocks),
            workspace_locking: self.workspace_locking.unwrap_or(base.workspace_locking),
            run_tasks: self.run_tasks.unwrap_or(base.run_tasks),
            // Custom access never administers a workspace (that is a preset level's); what an
            // administering base did, deleting and moving, it keeps unless told otherwise.
            admin: false,
            delete: self.delete.unwrap_or(base.deletes()),
            move_: self.move_.unwrap_or(base.moves()),
        })
    }
}

fn parse<T: std::str::FromStr<Err = String>>(
    value: &Option<String>,
    field: &str,
) -> DomainResult<Option<T>> {
    value
        .as_deref()
        .map(|v| {
            v.parse()
                .map_err(|e: String| DomainError::invalid(field, e))
        })
        .transpose()
}

fn level<T: std::str::FromStr<Err = String>>(access: Option<&str>) -> DomainResult<T> {
    access
        .ok_or_else(|| DomainError::invalid("access", "access is required"))?
        .parse()
        .map_err(|e| DomainError::invalid("access", e))
}

fn read_only(part: &str, level: &str) -> DomainError {
    DomainError::invalid(
        "access",
        format!(
            "{part} is read-only when access level is '{level}'; use the 'custom' access level \
             to set this attribute."
        ),
    )
}

/// The grant of a `team-workspaces` entry: a preset level's, or for `custom` the given parts
/// over `current` (an update) or the custom defaults (a new entry).
pub fn workspace_grant(
    input: &AccessInput,
    current: Option<(WorkspaceLevel, WorkspaceGrant)>,
) -> DomainResult<(WorkspaceLevel, WorkspaceGrant)> {
    let level = match input.access.as_deref() {
        None => current
            .map(|c| c.0)
            .ok_or_else(|| level::<WorkspaceLevel>(None).unwrap_err())?,
        given => level(given)?,
    };
    if input.workspace.delete.is_some()
        || input.workspace.move_.is_some()
        || input.workspace.create.is_some()
    {
        return Err(DomainError::invalid(
            "access",
            "create, move and delete are project access parts, not workspace access parts",
        ));
    }
    if level != WorkspaceLevel::Custom {
        if let Some(part) = input.workspace.given() {
            return Err(read_only(part, level.as_str()));
        }
        return Ok((level, WorkspaceGrant::of_level(level)));
    }
    let base = match current {
        Some((_, grant)) => grant,
        None => WorkspaceGrant::custom(),
    };
    // Custom access never administers the workspace, nor deletes or moves it on its own:
    // that is the admin level.
    let grant = WorkspaceGrant {
        admin: false,
        delete: false,
        move_: false,
        ..input.workspace.apply(base, "")?
    };
    Ok((level, grant))
}

/// The grants of a `team-projects` entry, as [`workspace_grant`] for projects.
pub fn project_grant(
    input: &AccessInput,
    current: Option<(ProjectLevel, ProjectAccess)>,
) -> DomainResult<(ProjectLevel, ProjectAccess)> {
    let level = match input.access.as_deref() {
        None => current
            .map(|c| c.0)
            .ok_or_else(|| level::<ProjectLevel>(None).unwrap_err())?,
        given => level(given)?,
    };
    let project_given = input.project.settings.is_some()
        || input.project.teams.is_some()
        || input.project.variable_sets.is_some();
    if level != ProjectLevel::Custom {
        if let Some(part) = input.workspace.given() {
            return Err(read_only(part, level.as_str()));
        }
        if project_given {
            return Err(read_only("Project access", level.as_str()));
        }
        return Ok((level, ProjectAccess::of_level(level)));
    }
    let base = match current {
        Some((_, grant)) => grant,
        None => ProjectAccess::of_level(ProjectLevel::Custom),
    };
    let mut project = base.project;
    match input.project.settings.as_deref() {
        None => {}
        Some("read") => (project.update, project.delete) = (false, false),
        Some("update") => (project.update, project.delete) = (true, false),
        Some("delete") => (project.update, project.delete) = (true, true),
        Some(other) => {
            return Err(DomainError::invalid(
                "project-access/settings",
                format!("\"{other}\" is not one of: read, update, delete"),
            ))
        }
    }
    match input.project.teams.as_deref() {
        None => {}
        Some("none" | "read") => project.manage_teams = false,
        Some("manage") => project.manage_teams = true,
        Some(other) => {
            return Err(DomainError::invalid(
                "project-access/teams",
                format!("\"{other}\" is not one of: none, read, manage"),
            ))
        }
    }
    if let Some(access) =
        parse::<VariablesAccess>(&input.project.variable_sets, "project-access/variable-sets")?
    {
        project.variable_sets = access;
    }
    if let Some(create) = input.workspace.create {
        project.create_workspaces = create;
    }
    let workspaces = input
        .workspace
        .apply(base.workspaces, "workspace-access/")?;
    Ok((
        level,
        ProjectAccess {
            project: ProjectGrant {
                read: true,
                ..project
            },
            workspaces,
        },
    ))
}

/// One entry per team and resource: a second one is a conflict, not a storage failure.
fn already_granted(err: StorageError, what: &str) -> DomainError {
    match err {
        StorageError::Conflict(_) => DomainError::Conflict(format!(
            "the team already has access to this {what}: update that access instead"
        )),
        other => other.into(),
    }
}

impl Services {
    /// A team of the organization, or "team not found".
    async fn team_in(&self, org: &Organization, team_id: &str) -> DomainResult<Team> {
        self.store
            .team_by_id(team_id)
            .await?
            .filter(|t| t.organization_id == org.id)
            .ok_or(DomainError::NotFound("team"))
    }

    /// A team-workspaces entry with its workspace and organization, after `action` on the
    /// workspace is authorized.
    async fn team_workspace_for(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> DomainResult<(TeamWorkspace, Workspace, Organization)> {
        const WHAT: &str = "team access";
        let tw = self
            .store
            .team_workspace_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let (ws, org, _) = self
            .workspace_id_for(caller, &tw.workspace_id, action)
            .await
            .map_err(|e| match e {
                DomainError::NotFound(_) => DomainError::NotFound(WHAT),
                other => other,
            })?;
        Ok((tw, ws, org))
    }

    pub async fn list_team_workspaces(
        &self,
        caller: &Caller,
        workspace_id: &str,
        page: PageRequest,
    ) -> DomainResult<Page<TeamWorkspace>> {
        let (ws, _, _) = self
            .workspace_id_for(caller, workspace_id, Action::ReadWorkspace)
            .await?;
        Ok(self.store.list_team_workspaces(&ws.id, page).await?)
    }

    pub async fn add_team_workspace(
        &self,
        caller: &Caller,
        team_id: &str,
        workspace_id: &str,
        input: &AccessInput,
    ) -> DomainResult<TeamWorkspace> {
        let (ws, org, _) = self
            .workspace_id_for(caller, workspace_id, Action::ManageWorkspaceAccess)
            .await?;
        let team = self.team_in(&org, team_id).await?;
        let (level, grant) = workspace_grant(input, None)?;
        let tw = TeamWorkspace {
            id: ids::new_id(ids::TEAM_WORKSPACE),
            team_id: team.id,
            workspace_id: ws.id,
            access: level.as_str().to_string(),
            grants: JsonText(grant),
            created_at: clock::now(),
        };
        self.store
            .create_team_workspace(&tw)
            .await
            .map_err(|e| already_granted(e, "workspace"))?;
        Ok(tw)
    }

    pub async fn team_workspace(&self, caller: &Caller, id: &str) -> DomainResult<TeamWorkspace> {
        Ok(self
            .team_workspace_for(caller, id, Action::ReadWorkspace)
            .await?
            .0)
    }

    pub async fn update_team_workspace(
        &self,
        caller: &Caller,
        id: &str,
        input: &AccessInput,
    ) -> DomainResult<TeamWorkspace> {
        let (mut tw, _, _) = self
            .team_workspace_for(caller, id, Action::ManageWorkspaceAccess)
            .await?;
        let current = tw.access.parse().ok().map(|level| (level, tw.grants.0));
        let (level, grant) = workspace_grant(input, current)?;
        tw.access = level.as_str().to_string();
        tw.grants = JsonText(grant);
        self.store.update_team_workspace(&tw).await?;
        Ok(tw)
    }

    pub async fn remove_team_workspace(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let (tw, _, _) = self
            .team_workspace_for(caller, id, Action::ManageWorkspaceAccess)
            .await?;
        self.store.delete_team_workspace(&tw.id).await?;
        Ok(())
    }

    /// A project and its organization, after `action` on the project is authorized.
    async fn project_in(
        &self,
        caller: &Caller,
        project_id: &str,
        action: Action,
        what: &'static str,
    ) -> DomainResult<(Project, Organization)> {
        let project = self
            .store
            .project_by_id(project_id)
            .await?
            .ok_or(DomainError::NotFound(what))?;
        let org = self
            .store
            .organization_by_id(&project.organization_id)
            .await?
            .ok_or(DomainError::NotFound(what))?;
        self.authorize_project(caller, &org, &project, action, what)
            .await?;
        Ok((project, org))
    }

    async fn team_project_for(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> DomainResult<TeamProject> {
        const WHAT: &str = "team project access";
        let tp = self
            .store
            .team_project_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        self.project_in(caller, &tp.project_id, action, WHAT)
            .await?;
        Ok(tp)
    }

    pub async fn list_team_projects(
        &self,
        caller: &Caller,
        project_id: &str,
        page: PageRequest,
    ) -> DomainResult<Page<TeamProject>> {
        let (project, _) = self
            .project_in(caller, project_id, Action::ReadProject, "project")
            .await?;
        Ok(self.store.list_team_projects(&project.id, page).await?)
    }

    pub async fn add_team_project(
        &self,
        caller: &Caller,
        team_id: &str,
        project_id: &str,
        input: &AccessInput,
    ) -> DomainResult<TeamProject> {
        let (project, org) = self
            .project_in(caller, project_id, Action::ManageProjectAccess, "project")
            .await?;
        let team = self.team_in(&org, team_id).await?;
        let (level, grant) = project_grant(input, None)?;
        let tp = TeamProject {
            id: ids::new_id(ids::TEAM_PROJECT),
            team_id: team.id,
            project_id: project.id,
            access: level.as_str().to_string(),
            grants: JsonText(grant),
            created_at: clock::now(),
        };
        self.store
            .create_team_project(&tp)
            .await
            .map_err(|e| already_granted(e, "project"))?;
        Ok(tp)
    }

    pub async fn team_project(&self, caller: &Caller, id: &str) -> DomainResult<TeamProject> {
        self.team_project_for(caller, id, Action::ReadProject).await
    }

    pub async fn update_team_project(
        &self,
        caller: &Caller,
        id: &str,
        input: &AccessInput,
    ) -> DomainResult<TeamProject> {
        let mut tp = self
            .team_project_for(caller, id, Action::ManageProjectAccess)
            .await?;
        let current = tp.access.parse().ok().map(|level| (level, tp.grants.0));
        let (level, grant) = project_grant(input, current)?;
        tp.access = level.as_str().to_string();
        tp.grants = JsonText(grant);
        self.store.update_team_project(&tp).await?;
        Ok(tp)
    }

    pub async fn remove_team_project(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let tp = self
            .team_project_for(caller, id, Action::ManageProjectAccess)
            .await?;
        self.store.delete_team_project(&tp.id).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(access: &str) -> AccessInput {
        AccessInput {
            access: Some(access.into()),
            ..Default::default()
        }
    }

    #[test]
    fn preset_levels_take_their_fixed_grant_and_refuse_parts() {
        let (level, grant) = workspace_grant(&input("plan"), None).unwrap();
        assert_eq!(level, WorkspaceLevel::Plan);
        assert_eq!(grant, WorkspaceGrant::of_level(WorkspaceLevel::Plan));
        let mut with_runs = input("read");
        with_runs.workspace.runs = Some("apply".into());
        let err = workspace_grant(&with_runs, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("Runs is read-only when access level is 'read'"),
            "{err}"
        );
    }

    #[test]
    fn custom_parts_apply_over_the_defaults_or_the_current_grant() {
        let mut custom = input("custom");
        custom.workspace.runs = Some("plan".into());
        let (_, grant) = workspace_grant(&custom, None).unwrap();
        assert_eq!(grant.runs, RunsAccess::Plan);
        assert_eq!(grant.state_versions, StateAccess::None);
        // Switching an admin entry to custom keeps what it had, minus administration.
        let admin = WorkspaceGrant::of_level(WorkspaceLevel::Admin);
        let (_, grant) = workspace_grant(&custom, Some((WorkspaceLevel::Admin, admin))).unwrap();
        assert_eq!(grant.runs, RunsAccess::Plan);
        assert_eq!(grant.variables, VariablesAccess::Write);
        assert!(!grant.admin);
    }

    #[test]
    fn bad_values_and_missing_access_are_refused() {
        assert!(workspace_grant(&AccessInput::default(), None).is_err());
        assert!(workspace_grant(&input("owner"), None).is_err());
        let mut none = input("custom");
        none.workspace.runs = Some("none".into());
        assert!(workspace_grant(&none, None).is_err());
        let mut bad = input("custom");
        bad.workspace.variables = Some("everything".into());
        assert!(workspace_grant(&bad, None).is_err());
    }

    #[test]
    fn project_levels_and_custom_project_parts() {
        let (_, maintain) = project_grant(&input("maintain"), None).unwrap();
        assert!(maintain.project.create_workspaces && maintain.workspaces.admin);
        assert!(!maintain.project.delete);
        let mut custom = input("custom");
        custom.project.settings = Some("update".into());
        custom.workspace.create = Some(true);
        custom.workspace.runs = Some("apply".into());
        let (_, grant) = project_grant(&custom, None).unwrap();
        assert!(grant.project.update && !grant.project.delete && grant.project.create_workspaces);
        assert_eq!(grant.workspaces.runs, RunsAccess::Apply);
        let mut preset = input("write");
        preset.project.teams = Some("manage".into());
        assert!(project_grant(&preset, None).is_err());
    }

    #[test]
    fn custom_project_parts_keep_move_delete_and_variable_sets_apart() {
        let mut custom = input("custom");
        custom.workspace.move_ = Some(true);
        custom.workspace.delete = Some(false);
        custom.workspace.create = Some(true);
        custom.project.variable_sets = Some("read".into());
        let (_, grant) = project_grant(&custom, None).unwrap();
        assert!(grant.workspaces.moves() && !grant.workspaces.deletes());
        assert!(!grant.workspaces.admin);
        assert_eq!(grant.project.variable_sets, VariablesAccess::Read);
        // An update changes only what it names.
        let mut update = input("custom");
        update.workspace.delete = Some(true);
        update.workspace.move_ = Some(false);
        let (_, updated) = project_grant(&update, Some((ProjectLevel::Custom, grant))).unwrap();
        assert!(updated.workspaces.deletes() && !updated.workspaces.moves());
        assert_eq!(updated.project.variable_sets, VariablesAccess::Read);
        assert!(updated.project.create_workspaces);
        // Switching an admin entry to custom keeps deleting and moving, not administering.
        let admin = ProjectAccess::of_level(ProjectLevel::Admin);
        let (_, switched) =
            project_grant(&input("custom"), Some((ProjectLevel::Admin, admin))).unwrap();
        assert!(!switched.workspaces.admin);
        assert!(switched.workspaces.deletes() && switched.workspaces.moves());
        // Bad values, and parts a preset level does not take, are refused.
        let mut bad = input("custom");
        bad.project.variable_sets = Some("manage".into());
        assert!(project_grant(&bad, None).is_err());
        let mut preset = input("admin");
        preset.project.variable_sets = Some("read".into());
        assert!(project_grant(&preset, None).is_err());
        let mut on_workspace = input("custom");
        on_workspace.workspace.move_ = Some(true);
        assert!(workspace_grant(&on_workspace, None).is_err());
    }
}
