//! `/admin/saml-settings`: the site's SAML single sign-on in TFE's shape. The identity
//! provider is configured in the server's configuration (`--saml-*`, `[saml]`), so this shows
//! it as configured; what a site administrator changes here is stored for every replica
//! (`terrace_domain::site_settings`): `enabled` (switch SAML sign-in off and on again; on
//! needs a configured identity provider) and `debug` (a refused sign-in shows its reason).
//! Terrace signs no requests and has no private key: `private-key` is always empty.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use terrace_domain::site_settings::{SiteSaml, SiteSamlChanges};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::body::parse_json;
use crate::jsonapi::{Body, Document, JsonApi, RawBody, Resource};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, update))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct SamlSettingsAttributes {
    /// SAML sign-in is configured and switched on.
    enabled: bool,
    /// A refused sign-in shows its reason to the person signing in.
    debug: bool,
    /// Always empty: every certificate in the metadata is trusted (`idp-cert`).
    old_idp_cert: String,
    /// The identity provider's signing certificates (PEM), from its metadata.
    idp_cert: String,
    /// Always empty: no single logout.
    slo_endpoint_url: String,
    /// The identity provider's sign-in URL (HTTP-Redirect binding), from its metadata.
    sso_endpoint_url: String,
    /// The assertion attribute holding the username.
    attr_username: String,
    /// The assertion attribute listing the groups teams follow (`sso-team-id`).
    attr_groups: String,
    /// Always empty: SAML does not grant site administrator access here.
    attr_site_admin: String,
    /// Always empty: SAML does not grant site administrator access here.
    site_admin_role: String,
    /// How long a browser session signed in with SAML lasts at most, in seconds.
    sso_api_token_session_timeout: i64,
    /// Where the identity provider posts its answers.
    acs_consumer_url: String,
    /// Our service provider metadata.
    metadata_url: String,
    /// The identity provider's groups fill teams with a matching `sso-team-id`.
    team_management_enabled: bool,
    /// Always empty: requests are not signed.
    certificate: String,
    /// Always false: requests are not signed.
    authn_requests_signed: bool,
    /// False: a signed response or a signed assertion is accepted (what is read must be signed).
    want_assertions_signed: bool,
    /// Always empty (write-only in TFE; Terrace has no private key).
    private_key: String,
    /// Always empty: requests are not signed.
    signature_signing_method: String,
    /// Always empty: requests are not signed.
    signature_digest_method: String,
    /// `saml` with an identity provider configured, `unknown` without.
    provider_type: String,
}

/// The settings as they are: the configuration's identity provider (its metadata read now,
/// if it comes from a URL) and the stored switches.
async fn attributes(state: &AppState, switches: SiteSaml) -> SamlSettingsAttributes {
    let Some(saml) = state.saml.as_ref() else {
        return SamlSettingsAttributes {
            debug: switches.debug,
            provider_type: "unknown".into(),
            ..Default::default()
        };
    };
    let (idp_cert, sso_endpoint_url) = match saml.provider().await {
        Ok(provider) => (
            provider.idp.certificates_pem().concat(),
            provider.idp.sso_url.clone(),
        ),
        // Unreadable now (the sign-in page says why); nothing to show.
        Err(_) => (String::new(), String::new()),
    };
    let read = saml.attributes();
    SamlSettingsAttributes {
        enabled: switches.signs_in(true),
        debug: switches.debug,
        idp_cert,
        sso_endpoint_url,
        team_management_enabled: !read.groups.is_empty(),
        attr_username: read.username,
        attr_groups: read.groups,
        sso_api_token_session_timeout: terrace_domain::sessions::DEFAULT_LIFETIME.num_seconds(),
        acs_consumer_url: saml.acs_url().to_string(),
        metadata_url: state.urls.absolute(crate::saml::METADATA_PATH),
        provider_type: "saml".into(),
        ..Default::default()
    }
}

async fn document(state: &AppState, switches: SiteSaml) -> Document<SamlSettingsAttributes> {
    Document::new(
        Resource::new("saml-settings", "saml", attributes(state, switches).await)
            .link("self", state.urls.api("/admin/saml-settings")),
    )
}

/// The site's SAML settings (site administrators only; 404 for everyone else).
#[utoipa::path(get, path = "/admin/saml-settings", tag = "admin",
    responses((status = 200, body = Document<SamlSettingsAttributes>),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<JsonApi<Document<SamlSettingsAttributes>>> {
    let switches = state.services.admin_site_saml(&caller).await?;
    Ok(JsonApi::ok(document(&state, switches).await))
}

/// What an update may change. Every other attribute of the settings may be sent with the
/// value it has (a client sending back what it read); another value is a 422 (they come from
/// the server's configuration).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)] // a description; the body is read as a map so other settings are named
pub struct SamlSettingsInput {
    /// Switch SAML sign-in on (needs a configured identity provider) or off.
    enabled: Option<bool>,
    /// Show the reason of a refused sign-in to the person signing in.
    debug: Option<bool>,
}

/// The switches an update's attributes change; every other attribute must be one of the
/// settings, with its current value (`current`, as a JSON object).
fn changes(
    attributes: &Map<String, Value>,
    current: &Map<String, Value>,
) -> ApiResult<SiteSamlChanges> {
    let switch = |name: &str| -> ApiResult<Option<bool>> {
        match attributes.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::invalid(
                &format!("/data/attributes/{name}"),
                "must be true or false",
            )),
        }
    };
    for (name, value) in attributes {
        if name == "enabled" || name == "debug" {
            continue;
        }
        let pointer = format!("/data/attributes/{name}");
        match current.get(name) {
            None => {
                return Err(ApiError::invalid(
                    &pointer,
                    format!("{name} is not a SAML setting of this server"),
                ))
            }
            Some(now) if now == value => {}
            Some(_) if name == "private-key" => {
                return Err(ApiError::invalid(
                    &pointer,
                    "this server signs no SAML requests and keeps no private key",
                ))
            }
            Some(_) => {
                return Err(ApiError::invalid(
                    &pointer,
                    format!(
                        "{name} comes from the server's configuration (--saml-* options or \
                         its [saml] section); only enabled and debug can be changed here"
                    ),
                ))
            }
        }
    }
    Ok(SiteSamlChanges {
        enabled: switch("enabled")?,
        debug: switch("debug")?,
    })
}

/// Switches the site's SAML sign-in on or off and sets `debug`, stored for every replica and
/// restart. The body is read after the caller is known to be a site administrator, so
/// everyone else gets 404 whatever they send.
#[utoipa::path(patch, path = "/admin/saml-settings", tag = "admin",
    request_body(content = Body<SamlSettingsInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<SamlSettingsAttributes>),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument),
        (status = 422, description = "Switching SAML on without a configured identity provider, a setting this server does not have or that comes from its configuration, or a wrong value", body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    RawBody(body): RawBody,
) -> ApiResult<JsonApi<Document<SamlSettingsAttributes>>> {
    let switches = state.services.admin_site_saml(&caller).await?;
    let (sent, _) = parse_json::<Body<Map<String, Value>>>(&body)?.into_parts("saml-settings")?;
    let current = match serde_json::to_value(attributes(&state, switches).await) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let changes = changes(&sent, &current)?;
    let switches = state
        .services
        .admin_update_site_saml(&caller, changes, state.saml.is_some())
        .await?;
    Ok(JsonApi::ok(document(&state, switches).await))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current() -> Map<String, Value> {
        let attributes = SamlSettingsAttributes {
            enabled: true,
            attr_username: "uid".into(),
            provider_type: "saml".into(),
            ..Default::default()
        };
        match serde_json::to_value(attributes).unwrap() {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn read(json: Value) -> ApiResult<SiteSamlChanges> {
        changes(json.as_object().unwrap(), &current())
    }

    #[test]
    fn only_the_switches_change() {
        assert_eq!(
            read(serde_json::json!({"enabled": false, "debug": true})).unwrap(),
            SiteSamlChanges {
                enabled: Some(false),
                debug: Some(true)
            }
        );
        // What was read can be sent back.
        assert_eq!(
            read(serde_json::json!({"attr-username": "uid", "private-key": "", "debug": false}))
                .unwrap(),
            SiteSamlChanges {
                enabled: None,
                debug: Some(false)
            }
        );
        for bad in [
            serde_json::json!({"enabled": "yes"}),
            serde_json::json!({"attr-username": "mail"}),
            serde_json::json!({"private-key": "testPrivateKey"}),
            serde_json::json!({"idp-cert": "testCert"}),
            serde_json::json!({"provider-type": "okta"}),
            serde_json::json!({"logo": "x"}),
        ] {
            assert!(read(bad.clone()).is_err(), "{bad}");
        }
    }
}
