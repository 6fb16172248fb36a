//! Single sign-on with SAML 2.0, for browsers: `start` sends the browser to the identity
//! provider with an AuthnRequest (HTTP-Redirect binding), the identity provider posts its
//! response to `acs` (HTTP-POST binding), which verifies it, signs the user in with a session
//! cookie (the same as a password sign-in) and returns to where the sign-in began. `metadata`
//! is what to register at the identity provider. Failures answer an error page, start no
//! session and are on the audit trail (`sso-sign-in-failed`).
//!
//! The same code serves an organization's own SAML service provider
//! (`/app/sso/organizations/:org/start` dispatches to [`start_with`];
//! `/app/sso/organizations/:org/saml/metadata` is its metadata). The ACS is shared: it takes
//! the service provider from the sign-in this browser started (the site's, or the
//! organization's as configured now), so an assertion made for one service provider
//! (audience) cannot finish a sign-in started at another.
//!
//! A site administrator switches the site's SAML sign-in off and on and sets its `debug`
//! through `/admin/saml-settings` (`terrace_domain::site_settings::SiteSaml`): switched off,
//! its sign-ins neither start nor finish; without debug, a refused answer tells the person
//! signing in that it was refused but not why (the audit trail has the reason). An
//! organization's own provider shows its reasons to whoever signs in with it (its owners
//! have no debug switch).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use terrace_auth::saml::{Refusal, ServiceProvider};
use terrace_auth::secret;
use terrace_domain::org_sso::{identity_issuer, SignedInWith, SAML};
use terrace_domain::site_settings::SiteSaml;
use terrace_domain::sso::{is_local_path, PendingSso, SsoProtocol};
use terrace_storage::model::{Organization, User};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::extract::Query;
use crate::jsonapi::RawBody;
use crate::limits::ClientAddr;
use crate::routes::login::{cookie, set_cookie, set_cookie_for, SESSION_COOKIE};
use crate::routes::sso::{internal, redirect, Refused, NOT_CONFIGURED};
use crate::saml::{organization_provider, Attributes, SamlError};

/// Binds a SAML sign-in to the browser that started it (its value names the sign-in).
const SAML_COOKIE: &str = "terrace_saml";
/// The largest form posted to the ACS.
pub const ACS_BODY_LIMIT: usize = 1 << 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(acs))
        .routes(routes!(metadata))
        .routes(routes!(organization_metadata))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartParams {
    /// A path on this server to return to once signed in [default: /].
    #[serde(default)]
    return_to: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AcsForm {
    #[serde(rename = "SAMLResponse", default)]
    saml_response: String,
}

fn not_configured(state: &AppState) -> Response {
    let (title, detail) = NOT_CONFIGURED;
    state.pages.error(StatusCode::NOT_FOUND, title, detail)
}

fn switched_off(state: &AppState) -> Response {
    state.pages.error(
        StatusCode::NOT_FOUND,
        "Single sign-on is switched off",
        "A site administrator switched sign-in with SAML off on this server.",
    )
}

/// What a refused answer says without debug.
const REASON_HIDDEN: &str = "The identity provider's answer was refused. A site administrator \
    finds the reason on the audit trail (sso-sign-in-failed), or can turn on SAML debugging \
    to show it here.";

/// The site's SAML switches as stored.
async fn site_switches(state: &AppState) -> Result<SiteSaml, Response> {
    state.services.site_saml().await.map_err(|err| {
        tracing::error!(error = %err, "the site SAML settings could not be read");
        refused(
            state,
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server could not read its settings; its log has the details.",
        )
    })
}

/// Whether the site's SAML sign-in is configured and switched on (what the sign-in page
/// offers, and what `--sso-disable-passwords` counts as single sign-on).
pub(crate) async fn site_saml_on(state: &AppState) -> bool {
    state.saml.is_some()
        && site_switches(state)
            .await
            .is_ok_and(|switches| switches.signs_in(true))
}

fn refused(state: &AppState, status: StatusCode, message: &str) -> Response {
    let mut response = state.pages.error(status, "Single sign-on failed", message);
    set_cookie(&mut response, state, SAML_COOKIE, "", 0);
    response
}

/// Our service provider metadata, to register at the identity provider.
#[utoipa::path(get, path = "/app/sso/saml/metadata", tag = "login", security(()),
    responses((status = 200, description = "SAML service provider metadata", content_type = "application/samlmetadata+xml"),
        (status = 404, description = "SAML is not configured", content_type = "text/html")))]
async fn metadata(State(state): State<AppState>) -> Response {
    let Some(saml) = state.saml.as_ref() else {
        return not_configured(&state);
    };
    (
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        saml.metadata_xml(),
    )
        .into_response()
}

/// An organization's service provider metadata, to register at its identity provider.
#[utoipa::path(get, path = "/app/sso/organizations/{organization}/saml/metadata", tag = "login", security(()),
    params(("organization" = String, Path)),
    responses((status = 200, description = "The organization's SAML service provider metadata", content_type = "application/samlmetadata+xml"),
        (status = 404, description = "The organization has no enabled SAML single sign-on", content_type = "text/html")))]
async fn organization_metadata(
    State(state): State<AppState>,
    Path(organization): Path<String>,
) -> Response {
    let provider = match state.services.organization_provider(&organization).await {
        Ok(Some(provider)) if provider.config.protocol == SAML => provider,
        Ok(_) => return not_configured(&state),
        Err(err) => {
            tracing::error!(error = %err, "SAML metadata could not be read");
            return refused(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server could not read the configuration; its log has the details.",
            );
        }
    };
    match organization_provider(&provider, state.urls.base()) {
        Ok(sp) => (
            [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
            sp.metadata_xml(),
        )
            .into_response(),
        Err(err) => failure(&state, &err),
    }
}

/// Starts a SAML sign-in at the identity provider.
#[utoipa::path(get, path = "/app/sso/saml/start", tag = "login", security(()), params(StartParams),
    responses((status = 302, description = "To the identity provider (HTTP-Redirect binding)"),
        (status = 400, description = "return_to is not a path on this server", content_type = "text/html"),
        (status = 404, description = "SAML is not configured, or a site administrator switched it off", content_type = "text/html"),
        (status = 502, description = "The identity provider's metadata cannot be read", content_type = "text/html")))]
async fn start(State(state): State<AppState>, Query(params): Query<StartParams>) -> Response {
    let Some(saml) = state.saml.as_ref() else {
        return not_configured(&state);
    };
    match site_switches(&state).await {
        Ok(switches) if switches.enabled => {}
        Ok(_) => return switched_off(&state),
        Err(page) => return page,
    }
    let provider = saml.provider().await;
    start_with(&state, provider, params.return_to, None).await
}

/// Starts a SAML sign-in toward `provider` (the site's, or the organization
/// `organization_id`'s), returning to `return_to` once signed in.
pub(crate) async fn start_with(
    state: &AppState,
    provider: Result<ServiceProvider, SamlError>,
    return_to: Option<String>,
    organization_id: Option<String>,
) -> Response {
    let return_to = return_to.unwrap_or_else(|| "/".into());
    if !is_local_path(&return_to) {
        return refused(
            state,
            StatusCode::BAD_REQUEST,
            "return_to must be a path on this server.",
        );
    }
    let provider = match provider {
        Ok(provider) => provider,
        Err(err) => return failure(state, &err),
    };
    let request_id = ServiceProvider::new_request_id();
    // The cookie's value names the sign-in; the AuthnRequest's ID is what the answer must cite.
    let pending = PendingSso {
        protocol: SsoProtocol::Saml,
        state: secret::new_opaque(),
        nonce: request_id.clone(),
        pkce_verifier: String::new(),
        return_to,
        organization_id,
    };
    if let Err(err) = state.services.begin_sso(&pending).await {
        tracing::error!(error = %err, "SAML sign-in could not be started");
        return refused(
            state,
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server could not start the sign-in; its log has the details.",
        );
    }
    // RelayState carries nothing the ACS trusts: where to return is stored with the request.
    let mut response = redirect(&provider.redirect_url(&request_id, "terrace", chrono::Utc::now()));
    let max_age = (terrace_domain::sso::SSO_REQUEST_TTL_MINUTES * 60) as u32;
    set_cookie_for(
        &mut response,
        state,
        SAML_COOKIE,
        &pending.state,
        max_age,
        true,
    );
    response
}

fn failure(state: &AppState, err: &SamlError) -> Response {
    let status = match err {
        SamlError::Unavailable(_) => StatusCode::BAD_GATEWAY,
        SamlError::Refused(_) => StatusCode::BAD_REQUEST,
    };
    refused(state, status, &format!("{err}."))
}

/// The identity provider's answer (HTTP-POST binding): signs the user in and returns to
/// where they started.
#[utoipa::path(post, path = "/app/sso/saml/acs", tag = "login", security(()),
    request_body(content_type = "application/x-www-form-urlencoded", description = "SAMLResponse and RelayState"),
    responses((status = 302, description = "Signed in (a session cookie): back to return_to"),
        (status = 400, description = "Refused: unsolicited, forged, altered, expired, replayed, for another audience, ...", content_type = "text/html"),
        (status = 404, description = "SAML is not configured or switched off (the site's, or the organization's the sign-in started for)", content_type = "text/html"),
        (status = 502, description = "The identity provider's metadata cannot be read", content_type = "text/html")))]
async fn acs(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let client = client.map(|Extension(client)| client.0.to_string());
    // The organization whose sign-in this answers, once known: its audit trail has it.
    let (outcome, organization_id) = match take(&state, &headers, &body).await {
        Ok((pending, posted)) => {
            let organization_id = pending.organization_id.clone();
            (sign_in(&state, pending, posted).await, organization_id)
        }
        Err(refused) => (Err(refused), None),
    };
    let (response, user, reason) = match outcome {
        Ok((response, user)) => (response, Some(user), None),
        Err((response, reason)) => (response, None, Some(reason)),
    };
    if let Some(reason) = &reason {
        tracing::warn!(reason = %reason, "SAML sign-in refused");
    }
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

/// The service provider a sign-in started at: the site's, or its organization's as
/// configured now (refused when that no longer uses SAML).
struct StartedAt {
    provider: ServiceProvider,
    attributes: Attributes,
    organization: Option<Organization>,
    /// Whether a refused answer says why (the site's debug switch; always for an
    /// organization's provider).
    show_reasons: bool,
}

async fn started_at(state: &AppState, organization_id: Option<&str>) -> Result<StartedAt, Refused> {
    let gone = || (not_configured(state), "not-configured");
    let Some(id) = organization_id else {
        let saml = state.saml.as_ref().ok_or_else(gone)?;
        let switches = site_switches(state)
            .await
            .map_err(|page| (page, "internal"))?;
        if !switches.enabled {
            return Err((switched_off(state), "switched-off"));
        }
        let provider = saml
            .provider()
            .await
            .map_err(|err| (failure(state, &err), "metadata-unavailable"))?;
        return Ok(StartedAt {
            provider,
            attributes: saml.attributes(),
            organization: None,
            show_reasons: switches.debug,
        });
    };
    let configured = match state.services.organization_provider_of(id).await {
        Ok(Some(provider)) if provider.config.protocol == SAML => provider,
        Ok(_) => return Err(gone()),
        Err(err) => {
            tracing::error!(error = %err, "SAML sign-in: the organization's configuration could not be read");
            return Err(internal(state));
        }
    };
    let provider = organization_provider(&configured, state.urls.base())
        .map_err(|err| (failure(state, &err), "metadata-unavailable"))?;
    Ok(StartedAt {
        provider,
        attributes: Attributes::of_organization(&configured),
        organization: Some(configured.organization),
        show_reasons: true,
    })
}

/// The posted response and the sign-in this browser started (used up whatever happens next).
async fn take(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(PendingSso, String), Refused> {
    let form: AcsForm = serde_urlencoded::from_bytes(body).map_err(|_| {
        bad(
            state,
            "The identity provider's answer is not a form.",
            "malformed",
        )
    })?;
    if form.saml_response.is_empty() {
        return Err(bad(
            state,
            "The answer carries no SAMLResponse.",
            "malformed",
        ));
    }
    let browser = cookie(headers, SAML_COOKIE).unwrap_or_default();
    let pending = state
        .services
        .take_sso(browser, SsoProtocol::Saml)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "SAML sign-in could not be read");
            internal(state)
        })?;
    let Some(pending) = pending else {
        return Err(bad(
            state,
            "This answer is for no sign-in started in this browser (unsolicited, already used or expired). Start again.",
            Refusal::InResponseTo.code(),
        ));
    };
    Ok((pending, form.saml_response))
}

fn bad(state: &AppState, message: &str, reason: &'static str) -> Refused {
    (refused(state, StatusCode::BAD_REQUEST, message), reason)
}

/// Verifies `posted` as the answer to `pending` with the service provider it started at,
/// and signs its user in.
async fn sign_in(
    state: &AppState,
    pending: PendingSso,
    posted: String,
) -> Result<(Response, User), Refused> {
    let StartedAt {
        provider,
        attributes,
        organization,
        show_reasons,
    } = started_at(state, pending.organization_id.as_deref()).await?;
    let refused_answer = |refusal: Refusal| {
        let page = if show_reasons {
            failure(state, &SamlError::Refused(refusal.clone()))
        } else {
            refused(state, StatusCode::BAD_REQUEST, REASON_HIDDEN)
        };
        (page, refusal.code())
    };
    let request_id = pending.nonce.clone();
    // libxmlsec1 is blocking work.
    let verified = tokio::task::spawn_blocking(move || {
        provider.verify(&posted, &request_id, chrono::Utc::now())
    })
    .await
    .unwrap_or(Err(Refusal::Malformed))
    .map_err(&refused_answer)?;
    // Replays: an assertion works once, on any replica (an organization's identity
    // provider's assertions are kept in its own namespace, like its identities).
    let replay_issuer = match &organization {
        Some(org) => identity_issuer(&org.id, &verified.issuer),
        None => verified.issuer.clone(),
    };
    match state
        .services
        .use_saml_assertion(&replay_issuer, &verified.id, verified.valid_until)
        .await
    {
        Ok(true) => {}
        Ok(false) => return Err(refused_answer(Refusal::Replayed)),
        Err(err) => {
            tracing::error!(error = %err, "SAML replay cache");
            return Err(internal(state));
        }
    }
    let identity = attributes.identity(&verified);
    let signed_in_with = match &organization {
        Some(org) => SignedInWith::Organization(org.id.clone()),
        None => SignedInWith::Site,
    };
    let (user, _) = state
        .services
        .sso_sign_in(&identity, organization.as_ref())
        .await
        .map_err(|err| {
            tracing::warn!(error = %err, "SAML: the user could not be signed in");
            (
                refused(state, StatusCode::BAD_REQUEST, &format!("{err}")),
                "user-refused",
            )
        })?;
    let session = state
        .services
        .start_session(&user, &signed_in_with)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "SAML: no session");
            internal(state)
        })?;
    tracing::info!(user = %user.id, username = %user.username, "signed in with SAML");
    let mut response = redirect(&pending.return_to);
    set_cookie(&mut response, state, SAML_COOKIE, "", 0);
    set_cookie(
        &mut response,
        state,
        SESSION_COOKIE,
        &session.cookie,
        session.max_age_seconds(),
    );
    Ok((response, user))
}
