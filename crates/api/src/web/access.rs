//! Which teams may do what on a workspace or a project: its `team-workspaces` or
//! `team-projects` listed, granted, changed and taken away by those who may manage its
//! access, through the same domain calls as `/team-workspaces` and `/team-projects`.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use terrace_auth::policy::{allows, Action};
use terrace_domain::projects::ProjectView;
use terrace_domain::team_access::AccessInput;
use terrace_domain::workspaces::WorkspaceView;
use terrace_domain::{Caller, DomainError, Services};
use terrace_storage::model::PageRequest;
use terrace_storage::store::TeamFilter;

use super::projects::{named_project, project_path};
use super::{
    failure, forged_form, form_token_ok, named_workspace, redirect, safe_path, status_for,
    workspace_path, Session,
};
use crate::app::AppState;
use crate::jsonapi::RawBody;

/// The levels a page grants on a workspace (custom grants are made through the API, and
/// shown as such).
const WORKSPACE_LEVELS: [(&str, &str); 4] = [
    ("read", "Read: runs, state and variables"),
    ("plan", "Plan: read, and queue plans"),
    ("write", "Write: plan, apply, lock and edit variables"),
    ("admin", "Admin: write, settings, access and deletion"),
];

/// The levels a page grants on a project: each reaches all of its workspaces.
const PROJECT_LEVELS: [(&str, &str); 4] = [
    (
        "read",
        "Read: the project and its workspaces' runs, state and variables",
    ),
    (
        "write",
        "Write: read, and plan, apply, lock and edit variables in its workspaces",
    ),
    (
        "maintain",
        "Maintain: write, and create, change and delete its workspaces",
    ),
    (
        "admin",
        "Admin: maintain, the project's settings, access and deletion",
    ),
];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GrantForm {
    csrf: String,
    team: String,
    access: String,
}

/// What the page gives teams access to.
enum Target {
    Workspace(Box<WorkspaceView>),
    Project(Box<ProjectView>),
}

/// A team's grant on the target, whichever kind.
struct Grant {
    id: String,
    team_id: String,
    access: String,
}

impl Target {
    /// The target a page's path names: `/workspaces/{workspace}/access` or
    /// `/projects/{project_id}/access` under `{organization}`.
    async fn named(
        state: &AppState,
        session: &Session,
        params: &HashMap<String, String>,
    ) -> Result<(String, Target), DomainError> {
        let param = |name: &str| params.get(name).map(String::as_str);
        let organization = param("organization").unwrap_or_default().to_string();
        let target = match (param("workspace"), param("project_id")) {
            (Some(name), _) => Target::Workspace(Box::new(
                named_workspace(state, session, &organization, name).await?,
            )),
            (None, Some(id)) => Target::Project(Box::new(
                named_project(state, session, &organization, id).await?,
            )),
            (None, None) => return Err(DomainError::NotFound("page")),
        };
        Ok((organization, target))
    }

    fn path(&self, organization: &str) -> String {
        match self {
            Target::Workspace(view) => {
                format!(
                    "{}/access",
                    workspace_path(organization, &view.workspace.name)
                )
            }
            Target::Project(view) => {
                format!("{}/access", project_path(organization, &view.project.id))
            }
        }
    }

    fn can_manage(&self) -> bool {
        match self {
            Target::Workspace(view) => allows(view.access, Action::ManageWorkspaceAccess),
            Target::Project(view) => allows(view.access, Action::ManageProjectAccess),
        }
    }

    async fn grants(
        &self,
        services: &Services,
        caller: &Caller,
    ) -> Result<Vec<Grant>, DomainError> {
        Ok(match self {
            Target::Workspace(view) => services
                .list_team_workspaces(caller, &view.workspace.id, PageRequest::all())
                .await?
                .items
                .into_iter()
                .map(|g| Grant {
                    id: g.id,
                    team_id: g.team_id,
                    access: g.access,
                })
                .collect(),
            Target::Project(view) => services
                .list_team_projects(caller, &view.project.id, PageRequest::all())
                .await?
                .items
                .into_iter()
                .map(|g| Grant {
                    id: g.id,
                    team_id: g.team_id,
                    access: g.access,
                })
                .collect(),
        })
    }

    async fn grant(
        &self,
        services: &Services,
        caller: &Caller,
        team_id: &str,
        input: &AccessInput,
    ) -> Result<(), DomainError> {
        match self {
            Target::Workspace(view) => services
                .add_team_workspace(caller, team_id, &view.workspace.id, input)
                .await
                .map(drop),
            Target::Project(view) => services
                .add_team_project(caller, team_id, &view.project.id, input)
                .await
                .map(drop),
        }
    }

    /// Changes a grant's level (`update`) or takes it away (`delete`): only a grant on this
    /// target, under its path.
    async fn change(
        &self,
        services: &Services,
        caller: &Caller,
        grant_id: &str,
        action: &str,
        input: &AccessInput,
    ) -> Result<(), DomainError> {
        match self {
            Target::Workspace(view) => {
                let grant = services.team_workspace(caller, grant_id).await?;
                if grant.workspace_id != view.workspace.id {
                    return Err(DomainError::NotFound("team workspace access"));
                }
                match action {
                    "update" => services
                        .update_team_workspace(caller, grant_id, input)
                        .await
                        .map(drop),
                    "delete" => services.remove_team_workspace(caller, grant_id).await,
                    _ => Err(DomainError::NotFound("page")),
                }
            }
            Target::Project(view) => {
                let grant = services.team_project(caller, grant_id).await?;
                if grant.project_id != view.project.id {
                    return Err(DomainError::NotFound("team project access"));
                }
                match action {
                    "update" => services
                        .update_team_project(caller, grant_id, input)
                        .await
                        .map(drop),
                    "delete" => services.remove_team_project(caller, grant_id).await,
                    _ => Err(DomainError::NotFound("page")),
                }
            }
        }
    }

    /// What the template names: the kind, and the workspace's name or the project's.
    fn view(&self) -> minijinja::Value {
        match self {
            Target::Workspace(view) => minijinja::context! {
                kind => "workspace",
                name => view.workspace.name.clone(),
            },
            Target::Project(view) => minijinja::context! {
                kind => "project",
                id => view.project.id.clone(),
                name => view.project.name.clone(),
            },
        }
    }

    fn levels(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            Target::Workspace(_) => &WORKSPACE_LEVELS,
            Target::Project(_) => &PROJECT_LEVELS,
        }
    }
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    match Target::named(&state, &session, &params).await {
        Ok((organization, target)) => page(&state, &session, &organization, &target, None).await,
        Err(err) => failure(&state, err),
    }
}

/// The access page; `error` says why the form just sent was refused.
async fn page(
    state: &AppState,
    session: &Session,
    organization: &str,
    target: &Target,
    error: Option<&str>,
) -> Response {
    let services = &state.services;
    let grants = match target.grants(services, &session.caller).await {
        Ok(grants) => grants,
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
    // Teams without a grant yet (the owners team has everything already).
    let grantable: Vec<_> = teams
        .iter()
        .filter(|t| !t.team.is_owners && !grants.iter().any(|g| g.team_id == t.team.id))
        .map(|t| (t.team.id.clone(), t.team.name.clone()))
        .collect();
    state.pages.render(
        status_for(error),
        "app/access.html",
        minijinja::context! {
            session => session.view(),
            organization,
            target => target.view(),
            base => safe_path(target.path(organization)),
            grants => rows,
            grantable,
            levels => target.levels().to_vec(),
            can_manage => target.can_manage(),
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
    Path(params): Path<HashMap<String, String>>,
    RawBody(body): RawBody,
) -> Response {
    let form: GrantForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let (organization, target) = match Target::named(&state, &session, &params).await {
        Ok(found) => found,
        Err(err) => return failure(&state, err),
    };
    let result = target
        .grant(&state.services, &session.caller, &form.team, &input(&form))
        .await;
    after(&state, &session, &organization, &target, result).await
}

/// Changes a grant's level (`action` `update`) or takes it away (`delete`).
pub async fn change(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
    RawBody(body): RawBody,
) -> Response {
    let form: GrantForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let (organization, target) = match Target::named(&state, &session, &params).await {
        Ok(found) => found,
        Err(err) => return failure(&state, err),
    };
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    let result = target
        .change(
            &state.services,
            &session.caller,
            param("grant_id"),
            param("action"),
            &input(&form),
        )
        .await;
    after(&state, &session, &organization, &target, result).await
}

/// Back to the access page, or the page again saying why the change was refused.
async fn after(
    state: &AppState,
    session: &Session,
    organization: &str,
    target: &Target,
    result: Result<(), DomainError>,
) -> Response {
    match result {
        Ok(()) => redirect(&target.path(organization)),
        Err(DomainError::Invalid { detail, .. } | DomainError::Conflict(detail)) => {
            page(state, session, organization, target, Some(&detail)).await
        }
        Err(err) => failure(state, err),
    }
}
