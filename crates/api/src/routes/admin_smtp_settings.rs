//! `/admin/smtp-settings`: TFE's SMTP settings, the server e-mail notifications are sent
//! through (`terrace_domain::notifications::email`). The password is write-only: stored
//! sealed, never shown. A `test-email-address` sends a test mail with the new settings first;
//! if it is not accepted the update is a 422 saying why, and nothing changes.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use terrace_domain::notifications::email::{SmtpChanges, SmtpSettings};
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

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct SmtpSettingsAttributes {
    enabled: bool,
    host: String,
    port: u16,
    sender: String,
    /// `none`, `plain` or `login`.
    auth: String,
    username: String,
}

fn document(state: &AppState, s: SmtpSettings) -> Document<SmtpSettingsAttributes> {
    Document::new(
        Resource::new(
            "smtp-settings",
            "smtp",
            SmtpSettingsAttributes {
                enabled: s.enabled,
                host: s.host,
                port: s.port,
                sender: s.sender,
                auth: s.auth.as_str().to_string(),
                username: s.username,
            },
        )
        .link("self", state.urls.api("/admin/smtp-settings")),
    )
}

/// The SMTP settings, without the password (site administrators only; 404 for everyone else).
#[utoipa::path(get, path = "/admin/smtp-settings", tag = "admin",
    responses((status = 200, body = Document<SmtpSettingsAttributes>),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<JsonApi<Document<SmtpSettingsAttributes>>> {
    let settings = state.services.admin_smtp_settings(&caller).await?;
    Ok(JsonApi::ok(document(&state, settings)))
}

/// What an update may change (each optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)] // a description; the body is read as a map so unknown settings are named
pub struct SmtpSettingsInput {
    enabled: Option<bool>,
    host: Option<String>,
    port: Option<i64>,
    /// The From address.
    sender: Option<String>,
    /// `none`, `plain` or `login`.
    auth: Option<String>,
    username: Option<String>,
    /// Write-only; an empty string removes it.
    password: Option<String>,
    /// Sends a test mail there with the new settings before storing them.
    test_email_address: Option<String>,
}

const ATTRIBUTES: [&str; 8] = [
    "enabled",
    "host",
    "port",
    "sender",
    "auth",
    "username",
    "password",
    "test-email-address",
];

fn changes(attributes: &Map<String, Value>) -> ApiResult<SmtpChanges> {
    if let Some(other) = attributes
        .keys()
        .find(|k| !ATTRIBUTES.contains(&k.as_str()))
    {
        return Err(ApiError::invalid(
            &format!("/data/attributes/{other}"),
            format!(
                "{other} is not an SMTP setting; they are {}",
                ATTRIBUTES.join(", ")
            ),
        ));
    }
    let wrong = |name: &str, what: &str| {
        ApiError::invalid(
            &format!("/data/attributes/{name}"),
            format!("must be {what}"),
        )
    };
    let text = |name: &str| -> ApiResult<Option<String>> {
        match attributes.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(String::new())),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(wrong(name, "a string")),
        }
    };
    let enabled = match attributes.get("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(wrong("enabled", "true or false")),
    };
    let port = match attributes.get("port") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_i64().ok_or_else(|| wrong("port", "an integer"))?),
        Some(_) => return Err(wrong("port", "an integer")),
    };
    Ok(SmtpChanges {
        enabled,
        host: text("host")?,
        port,
        sender: text("sender")?,
        // TFE: an update without auth keeps it; null means none.
        auth: text("auth")?.map(|a| if a.is_empty() { "none".into() } else { a }),
        username: text("username")?,
        password: text("password")?,
        test_email_address: text("test-email-address")?.filter(|a| !a.is_empty()),
    })
}

/// Changes the SMTP settings: every attribute it names, or nothing if one is wrong or the
/// test mail is not accepted. The body is read after the caller is known to be a site
/// administrator, so everyone else gets 404.
#[utoipa::path(patch, path = "/admin/smtp-settings", tag = "admin",
    request_body(content = Body<SmtpSettingsInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<SmtpSettingsAttributes>),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument),
        (status = 422, description = "A setting this server does not have, a wrong value, or a test mail that was not sent", body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    RawBody(body): RawBody,
) -> ApiResult<JsonApi<Document<SmtpSettingsAttributes>>> {
    state.services.admin_smtp_settings(&caller).await?;
    let (attributes, _) =
        parse_json::<Body<Map<String, Value>>>(&body)?.into_parts("smtp-settings")?;
    let settings = state
        .services
        .admin_update_smtp_settings(&caller, changes(&attributes)?)
        .await?;
    Ok(JsonApi::ok(document(&state, settings)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_become_changes_and_strangers_are_named() {
        let read = |v: Value| changes(v.as_object().unwrap());
        let c = read(
            serde_json::json!({"enabled": true, "port": 2525, "auth": null,
            "password": "s", "test-email-address": "a@b.c"}),
        )
        .unwrap();
        assert_eq!(c.enabled, Some(true));
        assert_eq!(c.port, Some(2525));
        assert_eq!(c.auth.as_deref(), Some("none"));
        assert_eq!(c.password.as_deref(), Some("s"));
        assert!(read(serde_json::json!({"port": "25"})).is_err());
        assert!(read(serde_json::json!({"tls": true})).is_err());
    }
}
