//! Projects group workspaces. Every organization has a default project that cannot be
//! deleted; a project still holding workspaces cannot be deleted either. A project may set
//! the execution mode and agent pool of the workspaces created in it, and carries tag
//! bindings its workspaces inherit; the rules of both are pure functions in [`rules`].

pub mod rules;

use terrace_auth::policy::{Access, Action};
use terrace_storage::model::{ExecutionMode, Organization, Page, PageRequest, Project, TagBinding};
use terrace_storage::store::ProjectFilter;
use terrace_storage::{clock, ids};

use crate::agent_pools::pool_serves_project;
use crate::organizations::name_taken;
use crate::workspaces::auto_destroy::parse_duration;
use crate::{validate, Caller, DomainError, DomainResult, Services};

#[derive(Debug, Clone)]
pub struct ProjectView {
    pub project: Project,
    pub organization_name: String,
    pub workspace_count: u64,
    /// Teams given access to the project.
    pub team_count: u64,
    /// The execution mode and agent pool in effect: the project's own or the organization's.
    pub execution_mode: ExecutionMode,
    pub agent_pool_id: Option<String>,
    pub tags: Vec<TagBinding>,
    pub access: Access,
}

/// What a create or update may set; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub defaults: rules::DefaultsChange,
    /// The inactivity duration of the workspaces that inherit it (`None` leaves it, `Some(None)`
    /// removes it).
    pub auto_destroy_activity_duration: Option<Option<String>>,
    /// Replaces the project's tag bindings.
    pub tags: Option<Vec<TagBinding>>,
}

impl Services {
    pub async fn list_projects(
        &self,
        caller: &Caller,
        org_name: &str,
        filter: &ProjectFilter,
        page: PageRequest,
    ) -> DomainResult<Page<ProjectView>> {
        let (org, _) = self
            .organization_for(caller, org_name, Action::ReadOrganization)
            .await?;
        let standing = self.standing(caller, &org).await?;
        let filter = ProjectFilter {
            visible_to_teams: if standing.access.project.read {
                None
            } else {
                standing.visible_to_teams()
            },
            ..filter.clone()
        };
        let projects = self.store.list_projects(&org.id, &filter, page).await?;
        let mut items = Vec::with_capacity(projects.items.len());
        for project in projects.items {
            let access = self.project_access(&standing, &project).await?;
            items.push(self.project_view(project, &org, access).await?);
        }
        Ok(Page {
            items,
            total: projects.total,
        })
    }

    pub async fn create_project(
        &self,
        caller: &Caller,
        org_name: &str,
        changes: ProjectChanges,
    ) -> DomainResult<ProjectView> {
        let (org, access) = self
            .organization_for(caller, org_name, Action::CreateProject)
            .await?;
        let name = changes
            .name
            .clone()
            .ok_or_else(|| DomainError::invalid("name", "name is required"))?;
        let mut project = Project {
            id: ids::new_id(ids::PROJECT),
            organization_id: org.id.clone(),
            name,
            description: String::new(),
            is_default: false,
            created_at: clock::now(),
            default_execution_mode: None,
            default_agent_pool_id: None,
            auto_destroy_activity_duration: None,
        };
        let tags = self
            .apply_project_changes(&org, &mut project, changes)
            .await?
            .unwrap_or_default();
        self.store
            .create_project(&project, &tags)
            .await
            .map_err(name_taken)?;
        self.project_view(project, &org, access).await
    }

    pub async fn project(&self, caller: &Caller, id: &str) -> DomainResult<ProjectView> {
        let (project, org, access) = self.project_for(caller, id, Action::ReadProject).await?;
        self.project_view(project, &org, access).await
    }

    /// The organization's default project, when the caller may read it (`include` on an
    /// organization: leaving it out tells nothing the caller could not already see).
    pub async fn default_project_view(
        &self,
        caller: &Caller,
        org: &Organization,
    ) -> DomainResult<Option<ProjectView>> {
        let Some(project) = self.store.default_project(&org.id).await? else {
            return Ok(None);
        };
        match self.project(caller, &project.id).await {
            Ok(view) => Ok(Some(view)),
            Err(DomainError::NotFound(_) | DomainError::Forbidden(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }

    pub async fn update_project(
        &self,
        caller: &Caller,
        id: &str,
        changes: ProjectChanges,
    ) -> DomainResult<ProjectView> {
        let (mut project, org, access) =
            self.project_for(caller, id, Action::UpdateProject).await?;
        let tags = self
            .apply_project_changes(&org, &mut project, changes)
            .await?;
        self.store
            .update_project(&project, tags.as_deref())
            .await
            .map_err(name_taken)?;
        self.project_view(project, &org, access).await
    }

    /// The project's own tag bindings.
    pub async fn project_tag_bindings(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<Vec<TagBinding>> {
        let (project, _, _) = self.project_for(caller, id, Action::ReadProject).await?;
        Ok(self.store.project_tag_bindings(&project.id).await?)
    }

    /// Adds or updates the project's tag bindings; keys not mentioned stay.
    pub async fn merge_project_tag_bindings(
        &self,
        caller: &Caller,
        id: &str,
        bindings: Vec<TagBinding>,
    ) -> DomainResult<Vec<TagBinding>> {
        let (project, _, _) = self.project_for(caller, id, Action::UpdateProject).await?;
        validate_bindings(&bindings)?;
        self.store
            .merge_project_tag_bindings(&project.id, &bindings)
            .await?;
        Ok(self.store.project_tag_bindings(&project.id).await?)
    }

    pub async fn delete_project(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let (project, _, _) = self.project_for(caller, id, Action::DeleteProject).await?;
        if project.is_default {
            return Err(DomainError::Conflict(
                "the default project cannot be deleted".into(),
            ));
        }
        if self.store.count_project_workspaces(&project.id).await? > 0 {
            return Err(DomainError::Conflict(
                "the project still contains workspaces: move or delete them first".into(),
            ));
        }
        self.store.delete_project(&project.id).await?;
        Ok(())
    }

    async fn project_for(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> DomainResult<(Project, Organization, Access)> {
        let project = self
            .store
            .project_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("project"))?;
        let org = self
            .store
            .organization_by_id(&project.organization_id)
            .await?
            .ok_or(DomainError::NotFound("project"))?;
        let access = self
            .authorize_project(caller, &org, &project, action, "project")
            .await?;
        Ok((project, org, access))
    }

    async fn project_view(
        &self,
        project: Project,
        org: &Organization,
        access: Access,
    ) -> DomainResult<ProjectView> {
        let workspace_count = self.store.count_project_workspaces(&project.id).await?;
        let team_count = self
            .store
            .list_team_projects(&project.id, PageRequest { number: 1, size: 1 })
            .await?
            .total;
        let tags = self.store.project_tag_bindings(&project.id).await?;
        let (execution_mode, agent_pool_id) = rules::defaults_in_effect(&project, org);
        let agent_pool_id = agent_pool_id.map(str::to_string);
        Ok(ProjectView {
            project,
            organization_name: org.name.clone(),
            workspace_count,
            team_count,
            execution_mode,
            agent_pool_id,
            tags,
            access,
        })
    }

    /// Validates and applies a create or update; returns the tag bindings to set, if the
    /// request named any.
    async fn apply_project_changes(
        &self,
        org: &Organization,
        project: &mut Project,
        changes: ProjectChanges,
    ) -> DomainResult<Option<Vec<TagBinding>>> {
        if let Some(name) = changes.name {
            validate::project_name(&name)?;
            project.name = name;
        }
        if let Some(description) = changes.description {
            validate_description(&description)?;
            project.description = description;
        }
        let pool_named = matches!(changes.defaults.agent_pool_id, Some(Some(_)));
        let current = (
            project.default_execution_mode,
            project.default_agent_pool_id.take(),
        );
        let (mode, pool) = rules::change_defaults(current, changes.defaults)?;
        if let (true, Some(pool_id)) = (pool_named, &pool) {
            self.check_project_pool(org, project, pool_id).await?;
        }
        project.default_execution_mode = mode;
        project.default_agent_pool_id = pool;
        if let Some(duration) = changes.auto_destroy_activity_duration {
            if let Some(text) = &duration {
                parse_duration(text)
                    .map_err(|e| DomainError::invalid("auto-destroy-activity-duration", e))?;
            }
            project.auto_destroy_activity_duration = duration;
        }
        if let Some(tags) = &changes.tags {
            validate_bindings(tags)?;
        }
        Ok(changes.tags)
    }

    /// A project's default pool must be one of its organization's that the project may use.
    async fn check_project_pool(
        &self,
        org: &Organization,
        project: &Project,
        pool_id: &str,
    ) -> DomainResult<()> {
        let invalid = |detail: String| DomainError::Invalid {
            pointer: Some("/data/attributes/default-agent-pool-id".into()),
            detail,
        };
        let pool = match self.store.agent_pool_by_id(pool_id).await? {
            Some(pool) if pool.organization_id == org.id => pool,
            _ => return Err(invalid(format!("agent pool {pool_id} not found"))),
        };
        let scope = self.store.agent_pool_scope(&pool.id).await?;
        if pool_serves_project(&pool, &scope, &project.id) {
            Ok(())
        } else {
            Err(invalid(format!(
                "agent pool {} does not serve project {}: make it organization-scoped or add the project to its allowed-projects first",
                pool.name, project.name
            )))
        }
    }
}

fn validate_bindings(bindings: &[TagBinding]) -> DomainResult<()> {
    for binding in bindings {
        validate::tag_key(&binding.key, "key")?;
        validate::tag_value(&binding.value)?;
    }
    Ok(())
}

fn validate_description(description: &str) -> DomainResult<()> {
    if description.chars().count() > 256 {
        return Err(DomainError::invalid(
            "description",
            "may be at most 256 characters",
        ));
    }
    Ok(())
}
