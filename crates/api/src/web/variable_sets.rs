//! An organization's variable sets: listed and created; one set's settings (name,
//! description, global, priority), its variables (the forms of [`super::variables`]), the
//! workspaces and projects it applies to, and its deletion. The same domain calls as
//! `/organizations/:org/varsets` and `/varsets/:id`: who may read variable sets sees them,
//! who may manage them changes them.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use terrace_auth::policy::organization_permissions;
use terrace_domain::access::WorkspaceRef;
use terrace_domain::variables::{VariableSetInput, VariableSetView};
use terrace_domain::DomainError;

use super::projects;
use super::variables::{self, Owner};
use super::{
    failure, forged_form, form_token_ok, named_workspace, page_count, path_segment, redirect,
    status_for, PageQuery, Session, TokenForm,
};
use crate::app::AppState;
use crate::jsonapi::RawBody;

/// How many of the workspaces a set applies to its page names.
const WORKSPACES_SHOWN: usize = 100;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SetForm {
    csrf: String,
    name: String,
    description: String,
    /// Checkboxes: present when ticked.
    global: Option<String>,
    priority: Option<String>,
}

impl SetForm {
    fn input(&self) -> VariableSetInput {
        VariableSetInput {
            name: Some(self.name.trim().to_string()),
            description: Some(self.description.trim().to_string()),
            global: Some(self.global.is_some()),
            priority: Some(self.priority.is_some()),
        }
    }
}

/// Where a set applies: a workspace by name (apply) or ID (remove), or a project by ID.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TargetForm {
    csrf: String,
    workspace: String,
    project: String,
}

fn sets_path(organization: &str) -> String {
    format!("/app/{}/variable-sets", path_segment(organization))
}

pub(super) fn set_path(organization: &str, set_id: &str) -> String {
    format!("{}/{}", sets_path(organization), path_segment(set_id))
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    list_page(&state, &session, &organization, &query, None).await
}

/// The sets page, with `error` about the create form just sent if it was refused.
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
        .list_variable_sets(&session.caller, organization, None, page)
        .await
    {
        Ok(found) => found,
        Err(err) => return failure(state, err),
    };
    let sets: Vec<_> = found.items.iter().map(summary).collect();
    let status = status_for(error);
    state.pages.render(
        status,
        "app/variable_sets.html",
        minijinja::context! {
            session => session.view(),
            organization,
            sets,
            total => found.total,
            page => page.number,
            pages => page_count(found.total),
            can_manage => organization_permissions(org.access).can_manage_varsets,
            error,
        },
    )
}

/// What the list and a set's page show of its settings.
fn summary(view: &VariableSetView) -> minijinja::Value {
    minijinja::context! {
        id => view.set.id.clone(),
        name => view.set.name.clone(),
        description => view.set.description.clone(),
        global => view.set.global,
        priority => view.set.priority,
        owned_by_project => view.set.project_id.is_some(),
        workspaces => view.workspace_ids.len(),
        projects => view.project_ids.len(),
        variables => view.variables.len(),
    }
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
    RawBody(body): RawBody,
) -> Response {
    let form: SetForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    match state
        .services
        .create_variable_set(
            &session.caller,
            &organization,
            form.input(),
            None,
            Vec::new(),
            Vec::new(),
        )
        .await
    {
        Ok(view) => redirect(&set_path(&organization, &view.set.id)),
        Err(DomainError::Invalid { detail, .. }) => {
            list_page(
                &state,
                &session,
                &organization,
                &PageQuery::default(),
                Some(&detail),
            )
            .await
        }
        Err(err) => failure(&state, err),
    }
}

/// The set a page's path names, as the caller may see it, and whether the caller may change
/// it (a set of another organization is not found under this one's path).
pub(super) async fn named_set(
    state: &AppState,
    session: &Session,
    organization: &str,
    set_id: &str,
) -> Result<(VariableSetView, bool), DomainError> {
    let services = &state.services;
    let view = services.variable_set(&session.caller, set_id).await?;
    if view.organization_name != organization {
        return Err(DomainError::NotFound("variable set"));
    }
    let can_manage = services
        .may_manage_variable_set(&session.caller, set_id)
        .await?;
    Ok((view, can_manage))
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path((organization, set_id)): Path<(String, String)>,
) -> Response {
    match named_set(&state, &session, &organization, &set_id).await {
        Ok((view, can_manage)) => {
            set_page(
                &state,
                &session,
                &view,
                can_manage,
                StatusCode::OK,
                None,
                None,
            )
            .await
        }
        Err(err) => failure(&state, err),
    }
}

/// One set's page; `form` is the settings form just refused (its values shown again) with
/// `error` saying why.
pub(super) async fn set_page(
    state: &AppState,
    session: &Session,
    view: &VariableSetView,
    can_manage: bool,
    status: StatusCode,
    form: Option<&SetForm>,
    error: Option<&str>,
) -> Response {
    let services = &state.services;
    let organization = &view.organization_name;
    // Only the workspaces the caller may read are named.
    let mut workspaces = Vec::new();
    for id in view.workspace_ids.iter().take(WORKSPACES_SHOWN) {
        let reference = WorkspaceRef::Id(id.clone());
        if let Ok(ws) = services.workspace(&session.caller, &reference).await {
            workspaces.push(minijinja::context! { id, name => ws.workspace.name });
        }
    }
    let projects = match projects::choices(state, session, organization).await {
        Ok(projects) => projects,
        Err(err) => return failure(state, err),
    };
    let (applied, other): (Vec<_>, Vec<_>) = projects
        .into_iter()
        .partition(|(id, _)| view.project_ids.contains(id));
    let owner_project = view.set.project_id.as_ref().map(|id| {
        applied
            .iter()
            .chain(&other)
            .find(|(p, _)| p == id)
            .map(|(_, name)| name.clone())
            .unwrap_or_else(|| id.clone())
    });
    let settings = match form {
        Some(form) => minijinja::context! {
            name => form.name.clone(),
            description => form.description.clone(),
            global => form.global.is_some(),
            priority => form.priority.is_some(),
        },
        None => summary(view),
    };
    state.pages.render(
        status,
        "app/variable_set.html",
        minijinja::context! {
            session => session.view(),
            organization,
            set => summary(view),
            settings,
            owner_project,
            variables => view.variables.iter().cloned().map(variables::row).collect::<Vec<_>>(),
            workspaces,
            more_workspaces => view.workspace_ids.len().saturating_sub(WORKSPACES_SHOWN),
            projects => applied,
            other_projects => other,
            can_manage,
            error,
        },
    )
}

/// Saves the set's settings.
pub async fn update(
    State(state): State<AppState>,
    session: Session,
    Path((organization, set_id)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: SetForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let (view, can_manage) = match named_set(&state, &session, &organization, &set_id).await {
        Ok(found) => found,
        Err(err) => return failure(&state, err),
    };
    match state
        .services
        .update_variable_set(&session.caller, &set_id, form.input(), None, None)
        .await
    {
        Ok(_) => redirect(&set_path(&organization, &set_id)),
        Err(DomainError::Invalid { detail, .. }) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            set_page(
                &state,
                &session,
                &view,
                can_manage,
                status,
                Some(&form),
                Some(&detail),
            )
            .await
        }
        Err(err) => failure(&state, err),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    Path((organization, set_id)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: TokenForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    if let Err(err) = named_set(&state, &session, &organization, &set_id).await {
        return failure(&state, err);
    }
    match state
        .services
        .delete_variable_set(&session.caller, &set_id)
        .await
    {
        Ok(()) => redirect(&sets_path(&organization)),
        Err(err) => failure(&state, err),
    }
}

/// Applies the set to a workspace (named) or a project, or removes it from one (`action`
/// `apply` or `remove`).
pub async fn retarget(
    State(state): State<AppState>,
    session: Session,
    Path((organization, set_id, action)): Path<(String, String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: TargetForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let attach = match action.as_str() {
        "apply" => true,
        "remove" => false,
        _ => return failure(&state, DomainError::NotFound("page")),
    };
    let (view, can_manage) = match named_set(&state, &session, &organization, &set_id).await {
        Ok(found) => found,
        Err(err) => return failure(&state, err),
    };
    let refused = |detail: String| {
        let (state, session, view) = (&state, &session, &view);
        async move {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            set_page(
                state,
                session,
                view,
                can_manage,
                status,
                None,
                Some(&detail),
            )
            .await
        }
    };
    let workspace = form.workspace.trim();
    let mut workspace_ids = Vec::new();
    if !workspace.is_empty() {
        if attach {
            // Applied by name, as people know their workspaces.
            match named_workspace(&state, &session, &organization, workspace).await {
                Ok(ws) => workspace_ids.push(ws.workspace.id),
                Err(DomainError::NotFound(_)) => {
                    return refused(format!("There is no workspace named {workspace}.")).await
                }
                Err(err) => return failure(&state, err),
            }
        } else {
            workspace_ids.push(workspace.to_string());
        }
    }
    let project_ids: Vec<String> = Some(form.project.trim().to_string())
        .filter(|p| !p.is_empty())
        .into_iter()
        .collect();
    if workspace_ids.is_empty() && project_ids.is_empty() {
        return refused("Choose a workspace or a project.".to_string()).await;
    }
    match state
        .services
        .retarget_variable_set(&session.caller, &set_id, attach, workspace_ids, project_ids)
        .await
    {
        Ok(()) => redirect(&set_path(&organization, &set_id)),
        Err(DomainError::Invalid { detail, .. }) => refused(detail).await,
        Err(err) => failure(&state, err),
    }
}

/// `GET …/variables`: the set's page lists them.
pub async fn variables_list(Path((organization, set_id)): Path<(String, String)>) -> Response {
    redirect(&set_path(&organization, &set_id))
}

pub async fn create_variable(
    State(state): State<AppState>,
    session: Session,
    Path((organization, set_id)): Path<(String, String)>,
    body: RawBody,
) -> Response {
    match Owner::set(&state, &session, &organization, &set_id).await {
        Ok(owner) => variables::create_in(&state, &session, &owner, body).await,
        Err(err) => failure(&state, err),
    }
}

pub async fn edit_variable(
    State(state): State<AppState>,
    session: Session,
    Path((organization, set_id, id)): Path<(String, String, String)>,
) -> Response {
    match Owner::set(&state, &session, &organization, &set_id).await {
        Ok(owner) => variables::edit_in(&state, &session, &owner, &id).await,
        Err(err) => failure(&state, err),
    }
}

pub async fn update_variable(
    State(state): State<AppState>,
    session: Session,
    Path((organization, set_id, id)): Path<(String, String, String)>,
    body: RawBody,
) -> Response {
    match Owner::set(&state, &session, &organization, &set_id).await {
        Ok(owner) => variables::update_in(&state, &session, &owner, &id, body).await,
        Err(err) => failure(&state, err),
    }
}

pub async fn delete_variable(
    State(state): State<AppState>,
    session: Session,
    Path((organization, set_id, id)): Path<(String, String, String)>,
    body: RawBody,
) -> Response {
    match Owner::set(&state, &session, &organization, &set_id).await {
        Ok(owner) => variables::delete_in(&state, &session, &owner, &id, body).await,
        Err(err) => failure(&state, err),
    }
}
