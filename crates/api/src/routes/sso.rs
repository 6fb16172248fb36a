//! Single sign-on with OpenID Connect, for browsers: `start` sends the browser to the
//! identity provider, `callback` takes it back, signs the user in with a session cookie (the
//! same as a password sign-in) and returns to where the sign-in began (the `terraform login`
//! consent page, say). Failures answer an error page and start no session.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use terrace_domain::org_sso::SignedInWith;
use terrace_domain::sso::{is_local_path, PendingSso, SsoProtocol};
use terrace_domain::DomainResult;
use terrace_storage::model::User;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::limits::ClientAddr;
use crate::oidc::{Oidc, OidcError};
use crate::routes::login::{cookie, set_cookie, SESSION_COOKIE};

/// Binds a sign-in to the browser that started it: the callback must come with it, so a
/// callback URL sent to someone else signs nobody in (login CSRF).
const SSO_COOKIE: &str = "terrace_sso";

/// The page of a single sign-on that is not configured (404).
pub(crate) const NOT_CONFIGURED: (&str, &str) = (
    "Single sign-on is not configured",
    "This server has no identity provider.",
);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(organization_start))
        .routes(routes!(callback))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartParams {
    /// A path on this server to return to once signed in [default: /].
    #[serde(default)]
    return_to: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

fn refused(state: &AppState, status: StatusCode, message: &str) -> Response {
    let mut response = state.pages.error(status, "Single sign-on failed", message);
    set_cookie(&mut response, state, SSO_COOKIE, "", 0);
    response
}

pub(crate) fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Starts a sign-in at the identity provider.
#[utoipa::path(get, path = "/app/sso/oidc/start", tag = "login", security(()), params(StartParams),
    responses((status = 302, description = "To the identity provider"),
        (status = 400, description = "return_to is not a path on this server", content_type = "text/html"),
        (status = 404, description = "Single sign-on is not configured", content_type = "text/html"),
        (status = 502, description = "The identity provider is unavailable", content_type = "text/html")))]
async fn start(State(state): State<AppState>, Query(params): Query<StartParams>) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return not_configured(&state);
    };
    start_at(&state, &oidc, params, None).await
}

fn not_configured(state: &AppState) -> Response {
    state.pages.error(
        StatusCode::NOT_FOUND,
        "Single sign-on is not configured",
        "There is no such identity provider.",
    )
}

/// Starts a sign-in at an organization's own identity provider (OpenID Connect or SAML, as
/// it is configured).
#[utoipa::path(get, path = "/app/sso/organizations/{organization}/start", tag = "login", security(()),
    params(("organization" = String, Path), StartParams),
    responses((status = 302, description = "To the organization's identity provider"),
        (status = 400, description = "return_to is not a path on this server", content_type = "text/html"),
        (status = 404, description = "The organization has no enabled single sign-on", content_type = "text/html"),
        (status = 502, description = "The identity provider is unavailable", content_type = "text/html")))]
async fn organization_start(
    State(state): State<AppState>,
    Path(organization): Path<String>,
    Query(params): Query<StartParams>,
) -> Response {
    let provider = match state.services.organization_provider(&organization).await {
        Ok(Some(provider)) => provider,
        Ok(None) => return not_configured(&state),
        Err(err) => {
            tracing::error!(error = %err, "single sign-on could not be started");
            return refused(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server could not start the sign-in; its log has the details.",
            );
        }
    };
    if provider.config.protocol == terrace_domain::org_sso::SAML {
        let sp = crate::saml::organization_provider(&provider, state.urls.base());
        return crate::routes::saml::start_with(
            &state,
            sp,
            params.return_to,
            Some(provider.organization.id),
        )
        .await;
    }
    let oidc = match state.organization_oidc.client(&provider) {
        Ok(oidc) => oidc,
        Err(err) => return failure(&state, err),
    };
    start_at(&state, &oidc, params, Some(provider.organization.id)).await
}

async fn start_at(
    state: &AppState,
    oidc: &Oidc,
    params: StartParams,
    organization_id: Option<String>,
) -> Response {
    let return_to = params.return_to.unwrap_or_else(|| "/".into());
    if !is_local_path(&return_to) {
        return refused(
            state,
            StatusCode::BAD_REQUEST,
            "return_to must be a path on this server.",
        );
    }
    let (url, mut pending) = match oidc.start(&return_to).await {
        Ok(started) => started,
        Err(err) => return failure(state, err),
    };
    pending.organization_id = organization_id;
    if let Err(err) = state.services.begin_sso(&pending).await {
        tracing::error!(error = %err, "single sign-on could not be started");
        return refused(
            state,
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server could not start the sign-in; its log has the details.",
        );
    }
    let mut response = redirect(&url);
    let max_age = (terrace_domain::sso::SSO_REQUEST_TTL_MINUTES * 60) as u32;
    set_cookie(&mut response, state, SSO_COOKIE, &pending.state, max_age);
    response
}

fn failure(state: &AppState, err: OidcError) -> Response {
    refusal(state, err).0
}

/// The page for a provider's failure, and its reason for the audit trail.
fn refusal(state: &AppState, err: OidcError) -> Refused {
    tracing::warn!(error = %err, "single sign-on refused");
    let (status, reason) = match err {
        OidcError::Unavailable(_) => (StatusCode::BAD_GATEWAY, "unavailable"),
        OidcError::Refused(reason, _) => (StatusCode::BAD_REQUEST, reason),
    };
    (refused(state, status, &format!("{err}.")), reason)
}

/// The identity provider's answer: signs the user in and returns to where they started.
#[utoipa::path(get, path = "/app/sso/oidc/callback", tag = "login", security(()), params(CallbackParams),
    responses((status = 302, description = "Signed in (a session cookie): back to return_to"),
        (status = 400, description = "Refused: unknown, used or expired state, the provider's error, an invalid ID token", content_type = "text/html"),
        (status = 404, description = "Single sign-on is not configured", content_type = "text/html"),
        (status = 502, description = "The identity provider is unavailable", content_type = "text/html")))]
async fn callback(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    query: Query<CallbackParams>,
) -> Response {
    let client = client.map(|Extension(client)| client.0.to_string());
    let Query(params) = query;
    // Whatever happens, the state is used up.
    let taken = state
        .services
        .take_sso(
            params.state.as_deref().unwrap_or_default(),
            SsoProtocol::Oidc,
        )
        .await;
    // A sign-in through an organization's provider is on that organization's trail.
    let organization_id = match &taken {
        Ok(Some(pending)) => pending.organization_id.clone(),
        _ => None,
    };
    let (response, user, reason) = match sign_in_from_callback(&state, headers, params, taken).await
    {
        Ok((response, user)) => (response, Some(user), None),
        Err((response, reason)) => (response, None, Some(reason)),
    };
    // Every callback is on record, refusals too (forged, replayed or altered answers), each
    // refusal with a short reason.
    state
        .services
        .record_sso(
            user.as_ref(),
            response.status().as_u16(),
            client.as_deref(),
            reason,
            organization_id.as_deref(),
        )
        .await;
    response
}

/// A refused sign-in: the page, and the reason on the audit trail.
pub(crate) type Refused = (Response, &'static str);

/// A sign-in the server could not complete (its log says why).
pub(crate) fn internal(state: &AppState) -> Refused {
    (
        refused(
            state,
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server could not complete the sign-in; its log has the details.",
        ),
        "internal",
    )
}

async fn sign_in_from_callback(
    state: &AppState,
    headers: HeaderMap,
    params: CallbackParams,
    taken: DomainResult<Option<PendingSso>>,
) -> Result<(Response, User), Refused> {
    let pending = match taken {
        Ok(pending) => pending,
        Err(err) => {
            tracing::error!(error = %err, "single sign-on could not be read");
            return Err(internal(state));
        }
    };
    if let Some(error) = params.error {
        tracing::warn!(error = %error, "single sign-on: the identity provider answered an error");
        let detail = params.error_description.unwrap_or_default();
        return Err((
            refused(
                state,
                StatusCode::BAD_REQUEST,
                &format!("The identity provider refused the sign-in: {error} {detail}"),
            ),
            "provider-error",
        ));
    }
    let Some(pending) = pending else {
        tracing::warn!("single sign-on refused: unknown, used or expired state");
        return Err((
            refused(
                state,
                StatusCode::BAD_REQUEST,
                "This sign-in is unknown, was already used or has expired. Start again.",
            ),
            "state",
        ));
    };
    if cookie(&headers, SSO_COOKIE) != Some(pending.state.as_str()) {
        tracing::warn!("single sign-on refused: the callback came without its browser's cookie");
        return Err((
            refused(
                state,
                StatusCode::BAD_REQUEST,
                "This sign-in was started in another browser. Start again.",
            ),
            "browser",
        ));
    }
    let Some(code) = params.code.filter(|c| !c.is_empty()) else {
        return Err((
            refused(
                state,
                StatusCode::BAD_REQUEST,
                "The callback carries no code.",
            ),
            "code",
        ));
    };
    // The provider the sign-in started at: the site's, or its organization's as configured now.
    let (oidc, organization) = match &pending.organization_id {
        None => match state.oidc.clone() {
            Some(oidc) => (oidc, None),
            None => return Err((not_configured(state), "not-configured")),
        },
        Some(id) => match state.services.organization_provider_of(id).await {
            Ok(Some(provider)) if provider.config.protocol == terrace_domain::org_sso::OIDC => {
                match state.organization_oidc.client(&provider) {
                    Ok(oidc) => (oidc, Some(provider.organization)),
                    Err(err) => return Err(refusal(state, err)),
                }
            }
            // Gone, disabled, or switched to SAML since the sign-in started.
            Ok(_) => return Err((not_configured(state), "not-configured")),
            Err(err) => {
                tracing::error!(error = %err, "single sign-on could not be read");
                return Err(internal(state));
            }
        },
    };
    let identity = match oidc.finish(&code, &pending).await {
        Ok(identity) => identity,
        Err(err) => return Err(refusal(state, err)),
    };
    let signed_in_with = match &organization {
        Some(org) => SignedInWith::Organization(org.id.clone()),
        None => SignedInWith::Site,
    };
    let (user, _) = match state
        .services
        .sso_sign_in(&identity, organization.as_ref())
        .await
    {
        Ok(signed_in) => signed_in,
        Err(err) => {
            tracing::warn!(error = %err, "single sign-on: the user could not be signed in");
            return Err((
                refused(state, StatusCode::BAD_REQUEST, &format!("{err}")),
                "user-refused",
            ));
        }
    };
    let session = match state.services.start_session(&user, &signed_in_with).await {
        Ok(session) => session,
        Err(err) => {
            tracing::error!(error = %err, "single sign-on: no session");
            return Err(internal(state));
        }
    };
    tracing::info!(user = %user.id, username = %user.username, "signed in with single sign-on");
    let mut response = redirect(&pending.return_to);
    set_cookie(&mut response, state, SSO_COOKIE, "", 0);
    set_cookie(
        &mut response,
        state,
        SESSION_COOKIE,
        &session.cookie,
        session.max_age_seconds(),
    );
    Ok((response, user))
}
