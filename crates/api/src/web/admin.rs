//! The site administration area, for site administrators only (anyone else: 404, as the
//! admin API answers): users (found by name or email; suspended, reinstated, made or unmade
//! administrators, deleted) and organizations (with their owners; who may create them). The
//! same domain calls as `/api/v2/admin/users` and `/api/v2/admin/organizations`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use terrace_domain::site_admin::{OrganizationCreation, UserAction};
use terrace_domain::DomainError;
use terrace_storage::model::PageRequest;
use terrace_storage::store::UserFilter;

use super::{
    failure, forged_form, form_token_ok, page_count, redirect, when, Session, TokenForm, PAGE_SIZE,
};
use crate::app::AppState;
use crate::jsonapi::RawBody;

const USERS_PATH: &str = "/app/admin/users";
const ORGANIZATIONS_PATH: &str = "/app/admin/organizations";

/// `?q=…&page=N` of an admin list.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ListQuery {
    #[serde(skip_serializing_if = "String::is_empty")]
    q: String,
    #[serde(skip_serializing)]
    page: Option<u32>,
}

impl ListQuery {
    fn request(&self) -> PageRequest {
        PageRequest {
            number: self.page.unwrap_or(1).max(1),
            size: PAGE_SIZE,
        }
    }

    fn query(&self) -> Option<&str> {
        Some(self.q.trim()).filter(|q| !q.is_empty())
    }

    /// The pager's links keep the search.
    fn pages_base(&self) -> String {
        format!(
            "?{}&",
            serde_urlencoded::to_string(self).unwrap_or_default()
        )
    }
}

/// Site administrators only: to anyone else the area does not exist (the page to answer
/// them with).
fn not_for(state: &AppState, session: &Session) -> Option<Response> {
    state
        .services
        .admin_check(&session.caller)
        .is_err()
        .then(|| failure(state, DomainError::NotFound("page")))
}

pub async fn users(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ListQuery>,
) -> Response {
    users_page(&state, &session, &query, StatusCode::OK, None).await
}

async fn users_page(
    state: &AppState,
    session: &Session,
    query: &ListQuery,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    if let Some(refused) = not_for(state, session) {
        return refused;
    }
    let filter = UserFilter {
        query: query.query().map(str::to_string),
        ..UserFilter::default()
    };
    let page = query.request();
    let found = match state
        .services
        .admin_list_users(&session.caller, &filter, page)
        .await
    {
        Ok(found) => found,
        Err(err) => return failure(state, err),
    };
    let users: Vec<_> = found
        .items
        .into_iter()
        .map(|u| {
            minijinja::context! {
                id => u.user.id.clone(),
                username => u.user.username.clone(),
                email => u.user.email.clone(),
                site_admin => u.user.is_site_admin,
                suspended => u.user.is_suspended(),
                yourself => u.user.id == session.user.id,
                created_at => when(u.user.created_at),
                organizations => u.organizations.into_iter().map(|o| o.name).collect::<Vec<_>>(),
            }
        })
        .collect();
    state.pages.render(
        status,
        "app/admin_users.html",
        minijinja::context! {
            session => session.view(),
            q => query.q.clone(),
            users,
            total => found.total,
            page => page.number,
            pages => page_count(found.total),
            pages_base => query.pages_base(),
            error,
        },
    )
}

/// `suspend`, `unsuspend`, `grant-admin`, `revoke-admin` or `delete` a user.
pub async fn user_action(
    State(state): State<AppState>,
    session: Session,
    Path((user_id, action)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: TokenForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(refused) = not_for(&state, &session) {
        return refused;
    }
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let services = &state.services;
    let caller = &session.caller;
    let action = match action.as_str() {
        "suspend" => Some(UserAction::Suspend),
        "unsuspend" => Some(UserAction::Unsuspend),
        "grant-admin" => Some(UserAction::GrantAdmin),
        "revoke-admin" => Some(UserAction::RevokeAdmin),
        "delete" => None,
        _ => return failure(&state, DomainError::NotFound("page")),
    };
    let result = match action {
        Some(action) => services
            .admin_user_action(caller, &user_id, action)
            .await
            .map(drop),
        None => services.admin_delete_user(caller, &user_id).await,
    };
    match result {
        Ok(()) => redirect(USERS_PATH),
        Err(DomainError::Invalid { detail, .. } | DomainError::Conflict(detail)) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            users_page(
                &state,
                &session,
                &ListQuery::default(),
                status,
                Some(&detail),
            )
            .await
        }
        Err(err) => failure(&state, err),
    }
}

pub async fn organizations(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ListQuery>,
) -> Response {
    if let Some(refused) = not_for(&state, &session) {
        return refused;
    }
    let services = &state.services;
    let page = query.request();
    let found = match services
        .admin_list_organizations(&session.caller, query.query(), page)
        .await
    {
        Ok(found) => found,
        Err(err) => return failure(&state, err),
    };
    let creation = match services.admin_organization_creation(&session.caller).await {
        Ok(creation) => creation,
        Err(err) => return failure(&state, err),
    };
    let organizations: Vec<_> = found
        .items
        .into_iter()
        .map(|o| {
            minijinja::context! {
                name => o.organization.name,
                email => o.organization.email,
                created_at => when(o.organization.created_at),
                owners => o.owners.into_iter().map(|u| u.username).collect::<Vec<_>>(),
            }
        })
        .collect();
    state.pages.render(
        StatusCode::OK,
        "app/admin_organizations.html",
        minijinja::context! {
            session => session.view(),
            q => query.q.clone(),
            organizations,
            total => found.total,
            page => page.number,
            pages => page_count(found.total),
            pages_base => query.pages_base(),
            anyone_creates => creation == OrganizationCreation::Anyone,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreationForm {
    csrf: String,
    /// `anyone` or `site-admins`.
    creation: String,
}

/// Who may create organizations.
pub async fn organization_creation(
    State(state): State<AppState>,
    session: Session,
    RawBody(body): RawBody,
) -> Response {
    let form: CreationForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(refused) = not_for(&state, &session) {
        return refused;
    }
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let value = match form.creation.as_str() {
        "anyone" => OrganizationCreation::Anyone,
        "site-admins" => OrganizationCreation::SiteAdmins,
        _ => {
            return failure(
                &state,
                DomainError::bad_request("Choose who may create organizations."),
            )
        }
    };
    match state
        .services
        .admin_set_organization_creation(&session.caller, value)
        .await
    {
        Ok(_) => redirect(ORGANIZATIONS_PATH),
        Err(err) => failure(&state, err),
    }
}
