//! A workspace's settings: general (name, description, engine and version, working
//! directory, auto-apply, destroy plans), how it runs (execution mode and agent pool), tags,
//! and deletion (safe, or forced). The same domain calls as `PATCH /workspaces/:id` and
//! `DELETE`/`safe-delete`; readers see the settings without the means to change them.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use terrace_auth::policy::workspace_permissions;
use terrace_domain::access::WorkspaceRef;
use terrace_domain::workspaces::{WorkspaceChanges, WorkspaceView};
use terrace_domain::DomainError;
use terrace_storage::model::{ExecutionMode, TagBinding};

use super::workspaces::tag_labels;
use super::{agent_pools, projects};
use super::{
    failure, forged_form, form_token_ok, named_workspace, path_segment, redirect, workspace_path,
    Session,
};
use crate::app::AppState;
use crate::jsonapi::RawBody;

/// The general settings form, as sent and as shown again when refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SettingsForm {
    csrf: String,
    name: String,
    description: String,
    engine: String,
    terraform_version: String,
    working_directory: String,
    /// `""` follows the organization's default.
    execution_mode: String,
    agent_pool: String,
    project: String,
    tags: String,
    /// Checkboxes: present (`on`) when ticked.
    auto_apply: Option<String>,
    allow_destroy_plan: Option<String>,
}

impl SettingsForm {
    fn of(view: &WorkspaceView) -> SettingsForm {
        let ws = &view.workspace;
        SettingsForm {
            csrf: String::new(),
            name: ws.name.clone(),
            description: ws.description.clone(),
            engine: ws.engine.as_str().to_string(),
            terraform_version: ws.terraform_version.clone(),
            working_directory: ws.working_directory.clone(),
            execution_mode: ws
                .execution_mode
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
            agent_pool: ws.agent_pool_id.clone().unwrap_or_default(),
            project: ws.project_id.clone(),
            tags: tag_labels(&view.tags).join(", "),
            auto_apply: ws.auto_apply.then(String::new),
            allow_destroy_plan: ws.allow_destroy_plan.then(String::new),
        }
    }

    fn view(&self) -> minijinja::Value {
        minijinja::context! {
            name => self.name.clone(),
            description => self.description.clone(),
            engine => self.engine.clone(),
            terraform_version => self.terraform_version.clone(),
            working_directory => self.working_directory.clone(),
            execution_mode => self.execution_mode.clone(),
            agent_pool => self.agent_pool.clone(),
            project => self.project.clone(),
            tags => self.tags.clone(),
            auto_apply => self.auto_apply.is_some(),
            allow_destroy_plan => self.allow_destroy_plan.is_some(),
        }
    }

    /// What the form changes of `current`: only what differs, so that saving an untouched
    /// form does not re-check (and perhaps refuse) settings nobody changed.
    fn changes(self, current: &SettingsForm) -> Result<WorkspaceChanges, String> {
        let differs = |new: &str, old: &str| (new != old).then(|| new.to_string());
        let execution_mode = if self.execution_mode == current.execution_mode
            && self.agent_pool == current.agent_pool
        {
            None
        } else if self.execution_mode.is_empty() {
            Some(None)
        } else {
            Some(Some(self.execution_mode.parse::<ExecutionMode>()?))
        };
        let agent_pool_id = match execution_mode {
            Some(Some(ExecutionMode::Agent)) => {
                Some(Some(self.agent_pool.clone()).filter(|pool| !pool.is_empty()))
            }
            _ => None,
        };
        let engine = match differs(&self.engine, &current.engine) {
            Some(engine) => Some(engine.parse()?),
            None => None,
        };
        let tags = differs(&self.tags, &current.tags).map(|text| parse_tags(&text));
        Ok(WorkspaceChanges {
            name: differs(self.name.trim(), &current.name),
            description: differs(&self.description, &current.description),
            engine,
            terraform_version: differs(self.terraform_version.trim(), &current.terraform_version),
            working_directory: differs(self.working_directory.trim(), &current.working_directory),
            execution_mode,
            agent_pool_id,
            // An empty choice (a form without the field) leaves the workspace where it is.
            project_id: differs(&self.project, &current.project).filter(|p| !p.is_empty()),
            auto_apply: Some(self.auto_apply.is_some()),
            allow_destroy_plan: Some(self.allow_destroy_plan.is_some()),
            tags,
            ..WorkspaceChanges::default()
        })
    }
}

/// Tags as typed: `key` or `key:value`, separated by commas or spaces.
pub(super) fn parse_tags(text: &str) -> Vec<TagBinding> {
    text.split([',', ' ', '\n', '\t'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| match t.split_once(':') {
            Some((key, value)) => TagBinding {
                key: key.to_string(),
                value: value.to_string(),
            },
            None => TagBinding {
                key: t.to_string(),
                value: String::new(),
            },
        })
        .collect()
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
    Path((organization, name)): Path<(String, String)>,
    Query(query): Query<ShowQuery>,
) -> Response {
    let view = match named_workspace(&state, &session, &organization, &name).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let form = SettingsForm::of(&view);
    let outcome = match query.saved {
        Some(_) => Outcome::Saved,
        None => Outcome::Shown,
    };
    page(&state, &session, &view, &form, outcome).await
}

/// What the page says about the form just sent.
#[derive(Clone, Copy)]
enum Outcome<'a> {
    Shown,
    Saved,
    /// Refused, and why: nothing was changed.
    Refused(&'a str),
}

/// The settings page with `form`'s values.
async fn page(
    state: &AppState,
    session: &Session,
    view: &WorkspaceView,
    form: &SettingsForm,
    outcome: Outcome<'_>,
) -> Response {
    let (status, error) = match outcome {
        Outcome::Refused(detail) => (StatusCode::UNPROCESSABLE_ENTITY, Some(detail)),
        _ => (StatusCode::OK, None),
    };
    let organization = &view.organization.name;
    let may = workspace_permissions(view.access);
    // The pools the organization has, to pick one for agent execution.
    let pools = match agent_pools::choices(state, session, organization).await {
        Ok(pools) => pools,
        Err(err) => return failure(state, err),
    };
    let projects = match projects::choices(state, session, organization).await {
        Ok(projects) => projects,
        Err(err) => return failure(state, err),
    };
    state.pages.render(
        status,
        "app/settings.html",
        minijinja::context! {
            session => session.view(),
            organization,
            workspace => view.workspace.name.clone(),
            resources => view.workspace.resource_count,
            locked => view.workspace.locked_at.is_some(),
            organization_mode => view.organization.default_execution_mode.as_str(),
            form => form.view(),
            pools,
            projects,
            can_update => may.can_update,
            can_delete => may.can_destroy,
            can_force_delete => may.can_force_delete,
            saved => matches!(outcome, Outcome::Saved),
            error,
        },
    )
}

pub async fn update(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: SettingsForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let view = match named_workspace(&state, &session, &organization, &name).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let shown = form.clone();
    let changes = match form.changes(&SettingsForm::of(&view)) {
        Ok(changes) => changes,
        Err(detail) => return refused(&state, &session, &view, &shown, &detail).await,
    };
    match state
        .services
        .update_workspace(
            &session.caller,
            &WorkspaceRef::Id(view.workspace.id.clone()),
            changes,
        )
        .await
    {
        Ok(updated) => redirect(&format!(
            "{}?saved=1",
            settings_path(&organization, &updated.workspace.name)
        )),
        Err(DomainError::Invalid { detail, .. } | DomainError::Conflict(detail)) => {
            refused(&state, &session, &view, &shown, &detail).await
        }
        Err(err) => failure(&state, err),
    }
}

/// The page again with what was sent and why it was refused; nothing was changed.
async fn refused(
    state: &AppState,
    session: &Session,
    view: &WorkspaceView,
    form: &SettingsForm,
    detail: &str,
) -> Response {
    page(state, session, view, form, Outcome::Refused(detail)).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteForm {
    csrf: String,
    /// The workspace's name, typed to confirm.
    confirm: String,
    /// `force` deletes whatever the workspace manages; otherwise only an unlocked one that
    /// manages nothing is deleted.
    mode: String,
}

pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: DeleteForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let view = match named_workspace(&state, &session, &organization, &name).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let current = SettingsForm::of(&view);
    if form.confirm.trim() != view.workspace.name {
        let detail = "Type the workspace's name to confirm its deletion.";
        return refused(&state, &session, &view, &current, detail).await;
    }
    let reference = WorkspaceRef::Id(view.workspace.id.clone());
    let services = &state.services;
    let done = if form.mode == "force" {
        services.delete_workspace(&session.caller, &reference).await
    } else {
        services
            .safe_delete_workspace(&session.caller, &reference)
            .await
    };
    match done {
        Ok(()) => redirect(&format!("/app/{}/workspaces", path_segment(&organization))),
        Err(DomainError::Conflict(detail)) => {
            refused(&state, &session, &view, &current, &detail).await
        }
        Err(err) => failure(&state, err),
    }
}

fn settings_path(organization: &str, name: &str) -> String {
    format!("{}/settings", workspace_path(organization, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current() -> SettingsForm {
        SettingsForm {
            name: "web".into(),
            engine: "terraform".into(),
            terraform_version: "1.11.4".into(),
            tags: "team:platform, prod".into(),
            ..SettingsForm::default()
        }
    }

    #[test]
    fn an_untouched_form_changes_only_its_checkboxes() {
        let changes = current().clone().changes(&current()).unwrap();
        assert_eq!(
            changes,
            WorkspaceChanges {
                auto_apply: Some(false),
                allow_destroy_plan: Some(false),
                ..WorkspaceChanges::default()
            }
        );
    }

    #[test]
    fn agent_execution_names_its_pool_and_other_modes_release_it() {
        let mut form = current().clone();
        form.execution_mode = "agent".into();
        form.agent_pool = "apool-1".into();
        let changes = form.changes(&current()).unwrap();
        assert_eq!(changes.execution_mode, Some(Some(ExecutionMode::Agent)));
        assert_eq!(changes.agent_pool_id, Some(Some("apool-1".into())));

        let mut agent = current();
        agent.execution_mode = "agent".into();
        agent.agent_pool = "apool-1".into();
        let mut form = agent.clone();
        form.execution_mode = String::new();
        let changes = form.changes(&agent).unwrap();
        assert_eq!(changes.execution_mode, Some(None));
        assert_eq!(changes.agent_pool_id, None);

        let mut form = current().clone();
        form.execution_mode = "elsewhere".into();
        assert!(form.changes(&current()).is_err());
    }

    #[test]
    fn tags_are_keys_or_pairs_separated_by_commas_or_spaces() {
        let mut form = current().clone();
        form.tags = "team:data,  prod\nregion:eu-west-1".into();
        let tags = form.changes(&current()).unwrap().tags.unwrap();
        let labels: Vec<_> = tags
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_str()))
            .collect();
        assert_eq!(
            labels,
            [("team", "data"), ("prod", ""), ("region", "eu-west-1")]
        );
    }
}
