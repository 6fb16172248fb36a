//! Projects group workspaces. Every organization has a default project that cannot be
//! deleted; a project still holding workspaces cannot be deleted either.

use terrace_auth::policy::{Access, Action};
use terrace_storage::model::{Organization, Page, PageRequest, Project};
use terrace_storage::store::ProjectFilter;
use terrace_storage::{clock, ids};

use crate::organizations::name_taken;
use crate::{validate, Caller, DomainError, DomainResult, Services};

#[derive(Debug, Clone)]
pub struct ProjectView {
    pub project: Project,
    pub organization_name: String,
    pub workspace_count: u64,
    /// Teams given access to the project.
    pub team_count: u64,
    pub access: Access,
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
            items.push(self.project_view(project, &org.name, access).await?);
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
        name: &str,
        description: Option<String>,
    ) -> DomainResult<ProjectView> {
        let (org, access) = self
            .organization_for(caller, org_name, Action::CreateProject)
            .await?;
        validate::project_name(name)?;
        let description = description.unwrap_or_default();
        validate_description(&description)?;
        let project = Project {
            id: ids::new_id(ids::PROJECT),
            organization_id: org.id.clone(),
            name: name.to_string(),
            description,
            is_default: false,
            created_at: clock::now(),
        };
        self.store
            .create_project(&project)
            .await
            .map_err(name_taken)?;
        Ok(ProjectView {
            project,
            organization_name: org.name,
            workspace_count: 0,
            team_count: 0,
            access,
        })
    }

    pub async fn project(&self, caller: &Caller, id: &str) -> DomainResult<ProjectView> {
        let (project, org, access) = self.project_for(caller, id, Action::ReadProject).await?;
        self.project_view(project, &org.name, access).await
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
        name: Option<String>,
        description: Option<String>,
    ) -> DomainResult<ProjectView> {
        let (mut project, org, access) =
            self.project_for(caller, id, Action::UpdateProject).await?;
        if let Some(name) = name {
            validate::project_name(&name)?;
            project.name = name;
        }
        if let Some(description) = description {
            validate_description(&description)?;
            project.description = description;
        }
        self.store
            .update_project(&project)
            .await
            .map_err(name_taken)?;
        self.project_view(project, &org.name, access).await
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
        org_name: &str,
        access: Access,
    ) -> DomainResult<ProjectView> {
        let workspace_count = self.store.count_project_workspaces(&project.id).await?;
        let team_count = self
            .store
            .list_team_projects(&project.id, PageRequest { number: 1, size: 1 })
            .await?
            .total;
        Ok(ProjectView {
            project,
            organization_name: org_name.to_string(),
            workspace_count,
            team_count,
            access,
        })
    }
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
