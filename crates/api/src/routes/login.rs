//! `terraform login`: the OAuth 2 authorization-code flow with PKCE advertised as `login.v1`.
//! The browser lands on the consent page, the user signs in (or is signed in already) and
//! approves; the server redirects to the CLI's loopback listener with a one-time code, which
//! the CLI exchanges at the token endpoint for an ordinary user API token.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use terrace_domain::login::{OAuthError, TokenRequest};
use terrace_domain::org_sso::SignedInWith;
use terrace_domain::DomainError;
use terrace_storage::model::User;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::ErrorDocument;
use crate::jsonapi::RawBody;
use crate::limits::ClientAddr;

pub(crate) const SESSION_COOKIE: &str = "terrace_session";
pub(crate) const CSRF_COOKIE: &str = "terrace_csrf";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize_page, authorize))
        .routes(routes!(token))
}

/// The parameters of an authorization request, carried through the sign-in form.
#[derive(Debug, Clone, Default, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct OAuthParams {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    code_challenge: String,
    #[serde(default)]
    code_challenge_method: String,
    #[serde(default)]
    response_type: String,
}

impl OAuthParams {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("client_id", self.client_id.clone()),
            ("redirect_uri", self.redirect_uri.clone()),
            ("state", self.state.clone()),
            ("code_challenge", self.code_challenge.clone()),
            ("code_challenge_method", self.code_challenge_method.clone()),
            ("response_type", self.response_type.clone()),
        ]
    }

    fn check(&self, state: &AppState) -> Result<(), String> {
        if self.response_type != "code" {
            return Err("only response_type=code is supported".into());
        }
        state
            .services
            .check_authorization_request(
                &self.client_id,
                &self.redirect_uri,
                &self.code_challenge_method,
                &self.code_challenge,
            )
            .map_err(|e| e.to_string())
    }

    /// The CLI's loopback URL with the result of the request.
    fn redirect(&self, result: &[(&str, &str)]) -> Response {
        let mut url = match url::Url::parse(&self.redirect_uri) {
            Ok(url) => url,
            Err(_) => return StatusCode::BAD_REQUEST.into_response(),
        };
        url.query_pairs_mut()
            .extend_pairs(result)
            .append_pair("state", &self.state);
        let mut response = StatusCode::FOUND.into_response();
        if let Ok(location) = HeaderValue::from_str(url.as_str()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthorizeForm {
    #[serde(flatten)]
    oauth: OAuthParams,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
}

pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(crate) fn set_cookie(
    response: &mut Response,
    state: &AppState,
    name: &str,
    value: &str,
    max_age: u32,
) {
    set_cookie_for(response, state, name, value, max_age, false)
}

/// A cookie that a cross-site POST must carry back (SAML's identity provider posts to the
/// ACS from its own site): `SameSite=None` over https; `Lax` over plain http, where browsers
/// refuse `None`.
pub(crate) fn set_cookie_for(
    response: &mut Response,
    state: &AppState,
    name: &str,
    value: &str,
    max_age: u32,
    cross_site: bool,
) {
    let https = state.urls.base().starts_with("https://");
    let secure = if https { "; Secure" } else { "" };
    let same_site = if cross_site && https { "None" } else { "Lax" };
    let cookie = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}"
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

async fn session_user(state: &AppState, headers: &HeaderMap) -> Option<(User, SignedInWith)> {
    let cookie = cookie(headers, SESSION_COOKIE)?;
    state.services.session_user(cookie).await.ok().flatten()
}

/// The consent page with a new sign-in form: its CSRF token is good for one submission.
async fn consent_page(
    state: &AppState,
    status: StatusCode,
    oauth: &OAuthParams,
    user: Option<&User>,
    error: Option<&str>,
) -> Response {
    let csrf = match state.services.issue_login_form().await {
        Ok(csrf) => csrf,
        Err(err) => return server_error(state, err),
    };
    let saml = crate::routes::saml::site_saml_on(state).await;
    let mut response = state.pages.render(
        status,
        "authorize.html",
        minijinja::context! {
            host => state.urls.hostname(),
            oauth => oauth.pairs(),
            csrf => &csrf,
            user => user.map(|u| u.username.clone()),
            error => error,
            sso => state.oidc.as_ref().map(|_| sso_start("/app/sso/oidc/start", oauth)),
            saml => saml.then(|| sso_start("/app/sso/saml/start", oauth)),
        },
    );
    let max_age = (terrace_domain::login::LOGIN_FORM_TTL_MINUTES * 60) as u32;
    set_cookie(&mut response, state, CSRF_COOKIE, &csrf, max_age);
    response
}

/// Where "Sign in with single sign-on" goes: the provider, then back to this request.
fn sso_start(start: &str, oauth: &OAuthParams) -> String {
    let back = format!(
        "/app/oauth/authorization?{}",
        serde_urlencoded::to_string(oauth.pairs()).unwrap_or_default()
    );
    format!(
        "{start}?{}",
        serde_urlencoded::to_string([("return_to", back)]).unwrap_or_default()
    )
}

/// The consent page: sign in (unless a session exists) and approve the CLI's request.
#[utoipa::path(get, path = "/app/oauth/authorization", tag = "login", security(()), params(OAuthParams),
    responses((status = 200, description = "Sign-in and consent page", content_type = "text/html"),
        (status = 400, description = "Not a valid request from the Terraform CLI", content_type = "text/html")))]
async fn authorize_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(oauth): Query<OAuthParams>,
) -> Response {
    if let Err(message) = oauth.check(&state) {
        return state
            .pages
            .error(StatusCode::BAD_REQUEST, "Invalid login request", &message);
    }
    let user = session_user(&state, &headers).await.map(|(user, _)| user);
    consent_page(&state, StatusCode::OK, &oauth, user.as_ref(), None).await
}

/// Sign-in and approval: on success, a redirect to the CLI's loopback address with the code.
#[utoipa::path(post, path = "/app/oauth/authorization", tag = "login", security(()),
    request_body(content = AuthorizeForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 302, description = "Back to the CLI with a code (or an error)"),
        (status = 400, description = "Not a valid request", content_type = "text/html"),
        (status = 401, description = "Wrong username or password: the form again", content_type = "text/html"),
        (status = 403, description = "Password sign-in is refused: the account is suspended, or password sign-in is disabled for this user (single sign-on only); the form again, saying why", content_type = "text/html"),
        (status = 413, description = "The form is too large", body = ErrorDocument),
        (status = 429, description = "Too many failed sign-ins: the form again, saying how long to wait", content_type = "text/html"),
        (status = 503, description = "Too many sign-ins at once: the form again", content_type = "text/html")))]
async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Option<Extension<ClientAddr>>,
    RawBody(body): RawBody,
) -> Response {
    let form: AuthorizeForm = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(e) => {
            return state.pages.error(
                StatusCode::BAD_REQUEST,
                "Invalid login request",
                &e.to_string(),
            )
        }
    };
    let oauth = &form.oauth;
    let client = client.map(|Extension(client)| client);
    let client_address = client.map(|client| client.0.to_string());
    if let Err(message) = oauth.check(&state) {
        return state
            .pages
            .error(StatusCode::BAD_REQUEST, "Invalid login request", &message);
    }
    // Double-submit check: only this server's page carries the cookie's value in its form.
    if form.csrf.is_empty() || cookie(&headers, CSRF_COOKIE) != Some(form.csrf.as_str()) {
        return state.pages.error(
            StatusCode::BAD_REQUEST,
            "Invalid login request",
            "the form expired; start `terraform login` again",
        );
    }
    // Each form is good for one submission: a replayed form is refused.
    match state.services.redeem_login_form(&form.csrf).await {
        Ok(true) => {}
        Ok(false) => {
            return state.pages.error(
                StatusCode::BAD_REQUEST,
                "Invalid login request",
                "the form was already used or has expired; start `terraform login` again",
            )
        }
        Err(err) => return server_error(&state, err),
    }
    if form.decision != "approve" {
        return oauth.redirect(&[("error", "access_denied")]);
    }
    let (user, new_session, signed_in_with) = match (&form.username, &form.password) {
        (Some(username), Some(password)) => {
            match password_sign_in(&state, username, password, client).await {
                Ok((user, session)) => (user, Some(session), SignedInWith::Password),
                Err(SignInError::Refused(refused)) => {
                    let page =
                        consent_page(&state, refused.status, oauth, None, Some(&refused.message))
                            .await;
                    return refused.with_retry_after(page);
                }
                Err(SignInError::Failed(err)) => return server_error(&state, err),
            }
        }
        _ => match session_user(&state, &headers).await {
            Some((user, with)) => (user, None, with),
            None => {
                return consent_page(
                    &state,
                    StatusCode::UNAUTHORIZED,
                    oauth,
                    None,
                    Some("Please sign in."),
                )
                .await
            }
        },
    };
    let code = match state
        .services
        .issue_authorization_code(
            (&user, &signed_in_with),
            &oauth.client_id,
            &oauth.redirect_uri,
            &oauth.code_challenge_method,
            &oauth.code_challenge,
            client_address.as_deref(),
        )
        .await
    {
        Ok(code) => code,
        Err(err) => return server_error(&state, err),
    };
    let mut response = oauth.redirect(&[("code", &code)]);
    if let Some(session) = new_session {
        set_cookie(
            &mut response,
            &state,
            SESSION_COOKIE,
            &session.cookie,
            session.max_age_seconds(),
        );
    }
    response
}

/// Why a password sign-in did not happen.
pub(crate) enum SignInError {
    /// Refused: the form again, with this status and message.
    Refused(SignInRefused),
    Failed(DomainError),
}

pub(crate) struct SignInRefused {
    pub status: StatusCode,
    pub message: String,
    /// Seconds to wait (throttled, or busy).
    pub retry_after: Option<u64>,
}

impl SignInRefused {
    fn refuse(status: StatusCode, message: impl Into<String>) -> SignInError {
        SignInError::Refused(SignInRefused {
            status,
            message: message.into(),
            retry_after: None,
        })
    }

    pub(crate) fn with_retry_after(&self, page: Response) -> Response {
        match self.retry_after {
            Some(seconds) => with_retry_after(page, seconds),
            None => page,
        }
    }
}

/// Signs a user in with a password, for every sign-in form: wrong credentials, suspended
/// accounts, passwords disabled by single sign-on (site administrators excepted),
/// throttling and the hashing gate all refuse; success starts a session.
pub(crate) async fn password_sign_in(
    state: &AppState,
    username: &str,
    password: &str,
    client: Option<ClientAddr>,
) -> Result<(User, terrace_domain::sessions::StartedSession), SignInError> {
    let address = client.map(|client| client.key());
    let client_address = client.map(|client| client.0.to_string());
    let user = match state
        .services
        .password_login(
            username,
            password,
            address.as_deref(),
            client_address.as_deref(),
        )
        .await
    {
        Ok(user) => user,
        Err(DomainError::Unauthorized) => {
            return Err(SignInRefused::refuse(
                StatusCode::UNAUTHORIZED,
                "Wrong username or password.",
            ))
        }
        Err(DomainError::Forbidden(detail)) => {
            return Err(SignInRefused::refuse(StatusCode::FORBIDDEN, detail))
        }
        Err(DomainError::Throttled {
            detail,
            retry_after,
        }) => {
            return Err(SignInError::Refused(SignInRefused {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: detail,
                retry_after: Some(retry_after),
            }))
        }
        Err(DomainError::Busy(detail)) => {
            return Err(SignInError::Refused(SignInRefused {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: detail,
                retry_after: Some(5),
            }))
        }
        Err(err) => return Err(SignInError::Failed(err)),
    };
    if !user.is_site_admin
        && state.sso_disable_passwords
        && (state.oidc.is_some() || crate::routes::saml::site_saml_on(state).await)
    {
        return Err(SignInRefused::refuse(
            StatusCode::FORBIDDEN,
            "Password sign-in is disabled: sign in with single sign-on.",
        ));
    }
    let session = state
        .services
        .start_session(&user, &SignedInWith::Password)
        .await
        .map_err(SignInError::Failed)?;
    Ok((user, session))
}

fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn server_error(state: &AppState, err: DomainError) -> Response {
    tracing::error!(error = %err, "login failed");
    state.pages.error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Login failed",
        "The server could not complete the login; its log has the details.",
    )
}

/// Exchanges a code for an API token (RFC 6749 §4.1.3 with the PKCE verifier).
#[utoipa::path(post, path = "/oauth/token", tag = "login", security(()),
    request_body(content_type = "application/x-www-form-urlencoded", description = "grant_type, client_id, code, code_verifier, redirect_uri"),
    responses((status = 200, description = "{\"access_token\": ..., \"token_type\": \"bearer\"}", content_type = "application/json"),
        (status = 400, description = "RFC 6749 error", content_type = "application/json"),
        (status = 413, description = "The form is too large", body = ErrorDocument)))]
async fn token(State(state): State<AppState>, RawBody(body): RawBody) -> Response {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Form {
        grant_type: String,
        client_id: String,
        code: String,
        code_verifier: String,
        redirect_uri: String,
    }
    let result = match serde_urlencoded::from_bytes::<Form>(&body) {
        Ok(f) => {
            state
                .services
                .exchange_authorization_code(TokenRequest {
                    grant_type: f.grant_type,
                    client_id: f.client_id,
                    code: f.code,
                    code_verifier: f.code_verifier,
                    redirect_uri: f.redirect_uri,
                })
                .await
        }
        Err(e) => Err(OAuthError::InvalidRequest(format!(
            "malformed form body: {e}"
        ))),
    };
    let (status, body) = match result {
        Ok(token) => (
            StatusCode::OK,
            serde_json::json!({"access_token": token, "token_type": "bearer"}),
        ),
        Err(err) => {
            let status = match &err {
                OAuthError::InvalidClient(_) => StatusCode::UNAUTHORIZED,
                OAuthError::Server(inner) => {
                    tracing::error!(error = %inner, "token exchange failed");
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                _ => StatusCode::BAD_REQUEST,
            };
            let description = match &err {
                OAuthError::Server(_) => "the server could not complete the request".to_string(),
                other => other.to_string(),
            };
            (
                status,
                serde_json::json!({"error": err.code(), "error_description": description}),
            )
        }
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}
