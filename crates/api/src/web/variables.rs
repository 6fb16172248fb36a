//! A workspace's variables: listed with sensitive values never shown (write-only, as in the
//! API), added and deleted by whoever may update them, through the same domain calls as
//! `/workspaces/:id/vars`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use terrace_auth::policy::workspace_permissions;
use terrace_domain::access::WorkspaceRef;
use terrace_domain::variables::VariableInput;
use terrace_domain::DomainError;

use super::{
    failure, forged_form, form_token_ok, named_workspace, redirect, workspace_path, Session,
    TokenForm,
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

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name)): Path<(String, String)>,
) -> Response {
    page(&state, &session, &organization, &name, StatusCode::OK, None).await
}

/// The variables page, with `error` about the form just sent if it was refused.
async fn page(
    state: &AppState,
    session: &Session,
    organization: &str,
    name: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let reference = WorkspaceRef::Name {
        organization: organization.to_string(),
        name: name.to_string(),
    };
    let view = match state.services.workspace(&session.caller, &reference).await {
        Ok(view) => view,
        Err(err) => return failure(state, err),
    };
    let variables = match state
        .services
        .list_workspace_variables(&session.caller, &view.workspace.id)
        .await
    {
        Ok(variables) => variables,
        Err(err) => return failure(state, err),
    };
    let rows: Vec<_> = variables
        .into_iter()
        .map(|v| {
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
        })
        .collect();
    state.pages.render(
        status,
        "app/variables.html",
        minijinja::context! {
            session => session.view(),
            organization,
            workspace => name,
            variables => rows,
            can_update => workspace_permissions(view.access).can_update_variable,
            error,
        },
    )
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: VariableForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let ws = match named_workspace(&state, &session, &organization, &name).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let category = match form.category.parse() {
        Ok(category) => category,
        Err(_) => {
            let error = "Choose a Terraform or an environment variable.";
            return page(
                &state,
                &session,
                &organization,
                &name,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(error),
            )
            .await;
        }
    };
    let input = VariableInput {
        key: Some(form.key),
        value: Some(form.value),
        description: Some(form.description),
        category: Some(category),
        hcl: Some(form.hcl.is_some()),
        sensitive: Some(form.sensitive.is_some()),
    };
    match state
        .services
        .create_workspace_variable(&session.caller, &ws.workspace.id, input)
        .await
    {
        Ok(_) => redirect(&variables_path(&organization, &name)),
        Err(DomainError::Invalid { detail, .. }) => {
            page(
                &state,
                &session,
                &organization,
                &name,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&detail),
            )
            .await
        }
        Err(err) => failure(&state, err),
    }
}

/// The form to edit one variable (a sensitive one's value is blank: typing one replaces it).
pub async fn edit(
    State(state): State<AppState>,
    session: Session,
    Path(path): Path<(String, String, String)>,
) -> Response {
    let (organization, name, id) = &path;
    let ws = match named_workspace(&state, &session, organization, name).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let variable = match state
        .services
        .list_workspace_variables(&session.caller, &ws.workspace.id)
        .await
        .map(|all| all.into_iter().find(|v| &v.variable.id == id))
    {
        Ok(Some(variable)) => variable,
        Ok(None) => return failure(&state, DomainError::NotFound("variable")),
        Err(err) => return failure(&state, err),
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
    let can_update = workspace_permissions(ws.access).can_update_variable;
    edit_page(&state, &session, &path, &form, can_update, None)
}

/// The edit page with `form`'s values, and `error` about the form just sent if it was
/// refused (the sent values are shown again; a sensitive value never is).
fn edit_page(
    state: &AppState,
    session: &Session,
    (organization, name, id): &(String, String, String),
    form: &VariableForm,
    can_update: bool,
    error: Option<&str>,
) -> Response {
    let status = match error {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    let sensitive = form.sensitive.is_some();
    state.pages.render(
        status,
        "app/variable.html",
        minijinja::context! {
            session => session.view(),
            organization,
            workspace => name,
            variable => minijinja::context! {
                id,
                key => form.key.clone(),
                value => (!sensitive).then_some(form.value.as_str()),
                description => form.description.clone(),
                category => form.category.clone(),
                hcl => form.hcl.is_some(),
                sensitive,
            },
            can_update,
            error,
        },
    )
}

/// Saves an edited variable: a blank value of a sensitive variable keeps the value it has.
pub async fn update(
    State(state): State<AppState>,
    session: Session,
    Path(path): Path<(String, String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: VariableForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let (organization, name, id) = &path;
    let ws = match named_workspace(&state, &session, organization, name).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let refused = |detail: &str| edit_page(&state, &session, &path, &form, true, Some(detail));
    let Ok(category) = form.category.parse() else {
        return refused("Choose a Terraform or an environment variable.");
    };
    let sensitive = form.sensitive.is_some();
    let input = VariableInput {
        key: Some(form.key.clone()),
        value: Some(form.value.clone()).filter(|value| !(sensitive && value.is_empty())),
        description: Some(form.description.clone()),
        category: Some(category),
        hcl: Some(form.hcl.is_some()),
        sensitive: Some(sensitive),
    };
    match state
        .services
        .update_workspace_variable(&session.caller, Some(&ws.workspace.id), id, input)
        .await
    {
        Ok(_) => redirect(&variables_path(organization, name)),
        Err(DomainError::Invalid { detail, .. }) => refused(&detail),
        Err(err) => failure(&state, err),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name, id)): Path<(String, String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: TokenForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let ws = match named_workspace(&state, &session, &organization, &name).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    match state
        .services
        .delete_workspace_variable(&session.caller, Some(&ws.workspace.id), &id)
        .await
    {
        Ok(()) => redirect(&variables_path(&organization, &name)),
        Err(err) => failure(&state, err),
    }
}

fn variables_path(organization: &str, name: &str) -> String {
    format!("{}/variables", workspace_path(organization, name))
}
