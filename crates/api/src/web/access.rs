//! Which teams may do what on a workspace: its `team-workspaces` listed, granted (read, plan,
//! write or admin), changed and taken away by those who may manage the workspace's access,
//! through the same domain calls as `/team-workspaces`.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use terrace_auth::policy::{allows, Action};
use terrace_domain::team_access::AccessInput;
use terrace_domain::workspaces::WorkspaceView;
use terrace_domain::DomainError;
use terrace_storage::model::PageRequest;
use terrace_storage::store::TeamFilter;

use super::{
    failure, forged_form, form_token_ok, named_workspace, redirect, safe_path, status_for,
    workspace_path, Session,
};
use crate::app::AppState;
use crate::jsonapi::RawBody;

/// The levels a page grants (custom grants are made through the API, and shown as such).
const LEVELS: [(&str, &str); 4] = [
    ("read", "Read: runs, state and variables"),
    ("plan", "Plan: read, and queue plans"),
    ("write", "Write: plan, apply, lock and edit variables"),
    ("admin", "Admin: write, settings, access and deletion"),
];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GrantForm {
    csrf: String,
    team: String,
    access: String,
}

fn access_path(organization: &str, workspace: &str) -> String {
    format!("{}/access", workspace_path(organization, workspace))
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name)): Path<(String, String)>,
) -> Response {
    match named_workspace(&state, &session, &organization, &name).await {
        Ok(view) => page(&state, &session, &organization, &view, None).await,
        Err(err) => failure(&state, err),
    }
}

/// The access page; `error` says why the form just sent was refused.
async fn page(
    state: &AppState,
    session: &Session,
    organization: &str,
    view: &WorkspaceView,
    error: Option<&str>,
) -> Response {
    let services = &state.services;
    let grants = match services
        .list_team_workspaces(&session.caller, &view.workspace.id, PageRequest::all())
        .await
    {
        Ok(found) => found.items,
        Err(err) => return failure(state, err),
    };
    // The teams the caller sees: a secret one it may not see is not named.
    let teams = match services
        .list_teams(
            &session.caller,
            organization,
            TeamFilter::default(),
            PageRequest::all(),
        )
        .await
    {
        Ok(found) => found.items,
        Err(err) => return failure(state, err),
    };
    let team_name = |id: &str| {
        teams
            .iter()
            .find(|t| t.team.id == id)
            .map(|t| t.team.name.clone())
    };
    let rows: Vec<_> = grants
        .iter()
        .map(|g| {
            minijinja::context! {
                id => g.id.clone(),
                team => team_name(&g.team_id),
                team_id => g.team_id.clone(),
                access => g.access.clone(),
            }
        })
        .collect();
    // Teams without a grant yet (the owners team has every workspace already).
    let grantable: Vec<_> = teams
        .iter()
        .filter(|t| !t.team.is_owners && !grants.iter().any(|g| g.team_id == t.team.id))
        .map(|t| (t.team.id.clone(), t.team.name.clone()))
        .collect();
    let status = status_for(error);
    state.pages.render(
        status,
        "app/access.html",
        minijinja::context! {
            session => session.view(),
            organization,
            workspace => view.workspace.name.clone(),
            base => safe_path(access_path(organization, &view.workspace.name)),
            grants => rows,
            grantable,
            levels => LEVELS,
            can_manage => allows(view.access, Action::ManageWorkspaceAccess),
            error,
        },
    )
}

fn input(form: &GrantForm) -> AccessInput {
    AccessInput {
        access: Some(form.access.clone()),
        ..AccessInput::default()
    }
}

pub async fn grant(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: GrantForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let view = match named_workspace(&state, &session, &organization, &name).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let result = state
        .services
        .add_team_workspace(
            &session.caller,
            &form.team,
            &view.workspace.id,
            &input(&form),
        )
        .await
        .map(drop);
    after(&state, &session, &organization, &view, result).await
}

/// Changes a grant's level (`action` `update`) or takes it away (`delete`).
pub async fn change(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name, grant_id, action)): Path<(String, String, String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: GrantForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let view = match named_workspace(&state, &session, &organization, &name).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let services = &state.services;
    // Only a grant on this workspace, under its path.
    match services.team_workspace(&session.caller, &grant_id).await {
        Ok(tw) if tw.workspace_id == view.workspace.id => {}
        Ok(_) => return failure(&state, DomainError::NotFound("team workspace access")),
        Err(err) => return failure(&state, err),
    }
    let result = match action.as_str() {
        "update" => services
            .update_team_workspace(&session.caller, &grant_id, &input(&form))
            .await
            .map(drop),
        "delete" => {
            services
                .remove_team_workspace(&session.caller, &grant_id)
                .await
        }
        _ => Err(DomainError::NotFound("page")),
    };
    after(&state, &session, &organization, &view, result).await
}

/// Back to the access page, or the page again saying why the change was refused.
async fn after(
    state: &AppState,
    session: &Session,
    organization: &str,
    view: &WorkspaceView,
    result: Result<(), DomainError>,
) -> Response {
    match result {
        Ok(()) => redirect(&access_path(organization, &view.workspace.name)),
        Err(DomainError::Invalid { detail, .. } | DomainError::Conflict(detail)) => {
            page(state, session, organization, view, Some(&detail)).await
        }
        Err(err) => failure(state, err),
    }
}
