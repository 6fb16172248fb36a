//! Signing in and out of the web UI: the password form (its token good for one submission,
//! as the `terraform login` page's), single sign-on links when configured, and sign-out.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;

use super::{failure, forged_form, form_token_ok, local_return, redirect, Session, TokenForm};
use crate::app::AppState;
use crate::jsonapi::RawBody;
use crate::limits::ClientAddr;
use crate::routes::login::{
    cookie, password_sign_in, set_cookie, SignInError, CSRF_COOKIE, SESSION_COOKIE,
};

#[derive(Debug, Default, Deserialize)]
pub struct Back {
    return_to: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignInForm {
    username: String,
    password: String,
    csrf: String,
    return_to: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(back): Query<Back>,
) -> Response {
    let return_to = local_return(back.return_to.as_deref()).to_string();
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        if let Ok(Some(_)) = state.services.session_user(secret).await {
            return redirect(&return_to);
        }
    }
    form(&state, StatusCode::OK, &return_to, None).await
}

/// The sign-in form with a fresh one-time token (also in a cookie: double submit).
async fn form(
    state: &AppState,
    status: StatusCode,
    return_to: &str,
    error: Option<&str>,
) -> Response {
    let csrf = match state.services.issue_login_form().await {
        Ok(csrf) => csrf,
        Err(err) => return failure(state, err),
    };
    let sso_link = |start: &str| {
        format!(
            "{start}?{}",
            serde_urlencoded::to_string([("return_to", return_to)]).unwrap_or_default()
        )
    };
    let saml = crate::routes::saml::site_saml_on(state).await;
    let mut response = state.pages.render(
        status,
        "app/sign_in.html",
        minijinja::context! {
            csrf => &csrf,
            return_to,
            error,
            sso => state.oidc.as_ref().map(|_| sso_link("/app/sso/oidc/start")),
            saml => saml.then(|| sso_link("/app/sso/saml/start")),
        },
    );
    let max_age = (terrace_domain::login::LOGIN_FORM_TTL_MINUTES * 60) as u32;
    set_cookie(&mut response, state, CSRF_COOKIE, &csrf, max_age);
    response
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Option<Extension<ClientAddr>>,
    RawBody(body): RawBody,
) -> Response {
    let Ok(submitted) = serde_urlencoded::from_bytes::<SignInForm>(&body) else {
        return state.pages.error(
            StatusCode::BAD_REQUEST,
            "Invalid form",
            "The form could not be read.",
        );
    };
    let return_to = local_return(submitted.return_to.as_deref()).to_string();
    let fresh = !submitted.csrf.is_empty()
        && cookie(&headers, CSRF_COOKIE) == Some(submitted.csrf.as_str())
        && matches!(
            state.services.redeem_login_form(&submitted.csrf).await,
            Ok(true)
        );
    if !fresh {
        return form(
            &state,
            StatusCode::BAD_REQUEST,
            &return_to,
            Some("The form expired: please sign in again."),
        )
        .await;
    }
    let client = client.map(|Extension(client)| client);
    match password_sign_in(&state, &submitted.username, &submitted.password, client).await {
        Ok((_, session)) => {
            let mut response = redirect(&return_to);
            set_cookie(
                &mut response,
                &state,
                SESSION_COOKIE,
                &session.cookie,
                session.max_age_seconds(),
            );
            response
        }
        Err(SignInError::Refused(refused)) => {
            let page = form(&state, refused.status, &return_to, Some(&refused.message)).await;
            refused.with_retry_after(page)
        }
        Err(SignInError::Failed(err)) => failure(&state, err),
    }
}

pub async fn sign_out(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    client: Option<Extension<ClientAddr>>,
    RawBody(body): RawBody,
) -> Response {
    let submitted: TokenForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &submitted.csrf) {
        return forged_form(&state);
    }
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        let client = client.map(|Extension(c)| c.0.to_string());
        if let Err(err) = state.services.end_session(secret, client.as_deref()).await {
            return failure(&state, err);
        }
    }
    let mut response = redirect("/app/sign-in");
    set_cookie(&mut response, &state, SESSION_COOKIE, "", 0);
    response
}
