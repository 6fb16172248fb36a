//! `/admin/customization-settings`: TFE's customization, the texts the sign-in and error pages
//! show (support address, login help, footer, error instructions, new-user text). Stored for
//! every replica (`terrace_domain::site_settings`); the pages show them as text, escaped.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use terrace_domain::site_settings::{Customization, CustomizationChanges};
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
pub struct CustomizationSettingsAttributes {
    /// Where users ask for help; error pages link to it.
    support_email_address: String,
    /// Shown on the sign-in form.
    login_help: String,
    /// Shown at the foot of every page.
    footer: String,
    /// Instructions shown on error pages.
    error: String,
    /// Shown on the sign-in form, for people without an account.
    new_user: String,
}

fn document(state: &AppState, c: Customization) -> Document<CustomizationSettingsAttributes> {
    Document::new(
        Resource::new(
            "customization-settings",
            "customization",
            CustomizationSettingsAttributes {
                support_email_address: c.support_email,
                login_help: c.login_help,
                footer: c.footer,
                error: c.error,
                new_user: c.new_user,
            },
        )
        .link("self", state.urls.api("/admin/customization-settings")),
    )
}

/// The customization (site administrators only; 404 for everyone else).
#[utoipa::path(get, path = "/admin/customization-settings", tag = "admin",
    responses((status = 200, body = Document<CustomizationSettingsAttributes>),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<JsonApi<Document<CustomizationSettingsAttributes>>> {
    let customization = state.services.admin_customization(&caller).await?;
    Ok(JsonApi::ok(document(&state, customization)))
}

/// What an update may change (each optional; an empty string removes a text).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)] // a description; the body is read as a map so unknown settings are named
pub struct CustomizationSettingsInput {
    /// An e-mail address, or empty.
    support_email_address: Option<String>,
    /// Up to 4096 characters, shown as text.
    login_help: Option<String>,
    /// Up to 4096 characters, shown as text.
    footer: Option<String>,
    /// Up to 4096 characters, shown as text.
    error: Option<String>,
    /// Up to 4096 characters, shown as text.
    new_user: Option<String>,
}

const ATTRIBUTES: [&str; 5] = [
    "support-email-address",
    "login-help",
    "footer",
    "error",
    "new-user",
];

/// The changes an update's attributes ask for: strings (`null` removes a text); any other
/// attribute is a 422 naming it.
fn changes(attributes: &Map<String, Value>) -> ApiResult<CustomizationChanges> {
    if let Some(other) = attributes
        .keys()
        .find(|k| !ATTRIBUTES.contains(&k.as_str()))
    {
        return Err(ApiError::invalid(
            &format!("/data/attributes/{other}"),
            format!(
                "{other} is not a customization setting; they are {}",
                ATTRIBUTES.join(", ")
            ),
        ));
    }
    let get = |name: &str| -> ApiResult<Option<String>> {
        match attributes.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(String::new())),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::invalid(
                &format!("/data/attributes/{name}"),
                "must be a string",
            )),
        }
    };
    Ok(CustomizationChanges {
        support_email: get("support-email-address")?,
        login_help: get("login-help")?,
        footer: get("footer")?,
        error: get("error")?,
        new_user: get("new-user")?,
    })
}

/// Changes the customization: every attribute it names, or nothing if one is wrong. The pages
/// of this replica show it at once, the other replicas' within 30 seconds. The body is read
/// after the caller is known to be a site administrator, so everyone else gets 404.
#[utoipa::path(patch, path = "/admin/customization-settings", tag = "admin",
    request_body(content = Body<CustomizationSettingsInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<CustomizationSettingsAttributes>),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument),
        (status = 422, description = "A setting this server does not have, a text too long or with control characters, or a support address that is not an e-mail address", body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    RawBody(body): RawBody,
) -> ApiResult<JsonApi<Document<CustomizationSettingsAttributes>>> {
    state.services.admin_customization(&caller).await?;
    let (attributes, _) =
        parse_json::<Body<Map<String, Value>>>(&body)?.into_parts("customization-settings")?;
    let changes = changes(&attributes)?;
    let customization = state
        .services
        .admin_update_customization(&caller, changes)
        .await?;
    state.pages.set_customization(customization.clone());
    Ok(JsonApi::ok(document(&state, customization)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: Value) -> ApiResult<CustomizationChanges> {
        changes(json.as_object().unwrap())
    }

    #[test]
    fn reads_the_five_texts_and_nothing_else() {
        let c = read(serde_json::json!({
            "support-email-address": "a@example.com", "footer": null, "new-user": "hi"
        }))
        .unwrap();
        assert_eq!(c.support_email.as_deref(), Some("a@example.com"));
        assert_eq!(c.footer.as_deref(), Some(""));
        assert_eq!(c.new_user.as_deref(), Some("hi"));
        assert_eq!(c.login_help, None);
        assert!(read(serde_json::json!({"footer": 3})).is_err());
        assert!(read(serde_json::json!({"footer": "x", "logo": "y"})).is_err());
    }
}
