//! An organization's settings: name and email, the default execution mode and agent pool,
//! browser sessions' lifetimes, forced workspace deletion, whether users' API tokens reach
//! it, and its deletion (typing its name). The same domain calls as
//! `PATCH`/`DELETE /organizations/:name`; members see the settings greyed out.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use terrace_auth::policy::organization_permissions;
use terrace_domain::organizations::{OrganizationChanges, OrganizationView};
use terrace_domain::DomainError;
use terrace_storage::model::{AgentPoolSort, ExecutionMode, PageRequest};

use super::{failure, forged_form, form_token_ok, path_segment, redirect, Session};
use crate::app::AppState;
use crate::jsonapi::RawBody;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SettingsForm {
    csrf: String,
    name: String,
    email: String,
    execution_mode: String,
    agent_pool: String,
    /// Minutes; blank for the server's default.
    session_timeout: String,
    session_remember: String,
    /// Checkboxes: present when ticked.
    allow_force_delete_workspaces: Option<String>,
    user_tokens_enabled: Option<String>,
}

impl SettingsForm {
    fn of(view: &OrganizationView) -> SettingsForm {
        let org = &view.organization;
        let minutes = |m: Option<i64>| m.map(|m| m.to_string()).unwrap_or_default();
        SettingsForm {
            csrf: String::new(),
            name: org.name.clone(),
            email: org.email.clone(),
            execution_mode: org.default_execution_mode.as_str().to_string(),
            agent_pool: org.default_agent_pool_id.clone().unwrap_or_default(),
            session_timeout: minutes(org.session_timeout),
            session_remember: minutes(org.session_remember),
            allow_force_delete_workspaces: org.allow_force_delete_workspaces.then(String::new),
            user_tokens_enabled: org.user_tokens_enabled.then(String::new),
        }
    }

    fn view(&self) -> minijinja::Value {
        minijinja::context! {
            name => self.name.clone(),
            email => self.email.clone(),
            execution_mode => self.execution_mode.clone(),
            agent_pool => self.agent_pool.clone(),
            session_timeout => self.session_timeout.clone(),
            session_remember => self.session_remember.clone(),
            allow_force_delete_workspaces => self.allow_force_delete_workspaces.is_some(),
            user_tokens_enabled => self.user_tokens_enabled.is_some(),
        }
    }

    /// What the form changes of `current`: only what differs (an untouched form changes
    /// nothing, and re-checks nothing).
    fn changes(&self, current: &SettingsForm) -> Result<OrganizationChanges, String> {
        let differs = |a: &str, b: &str| (a.trim() != b.trim()).then(|| a.trim().to_string());
        let minutes = |field: &str, given: &str| -> Result<Option<i64>, String> {
            match given.trim() {
                "" => Ok(None),
                m => m
                    .parse::<i64>()
                    .ok()
                    .filter(|m| *m > 0)
                    .map(Some)
                    .ok_or_else(|| format!("{field} is a number of minutes, or blank")),
            }
        };
        let execution_mode = match differs(&self.execution_mode, &current.execution_mode) {
            Some(mode) => Some(
                mode.parse::<ExecutionMode>()
                    .map_err(|_| "Choose remote, agent or local execution.".to_string())?,
            ),
            None => None,
        };
        let agent_pool = differs(&self.agent_pool, &current.agent_pool)
            .map(|pool| Some(pool).filter(|p| !p.is_empty()));
        let session_timeout = match differs(&self.session_timeout, &current.session_timeout) {
            Some(m) => Some(minutes("The session timeout", &m)?),
            None => None,
        };
        let session_remember = match differs(&self.session_remember, &current.session_remember) {
            Some(m) => Some(minutes("The session lifetime", &m)?),
            None => None,
        };
        let flag = |given: &Option<String>, now: &Option<String>| {
            (given.is_some() != now.is_some()).then_some(given.is_some())
        };
        Ok(OrganizationChanges {
            name: differs(&self.name, &current.name),
            email: differs(&self.email, &current.email),
            default_execution_mode: execution_mode,
            default_agent_pool_id: agent_pool,
            session_timeout,
            session_remember,
            allow_force_delete_workspaces: flag(
                &self.allow_force_delete_workspaces,
                &current.allow_force_delete_workspaces,
            ),
            user_tokens_enabled: flag(&self.user_tokens_enabled, &current.user_tokens_enabled),
            ..OrganizationChanges::default()
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteForm {
    csrf: String,
    confirm: String,
}

fn settings_path(organization: &str) -> String {
    format!("/app/{}/settings", path_segment(organization))
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
) -> Response {
    let view = match state
        .services
        .organization(&session.caller, &organization)
        .await
    {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let form = SettingsForm::of(&view);
    page(&state, &session, &view, &form, StatusCode::OK, None, false).await
}

/// The settings page with `form`'s values; `error` says why the form just sent was refused
/// (its values shown as typed), `saved` that it was taken.
async fn page(
    state: &AppState,
    session: &Session,
    view: &OrganizationView,
    form: &SettingsForm,
    status: StatusCode,
    error: Option<&str>,
    saved: bool,
) -> Response {
    let organization = &view.organization.name;
    let pools: Vec<(String, String)> = match state
        .services
        .list_agent_pools(
            &session.caller,
            organization,
            None,
            AgentPoolSort::Name,
            None,
            PageRequest::all(),
        )
        .await
    {
        Ok(found) => found
            .items
            .into_iter()
            .filter(|p| p.pool.organization_scoped)
            .map(|p| (p.pool.id, p.pool.name))
            .collect(),
        Err(err) => return failure(state, err),
    };
    let may = organization_permissions(view.access);
    state.pages.render(
        status,
        "app/organization.html",
        minijinja::context! {
            session => session.view(),
            organization,
            form => form.view(),
            pools,
            can_update => may.can_update,
            can_delete => may.can_destroy,
            error,
            saved,
        },
    )
}

pub async fn update(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
    RawBody(body): RawBody,
) -> Response {
    let form: SettingsForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let services = &state.services;
    let view = match services.organization(&session.caller, &organization).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    // Whoever may not change it learns that before anything about the form.
    if !organization_permissions(view.access).can_update {
        let message = format!("You may not change organization {organization}'s settings.");
        return failure(&state, DomainError::Forbidden(message));
    }
    let refused = |detail: String| {
        let (state, session, view, form) = (&state, &session, &view, &form);
        async move {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            page(state, session, view, form, status, Some(&detail), false).await
        }
    };
    let changes = match form.changes(&SettingsForm::of(&view)) {
        Ok(changes) => changes,
        Err(detail) => return refused(detail).await,
    };
    match services
        .update_organization(&session.caller, &organization, changes)
        .await
    {
        Ok(updated) => {
            // A new name moves the settings page.
            if updated.organization.name != organization {
                return redirect(&settings_path(&updated.organization.name));
            }
            let form = SettingsForm::of(&updated);
            page(
                &state,
                &session,
                &updated,
                &form,
                StatusCode::OK,
                None,
                true,
            )
            .await
        }
        Err(DomainError::Invalid { detail, .. } | DomainError::Conflict(detail)) => {
            refused(detail).await
        }
        Err(err) => failure(&state, err),
    }
}

/// Deletes the organization once its name is typed.
pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
    RawBody(body): RawBody,
) -> Response {
    let form: DeleteForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let services = &state.services;
    let view = match services.organization(&session.caller, &organization).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    if form.confirm.trim() != organization {
        let current = SettingsForm::of(&view);
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        let error = "Type the organization's name to delete it.";
        return page(
            &state,
            &session,
            &view,
            &current,
            status,
            Some(error),
            false,
        )
        .await;
    }
    match services
        .delete_organization(&session.caller, &organization)
        .await
    {
        Ok(()) => redirect("/app/organizations"),
        Err(err) => failure(&state, err),
    }
}
