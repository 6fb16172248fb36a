//! The signed-in user's API tokens: listed (never their secrets: only hashes are kept),
//! created (the secret shown once, on a page no cache keeps) and revoked, through the same
//! domain calls as `/users/:id/authentication-tokens` and `DELETE /authentication-tokens/:id`.

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{Duration, Utc};
use serde::Deserialize;
use terrace_auth::policy::Action;
use terrace_domain::DomainError;
use terrace_storage::model::{PageRequest, TokenKind};

use super::{
    failure, forged_form, form_token_ok, redirect, shown_once, status_for, when, Session, TokenForm,
};
use crate::app::AppState;
use crate::jsonapi::RawBody;

const TOKENS_PATH: &str = "/app/account/tokens";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateForm {
    csrf: String,
    description: String,
    /// Days until it expires; empty for the default (two years).
    expires_in_days: String,
}

pub async fn list(State(state): State<AppState>, session: Session) -> Response {
    page(&state, &session, None, None).await
}

/// The tokens page; with `created`, the new token's secret, shown this once.
async fn page(
    state: &AppState,
    session: &Session,
    created: Option<&str>,
    error: Option<&str>,
) -> Response {
    let tokens = match state
        .services
        .list_user_tokens(&session.caller, &session.user.id, PageRequest::all())
        .await
    {
        Ok(found) => found.items,
        Err(err) => return failure(state, err),
    };
    let rows: Vec<_> = tokens
        .into_iter()
        .map(|t| {
            minijinja::context! {
                id => t.id,
                description => t.description,
                created_at => when(t.created_at),
                last_used_at => t.last_used_at.map(when),
                expires_at => t.expires_at.map(when),
            }
        })
        .collect();
    let status = status_for(error);
    shown_once(state.pages.render(
        status,
        "app/tokens.html",
        minijinja::context! { session => session.view(), tokens => rows, created, error },
    ))
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    RawBody(body): RawBody,
) -> Response {
    let form: CreateForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let expires_at = match form.expires_in_days.trim() {
        "" => None,
        days => match days.parse::<i64>() {
            Ok(days @ 1..=3650) => Some(Utc::now() + Duration::days(days)),
            _ => {
                let error = "Choose how many days the token lasts (1 to 3650).";
                return page(&state, &session, None, Some(error)).await;
            }
        },
    };
    let description = Some(form.description.trim().to_string()).filter(|d| !d.is_empty());
    match state
        .services
        .create_user_token(&session.caller, &session.user.id, description, expires_at)
        .await
    {
        Ok((_, secret)) => page(&state, &session, Some(&secret), None).await,
        Err(DomainError::Invalid { detail, .. }) => {
            page(&state, &session, None, Some(&detail)).await
        }
        Err(err) => failure(&state, err),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Response {
    let form: TokenForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    // Only the caller's own user tokens: any other is not found.
    let services = &state.services;
    let token = match services
        .authentication_token(&session.caller, &id, Action::ManageAgentPools)
        .await
    {
        Ok(token) if token.kind == TokenKind::User && token.owner_id == session.user.id => token,
        Ok(_) => return failure(&state, DomainError::NotFound("authentication token")),
        Err(err) => return failure(&state, err),
    };
    match services
        .delete_authentication_token(&session.caller, &token.id)
        .await
    {
        Ok(()) => redirect(TOKENS_PATH),
        Err(err) => failure(&state, err),
    }
}
