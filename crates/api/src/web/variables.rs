//! Variables of a workspace or of a variable set: listed with sensitive values never shown
//! (write-only, as in the API), added, edited and deleted by whoever may update them, through
//! the same domain calls as `/workspaces/:id/vars` and `/varsets/:id/relationships/vars`.
//! A workspace's page also shows what its variable sets give its runs, and which variable
//! wins where two share a key.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use terrace_auth::policy::workspace_permissions;
use terrace_domain::variables::{VariableInput, VariableSetView, VariableView};
use terrace_domain::workspaces::WorkspaceView;
use terrace_domain::DomainError;

use super::{
    failure, forged_form, form_token_ok, named_workspace, redirect, safe_path, status_for,
    variable_sets, workspace_path, Session, TokenForm,
};
use crate::app::AppState;
use crate::jsonapi::RawBody;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VariableForm {
    csrf: String,
    key: String,
    value: String,
    description: String,
    category: String,
    /// Checkboxes: present (`on`) when ticked.
    hcl: Option<String>,
    sensitive: Option<String>,
}

impl VariableForm {
    /// What the form asks for; a blank value of a sensitive variable being edited keeps the
    /// value it has.
    fn input(&self, editing: bool) -> Result<VariableInput, &'static str> {
        let category = self
            .category
            .parse()
            .map_err(|_| "Choose a Terraform or an environment variable.")?;
        let sensitive = self.sensitive.is_some();
        Ok(VariableInput {
            key: Some(self.key.clone()),
            value: Some(self.value.clone())
                .filter(|value| !(editing && sensitive && value.is_empty())),
            description: Some(self.description.clone()),
            category: Some(category),
            hcl: Some(self.hcl.is_some()),
            sensitive: Some(sensitive),
        })
    }
}

/// A variable as a table row shows it: a sensitive value never.
pub(super) fn row(v: VariableView) -> minijinja::Value {
    minijinja::context! {
        id => v.variable.id,
        key => v.variable.key,
        category => v.variable.category.as_str(),
        hcl => v.variable.hcl,
        sensitive => v.variable.sensitive,
        description => v.variable.description,
        // The domain withholds sensitive values; they are never rendered.
        value => (!v.variable.sensitive).then_some(v.value).flatten(),
    }
}

/// Whose variables a page or form is about.
pub(super) enum Owner {
    Workspace {
        organization: String,
        view: Box<WorkspaceView>,
    },
    Set {
        organization: String,
        view: Box<VariableSetView>,
        can_manage: bool,
    },
}

impl Owner {
    async fn workspace(
        state: &AppState,
        session: &Session,
        organization: &str,
        name: &str,
    ) -> Result<Owner, DomainError> {
        let view = named_workspace(state, session, organization, name).await?;
        Ok(Owner::Workspace {
            organization: organization.to_string(),
            view: Box::new(view),
        })
    }

    pub(super) async fn set(
        state: &AppState,
        session: &Session,
        organization: &str,
        set_id: &str,
    ) -> Result<Owner, DomainError> {
        let (view, can_manage) =
            variable_sets::named_set(state, session, organization, set_id).await?;
        Ok(Owner::Set {
            organization: organization.to_string(),
            view: Box::new(view),
            can_manage,
        })
    }

    fn can_update(&self) -> bool {
        match self {
            Owner::Workspace { view, .. } => workspace_permissions(view.access).can_update_variable,
            Owner::Set { can_manage, .. } => *can_manage,
        }
    }

    /// Where its variables' forms post: `…/variables`, `…/variables/ID`.
    fn variables_path(&self) -> String {
        match self {
            Owner::Workspace { organization, view } => {
                format!(
                    "{}/variables",
                    workspace_path(organization, &view.workspace.name)
                )
            }
            Owner::Set {
                organization, view, ..
            } => format!(
                "{}/variables",
                variable_sets::set_path(organization, &view.set.id)
            ),
        }
    }

    /// The page that lists its variables.
    fn list_path(&self) -> String {
        match self {
            Owner::Workspace { .. } => self.variables_path(),
            Owner::Set {
                organization, view, ..
            } => variable_sets::set_path(organization, &view.set.id),
        }
    }

    /// What templates show of it (crumbs, tabs, where forms post).
    fn context(&self) -> minijinja::Value {
        match self {
            Owner::Workspace { organization, view } => minijinja::context! {
                kind => "workspace",
                organization,
                name => view.workspace.name.clone(),
                list_path => safe_path(self.list_path()),
                variables_path => safe_path(self.variables_path()),
            },
            Owner::Set {
                organization, view, ..
            } => minijinja::context! {
                kind => "set",
                organization,
                name => view.set.name.clone(),
                list_path => safe_path(self.list_path()),
                variables_path => safe_path(self.variables_path()),
            },
        }
    }

    async fn variables(
        &self,
        state: &AppState,
        session: &Session,
    ) -> Result<Vec<VariableView>, DomainError> {
        match self {
            Owner::Workspace { view, .. } => {
                state
                    .services
                    .list_workspace_variables(&session.caller, &view.workspace.id)
                    .await
            }
            Owner::Set { view, .. } => Ok(view.variables.clone()),
        }
    }

    async fn create(
        &self,
        state: &AppState,
        session: &Session,
        input: VariableInput,
    ) -> Result<(), DomainError> {
        let services = &state.services;
        match self {
            Owner::Workspace { view, .. } => services
                .create_workspace_variable(&session.caller, &view.workspace.id, input)
                .await
                .map(drop),
            Owner::Set { view, .. } => services
                .create_variable_set_variable(&session.caller, &view.set.id, input)
                .await
                .map(drop),
        }
    }

    async fn update(
        &self,
        state: &AppState,
        session: &Session,
        id: &str,
        input: VariableInput,
    ) -> Result<(), DomainError> {
        let services = &state.services;
        match self {
            Owner::Workspace { view, .. } => services
                .update_workspace_variable(&session.caller, Some(&view.workspace.id), id, input)
                .await
                .map(drop),
            Owner::Set { view, .. } => services
                .update_variable_set_variable(&session.caller, &view.set.id, id, input)
                .await
                .map(drop),
        }
    }

    async fn delete(
        &self,
        state: &AppState,
        session: &Session,
        id: &str,
    ) -> Result<(), DomainError> {
        let services = &state.services;
        match self {
            Owner::Workspace { view, .. } => {
                services
                    .delete_workspace_variable(&session.caller, Some(&view.workspace.id), id)
                    .await
            }
            Owner::Set { view, .. } => {
                services
                    .delete_variable_set_variable(&session.caller, &view.set.id, id)
                    .await
            }
        }
    }

    /// The page that lists its variables, saying why the form just sent was refused.
    async fn refused(&self, state: &AppState, session: &Session, error: &str) -> Response {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        match self {
            Owner::Workspace { .. } => page(state, session, self, status, Some(error)).await,
            Owner::Set {
                view, can_manage, ..
            } => {
                variable_sets::set_page(
                    state,
                    session,
                    view,
                    *can_manage,
                    status,
                    None,
                    Some(error),
                )
                .await
            }
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name)): Path<(String, String)>,
) -> Response {
    match Owner::workspace(&state, &session, &organization, &name).await {
        Ok(owner) => page(&state, &session, &owner, StatusCode::OK, None).await,
        Err(err) => failure(&state, err),
    }
}

/// A workspace's variables page, with what its variable sets give, and `error` about the
/// form just sent if it was refused.
async fn page(
    state: &AppState,
    session: &Session,
    owner: &Owner,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let Owner::Workspace { organization, view } = owner else {
        return failure(state, DomainError::NotFound("workspace"));
    };
    let ranked = match state
        .services
        .ranked_workspace_variables(&session.caller, &view.workspace.id)
        .await
    {
        Ok(ranked) => ranked,
        Err(err) => return failure(state, err),
    };
    // The workspace's own, marked when a priority set hides them; then the sets' variables,
    // highest precedence first, marked when something else wins.
    let mut own = Vec::new();
    let mut inherited = Vec::new();
    for ranked in ranked {
        let shown = minijinja::context! {
            overridden => ranked.overridden,
            set => ranked.set.as_ref().map(|s| minijinja::context! {
                id => s.id.clone(), name => s.name.clone(), priority => s.priority,
            }),
            ..row(ranked.view)
        };
        match ranked.set {
            None => own.push(shown),
            Some(_) => inherited.push(shown),
        }
    }
    own.sort_by_key(|v| v.get_attr("key").map(|k| k.to_string()).unwrap_or_default());
    state.pages.render(
        status,
        "app/variables.html",
        minijinja::context! {
            session => session.view(),
            organization,
            workspace => view.workspace.name.clone(),
            owner => owner.context(),
            variables => own,
            inherited,
            can_update => owner.can_update(),
            error,
        },
    )
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name)): Path<(String, String)>,
    body: RawBody,
) -> Response {
    match Owner::workspace(&state, &session, &organization, &name).await {
        Ok(owner) => create_in(&state, &session, &owner, body).await,
        Err(err) => failure(&state, err),
    }
}

pub(super) async fn create_in(
    state: &AppState,
    session: &Session,
    owner: &Owner,
    RawBody(body): RawBody,
) -> Response {
    let form: VariableForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(session, &form.csrf) {
        return forged_form(state);
    }
    let input = match form.input(false) {
        Ok(input) => input,
        Err(error) => return owner.refused(state, session, error).await,
    };
    match owner.create(state, session, input).await {
        Ok(()) => redirect(&owner.list_path()),
        Err(DomainError::Invalid { detail, .. }) => owner.refused(state, session, &detail).await,
        Err(err) => failure(state, err),
    }
}

pub async fn edit(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name, id)): Path<(String, String, String)>,
) -> Response {
    match Owner::workspace(&state, &session, &organization, &name).await {
        Ok(owner) => edit_in(&state, &session, &owner, &id).await,
        Err(err) => failure(&state, err),
    }
}

/// The form to edit one variable (a sensitive one's value is blank: typing one replaces it).
pub(super) async fn edit_in(
    state: &AppState,
    session: &Session,
    owner: &Owner,
    id: &str,
) -> Response {
    let variable = match owner
        .variables(state, session)
        .await
        .map(|all| all.into_iter().find(|v| v.variable.id == id))
    {
        Ok(Some(variable)) => variable,
        Ok(None) => return failure(state, DomainError::NotFound("variable")),
        Err(err) => return failure(state, err),
    };
    let v = variable.variable;
    let form = VariableForm {
        csrf: String::new(),
        key: v.key,
        // The domain withholds sensitive values; the field stays blank for them.
        value: variable.value.filter(|_| !v.sensitive).unwrap_or_default(),
        description: v.description,
        category: v.category.as_str().to_string(),
        hcl: v.hcl.then(String::new),
        sensitive: v.sensitive.then(String::new),
    };
    edit_page(state, session, owner, id, &form, None)
}

/// The edit page with `form`'s values, and `error` about the form just sent if it was
/// refused (the sent values are shown again; a sensitive value never is).
fn edit_page(
    state: &AppState,
    session: &Session,
    owner: &Owner,
    id: &str,
    form: &VariableForm,
    error: Option<&str>,
) -> Response {
    let status = status_for(error);
    let sensitive = form.sensitive.is_some();
    state.pages.render(
        status,
        "app/variable.html",
        minijinja::context! {
            session => session.view(),
            owner => owner.context(),
            variable => minijinja::context! {
                id,
                key => form.key.clone(),
                value => (!sensitive).then_some(form.value.as_str()),
                description => form.description.clone(),
                category => form.category.clone(),
                hcl => form.hcl.is_some(),
                sensitive,
            },
            can_update => owner.can_update(),
            error,
        },
    )
}

pub async fn update(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name, id)): Path<(String, String, String)>,
    body: RawBody,
) -> Response {
    match Owner::workspace(&state, &session, &organization, &name).await {
        Ok(owner) => update_in(&state, &session, &owner, &id, body).await,
        Err(err) => failure(&state, err),
    }
}

/// Saves an edited variable.
pub(super) async fn update_in(
    state: &AppState,
    session: &Session,
    owner: &Owner,
    id: &str,
    RawBody(body): RawBody,
) -> Response {
    let form: VariableForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(session, &form.csrf) {
        return forged_form(state);
    }
    let refused = |detail: &str| edit_page(state, session, owner, id, &form, Some(detail));
    let input = match form.input(true) {
        Ok(input) => input,
        Err(error) => return refused(error),
    };
    match owner.update(state, session, id, input).await {
        Ok(()) => redirect(&owner.list_path()),
        Err(DomainError::Invalid { detail, .. }) => refused(&detail),
        Err(err) => failure(state, err),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name, id)): Path<(String, String, String)>,
    body: RawBody,
) -> Response {
    match Owner::workspace(&state, &session, &organization, &name).await {
        Ok(owner) => delete_in(&state, &session, &owner, &id, body).await,
        Err(err) => failure(&state, err),
    }
}

pub(super) async fn delete_in(
    state: &AppState,
    session: &Session,
    owner: &Owner,
    id: &str,
    RawBody(body): RawBody,
) -> Response {
    let form: TokenForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(session, &form.csrf) {
        return forged_form(state);
    }
    match owner.delete(state, session, id).await {
        Ok(()) => redirect(&owner.list_path()),
        Err(err) => failure(state, err),
    }
}
