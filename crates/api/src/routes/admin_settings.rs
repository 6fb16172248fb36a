//! `/admin/general-settings`: TFE's general settings. Terrace has one of them: who may create
//! organizations (`limit-user-organization-creation`), which starts as the server's
//! `--organization-creation` and, once a site administrator sets it here, is stored for every
//! replica and restart. TFE's other general settings have no meaning here and are refused.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use terrace_domain::site_admin::OrganizationCreation;
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
pub struct GeneralSettingsAttributes {
    /// Only site administrators may create organizations.
    limit_user_organization_creation: bool,
}

fn document(
    state: &AppState,
    creation: OrganizationCreation,
) -> Document<GeneralSettingsAttributes> {
    Document::new(
        Resource::new(
            "general-settings",
            "general",
            GeneralSettingsAttributes {
                limit_user_organization_creation: creation == OrganizationCreation::SiteAdmins,
            },
        )
        .link("self", state.urls.api("/admin/general-settings")),
    )
}

/// The server's general settings (site administrators only; 404 for everyone else).
#[utoipa::path(get, path = "/admin/general-settings", tag = "admin",
    responses((status = 200, body = Document<GeneralSettingsAttributes>),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<JsonApi<Document<GeneralSettingsAttributes>>> {
    let creation = state.services.admin_organization_creation(&caller).await?;
    Ok(JsonApi::ok(document(&state, creation)))
}

/// What an update may change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)] // a description; the body is read as a map so unknown settings are named
pub struct GeneralSettingsInput {
    /// `true`: only site administrators may create organizations; `false`: every user may.
    limit_user_organization_creation: Option<bool>,
}

const LIMIT_ORGANIZATION_CREATION: &str = "limit-user-organization-creation";

/// Who may create organizations after an update, if it says; any other attribute (TFE's rate
/// limits, timeouts, remote state default, ...) is a 422 naming it.
fn organization_creation(
    attributes: &Map<String, Value>,
) -> ApiResult<Option<OrganizationCreation>> {
    if let Some(other) = attributes
        .keys()
        .find(|k| *k != LIMIT_ORGANIZATION_CREATION)
    {
        return Err(ApiError::invalid(
            &format!("/data/attributes/{other}"),
            format!(
                "{other} is not a setting of this server; only \
                 {LIMIT_ORGANIZATION_CREATION} can be changed"
            ),
        ));
    }
    match attributes.get(LIMIT_ORGANIZATION_CREATION) {
        None => Ok(None),
        Some(Value::Bool(true)) => Ok(Some(OrganizationCreation::SiteAdmins)),
        Some(Value::Bool(false)) => Ok(Some(OrganizationCreation::Anyone)),
        Some(_) => Err(ApiError::invalid(
            &format!("/data/attributes/{LIMIT_ORGANIZATION_CREATION}"),
            "must be true or false",
        )),
    }
}

/// Changes who may create organizations, stored for every replica and restart. The body is
/// read after the caller is known to be a site administrator, so everyone else gets 404
/// whatever they send.
#[utoipa::path(patch, path = "/admin/general-settings", tag = "admin",
    request_body(content = Body<GeneralSettingsInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<GeneralSettingsAttributes>),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument),
        (status = 422, description = "A setting this server does not have, or a wrong value", body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    RawBody(body): RawBody,
) -> ApiResult<JsonApi<Document<GeneralSettingsAttributes>>> {
    let current = state.services.admin_organization_creation(&caller).await?;
    let (attributes, _) =
        parse_json::<Body<Map<String, Value>>>(&body)?.into_parts("general-settings")?;
    let creation = match organization_creation(&attributes)? {
        Some(wanted) if wanted != current => {
            state
                .services
                .admin_set_organization_creation(&caller, wanted)
                .await?
        }
        _ => current,
    };
    Ok(JsonApi::ok(document(&state, creation)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(json: Value) -> Map<String, Value> {
        json.as_object().unwrap().clone()
    }

    #[test]
    fn only_organization_creation_is_a_setting() {
        let read = |json| organization_creation(&attributes(json));
        assert_eq!(read(serde_json::json!({})).unwrap(), None);
        assert_eq!(
            read(serde_json::json!({"limit-user-organization-creation": true})).unwrap(),
            Some(OrganizationCreation::SiteAdmins)
        );
        assert_eq!(
            read(serde_json::json!({"limit-user-organization-creation": false})).unwrap(),
            Some(OrganizationCreation::Anyone)
        );
        for bad in [
            serde_json::json!({"limit-user-organization-creation": "yes"}),
            serde_json::json!({"limit-user-organization-creation": true, "api-rate-limit": 50}),
            serde_json::json!({"plan-timeout": "30m"}),
        ] {
            assert!(read(bad.clone()).is_err(), "{bad}");
        }
    }
}
