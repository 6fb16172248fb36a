//! An organization's projects: listed and created; one project's page with its workspaces (and
//! a form to create one in it), the variable sets that apply to it, its settings (name,
//! description, the execution mode and agent pool its new workspaces take, tags) and its
//! deletion. Which teams may do what on it is its Access tab ([`super::access`]). The same
//! domain calls as `/organizations/:org/projects` and `/projects/:id`.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use terrace_auth::policy::{allows, organization_permissions, Action};
use terrace_domain::projects::rules::DefaultsChange;
use terrace_domain::projects::{ProjectChanges, ProjectView};
use terrace_domain::workspaces::WorkspaceChanges;
use terrace_domain::DomainError;
use terrace_storage::model::{ExecutionMode, PageRequest};
use terrace_storage::store::{ProjectFilter, WorkspaceFilter};

use super::agent_pools;
use super::settings::parse_tags;
use super::workspaces::tag_labels;
use super::{
    failure, forged_form, form_token_ok, page_count, path_segment, redirect, safe_path, status_for,
    workspace_path, PageQuery, Session, PAGE_SIZE,
};
use crate::app::AppState;
use crate::jsonapi::RawBody;

/// The list's create form, and the project page's settings form (as sent, and as shown again
/// when refused).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProjectForm {
    csrf: String,
    name: String,
    description: String,
    /// `""` follows the organization's defaults.
    execution_mode: String,
    agent_pool: String,
    tags: String,
}

impl ProjectForm {
    fn of(view: &ProjectView) -> ProjectForm {
        let project = &view.project;
        ProjectForm {
            csrf: String::new(),
            name: project.name.clone(),
            description: project.description.clone(),
            execution_mode: project
                .default_execution_mode
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
            agent_pool: project.default_agent_pool_id.clone().unwrap_or_default(),
            tags: tag_labels(&view.tags).join(", "),
        }
    }

    fn view(&self) -> minijinja::Value {
        minijinja::context! {
            name => self.name.clone(),
            description => self.description.clone(),
            execution_mode => self.execution_mode.clone(),
            agent_pool => self.agent_pool.clone(),
            tags => self.tags.clone(),
        }
    }

    /// What the form changes of `current`: only what differs, so that saving an untouched
    /// form re-checks nothing nobody changed.
    fn changes(self, current: &ProjectForm) -> Result<ProjectChanges, String> {
        let differs = |new: &str, old: &str| (new != old).then(|| new.to_string());
        let defaults = if self.execution_mode == current.execution_mode
            && self.agent_pool == current.agent_pool
        {
            DefaultsChange::default()
        } else if self.execution_mode.is_empty() {
            DefaultsChange {
                overwrites_execution_mode: Some(false),
                ..DefaultsChange::default()
            }
        } else {
            let mode = self.execution_mode.parse::<ExecutionMode>()?;
            let pool = Some(self.agent_pool.clone()).filter(|pool| !pool.is_empty());
            DefaultsChange {
                execution_mode: Some(mode),
                agent_pool_id: (mode == ExecutionMode::Agent).then_some(pool),
                ..DefaultsChange::default()
            }
        };
        Ok(ProjectChanges {
            name: differs(self.name.trim(), &current.name),
            description: differs(self.description.trim(), &current.description),
            defaults,
            tags: differs(&self.tags, &current.tags).map(|text| parse_tags(&text)),
            ..ProjectChanges::default()
        })
    }
}

fn projects_path(organization: &str) -> String {
    format!("/app/{}/projects", path_segment(organization))
}

pub(super) fn project_path(organization: &str, project_id: &str) -> String {
    format!(
        "{}/{}",
        projects_path(organization),
        path_segment(project_id)
    )
}

/// The project a page's path names, when it is the named organization's and the signed-in
/// user may see it (another organization's project is not found under this one's name).
pub(super) async fn named_project(
    state: &AppState,
    session: &Session,
    organization: &str,
    project_id: &str,
) -> Result<ProjectView, DomainError> {
    let view = state.services.project(&session.caller, project_id).await?;
    if view.organization_name != organization {
        return Err(DomainError::NotFound("project"));
    }
    Ok(view)
}

/// The organization's projects the caller sees, as `(id, name)`: to filter by, move to, or
/// name a workspace's.
pub(super) async fn choices(
    state: &AppState,
    session: &Session,
    organization: &str,
) -> Result<Vec<(String, String)>, DomainError> {
    let found = state
        .services
        .list_projects(
            &session.caller,
            organization,
            &ProjectFilter::default(),
            PageRequest::all(),
        )
        .await?;
    Ok(found
        .items
        .into_iter()
        .map(|p| (p.project.id, p.project.name))
        .collect())
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    list_page(&state, &session, &organization, &query, None).await
}

/// The projects page, with `error` about the create form just sent if it was refused.
async fn list_page(
    state: &AppState,
    session: &Session,
    organization: &str,
    query: &PageQuery,
    error: Option<&str>,
) -> Response {
    let services = &state.services;
    let org = match services.organization(&session.caller, organization).await {
        Ok(org) => org,
        Err(err) => return failure(state, err),
    };
    let page = query.request();
    let found = match services
        .list_projects(
            &session.caller,
            organization,
            &ProjectFilter::default(),
            page,
        )
        .await
    {
        Ok(found) => found,
        Err(err) => return failure(state, err),
    };
    let projects: Vec<_> = found
        .items
        .iter()
        .map(|view| {
            minijinja::context! {
                id => view.project.id.clone(),
                name => view.project.name.clone(),
                description => view.project.description.clone(),
                is_default => view.project.is_default,
                workspaces => view.workspace_count,
                teams => view.team_count,
                execution_mode => view.execution_mode.as_str(),
            }
        })
        .collect();
    state.pages.render(
        status_for(error),
        "app/projects.html",
        minijinja::context! {
            session => session.view(),
            organization,
            projects,
            total => found.total,
            page => page.number,
            pages => page_count(found.total),
            can_create => organization_permissions(org.access).can_create_project,
            error,
        },
    )
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
    RawBody(body): RawBody,
) -> Response {
    let form: ProjectForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let changes = ProjectChanges {
        name: Some(form.name.trim().to_string()),
        description: Some(form.description.trim().to_string()),
        ..ProjectChanges::default()
    };
    match state
        .services
        .create_project(&session.caller, &organization, changes)
        .await
    {
        Ok(view) => redirect(&project_path(&organization, &view.project.id)),
        Err(DomainError::Invalid { detail, .. }) => {
            let query = PageQuery::default();
            list_page(&state, &session, &organization, &query, Some(&detail)).await
        }
        Err(err) => failure(&state, err),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ShowQuery {
    /// Set by the redirect after a save, to say so.
    saved: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path((organization, project_id)): Path<(String, String)>,
    Query(query): Query<ShowQuery>,
) -> Response {
    match named_project(&state, &session, &organization, &project_id).await {
        Ok(view) => {
            let form = ProjectForm::of(&view);
            let saved = query.saved.is_some();
            project_page(&state, &session, &view, &form, saved, None).await
        }
        Err(err) => failure(&state, err),
    }
}

/// A project's page with `form`'s values in its settings; `error` says why the form just sent
/// was refused (and nothing was changed).
async fn project_page(
    state: &AppState,
    session: &Session,
    view: &ProjectView,
    form: &ProjectForm,
    saved: bool,
    error: Option<&str>,
) -> Response {
    let services = &state.services;
    let organization = view.organization_name.as_str();
    let project = &view.project;
    let org = match services.organization(&session.caller, organization).await {
        Ok(org) => org,
        Err(err) => return failure(state, err),
    };
    // Its workspaces the user may read: the first page, the rest through the list's filter.
    let filter = WorkspaceFilter {
        project_id: Some(project.id.clone()),
        ..WorkspaceFilter::default()
    };
    let first = PageRequest {
        number: 1,
        size: PAGE_SIZE,
    };
    let workspaces = match services
        .list_workspaces(&session.caller, organization, &filter, first)
        .await
    {
        Ok(found) => found,
        Err(err) => return failure(state, err),
    };
    let workspace_rows: Vec<_> = workspaces
        .items
        .iter()
        .map(|ws| {
            minijinja::context! {
                name => ws.workspace.name.clone(),
                path => safe_path(workspace_path(organization, &ws.workspace.name)),
                description => ws.workspace.description.clone(),
                locked => ws.workspace.locked_at.is_some(),
            }
        })
        .collect();
    // The sets that apply to it, when the user may read them.
    let variable_sets: Vec<_> = match services
        .project_variable_sets(&session.caller, &project.id)
        .await
    {
        Ok(sets) => sets
            .into_iter()
            .map(|set| {
                minijinja::context! {
                    id => set.set.id,
                    name => set.set.name,
                    global => set.set.global,
                }
            })
            .collect(),
        Err(DomainError::Forbidden(_) | DomainError::NotFound(_)) => Vec::new(),
        Err(err) => return failure(state, err),
    };
    // The organization's pools, to pick one for agent execution.
    let pools = match agent_pools::choices(state, session, organization).await {
        Ok(pools) => pools,
        Err(err) => return failure(state, err),
    };
    let pool_name = view.agent_pool_id.as_ref().map(|id| {
        pools
            .iter()
            .find(|(pool, _)| pool == id)
            .map_or_else(|| id.clone(), |(_, name)| name.clone())
    });
    state.pages.render(
        status_for(error),
        "app/project.html",
        minijinja::context! {
            session => session.view(),
            organization,
            project => minijinja::context! {
                id => project.id.clone(),
                name => project.name.clone(),
                description => project.description.clone(),
                is_default => project.is_default,
                teams => view.team_count,
                tags => tag_labels(&view.tags),
                execution_mode => view.execution_mode.as_str(),
                own_defaults => project.default_execution_mode.is_some(),
                agent_pool => pool_name,
            },
            base => safe_path(project_path(organization, &project.id)),
            workspaces => workspace_rows,
            workspace_total => workspaces.total,
            variable_sets,
            form => form.view(),
            pools,
            organization_mode => org.organization.default_execution_mode.as_str(),
            can_update => allows(view.access, Action::UpdateProject),
            can_delete => allows(view.access, Action::DeleteProject) && !project.is_default,
            // Those who may create workspaces anywhere, or in this project.
            can_create_workspace => allows(view.access, Action::CreateWorkspace),
            saved,
            error,
        },
    )
}

pub async fn update(
    State(state): State<AppState>,
    session: Session,
    Path((organization, project_id)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: ProjectForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let view = match named_project(&state, &session, &organization, &project_id).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let shown = form.clone();
    let refused = |detail: String| {
        let (state, session, view, shown) = (&state, &session, &view, &shown);
        async move { project_page(state, session, view, shown, false, Some(&detail)).await }
    };
    let changes = match form.changes(&ProjectForm::of(&view)) {
        Ok(changes) => changes,
        Err(detail) => return refused(detail).await,
    };
    match state
        .services
        .update_project(&session.caller, &view.project.id, changes)
        .await
    {
        Ok(_) => redirect(&format!(
            "{}?saved=1",
            project_path(&organization, &view.project.id)
        )),
        Err(DomainError::Invalid { detail, .. } | DomainError::Conflict(detail)) => {
            refused(detail).await
        }
        Err(err) => failure(&state, err),
    }
}

/// A form that names a project or a workspace: deletion (the name typed to confirm) and the
/// workspace created in the project.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NameForm {
    csrf: String,
    name: String,
}

pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    Path((organization, project_id)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: NameForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let view = match named_project(&state, &session, &organization, &project_id).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let done = if !allows(view.access, Action::DeleteProject) {
        Err(DomainError::Forbidden(
            "You may not delete this project.".into(),
        ))
    } else if form.name.trim() != view.project.name {
        Err(DomainError::Conflict(
            "Type the project's name to confirm its deletion.".into(),
        ))
    } else {
        state
            .services
            .delete_project(&session.caller, &view.project.id)
            .await
    };
    match done {
        Ok(()) => redirect(&projects_path(&organization)),
        Err(DomainError::Conflict(detail)) => {
            let current = ProjectForm::of(&view);
            project_page(&state, &session, &view, &current, false, Some(&detail)).await
        }
        Err(err) => failure(&state, err),
    }
}

/// Creates a workspace in the project (the domain checks the permission and the name, as for
/// `POST /organizations/:org/workspaces` with the project's relationship).
pub async fn create_workspace(
    State(state): State<AppState>,
    session: Session,
    Path((organization, project_id)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: NameForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let view = match named_project(&state, &session, &organization, &project_id).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let changes = WorkspaceChanges {
        name: Some(form.name.trim().to_string()),
        project_id: Some(view.project.id.clone()),
        ..WorkspaceChanges::default()
    };
    match state
        .services
        .create_workspace(&session.caller, &organization, changes)
        .await
    {
        Ok(created) => redirect(&workspace_path(&organization, &created.workspace.name)),
        Err(DomainError::Invalid { detail, .. } | DomainError::Conflict(detail)) => {
            let current = ProjectForm::of(&view);
            project_page(&state, &session, &view, &current, false, Some(&detail)).await
        }
        Err(err) => failure(&state, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current() -> ProjectForm {
        ProjectForm {
            name: "platform".into(),
            description: "shared things".into(),
            tags: "team:platform".into(),
            ..ProjectForm::default()
        }
    }

    #[test]
    fn an_untouched_form_changes_nothing() {
        let changes = current().changes(&current()).unwrap();
        assert_eq!(changes.name, None);
        assert_eq!(changes.description, None);
        assert_eq!(changes.tags, None);
        assert_eq!(changes.defaults, DefaultsChange::default());
    }

    #[test]
    fn defaults_are_the_projects_own_or_the_organizations() {
        let mut form = current();
        form.execution_mode = "agent".into();
        form.agent_pool = "apool-1".into();
        let defaults = form.changes(&current()).unwrap().defaults;
        assert_eq!(defaults.execution_mode, Some(ExecutionMode::Agent));
        assert_eq!(defaults.agent_pool_id, Some(Some("apool-1".into())));

        let mut agent = current();
        agent.execution_mode = "agent".into();
        agent.agent_pool = "apool-1".into();
        let mut form = agent.clone();
        form.execution_mode = String::new();
        let defaults = form.changes(&agent).unwrap().defaults;
        assert_eq!(defaults.overwrites_execution_mode, Some(false));
        assert_eq!(defaults.execution_mode, None);

        let mut form = current();
        form.execution_mode = "local".into();
        let defaults = form.changes(&current()).unwrap().defaults;
        assert_eq!(defaults.execution_mode, Some(ExecutionMode::Local));
        assert_eq!(defaults.agent_pool_id, None);

        let mut form = current();
        form.execution_mode = "elsewhere".into();
        assert!(form.changes(&current()).is_err());
    }
}
