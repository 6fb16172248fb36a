//! `/admin/general-settings`: TFE's general settings, read-only here: they are the server's
//! flags (`--organization-creation`), not values an administrator changes through the API.

use axum::extract::State;
use serde::Serialize;
use terrace_domain::site_admin::OrganizationCreation;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::{Document, JsonApi, Resource};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct GeneralSettingsAttributes {
    /// Only site administrators may create organizations (`--organization-creation
    /// site-admins`).
    limit_user_organization_creation: bool,
}

/// The server's general settings (site administrators only; 404 for everyone else).
#[utoipa::path(get, path = "/admin/general-settings", tag = "admin",
    responses((status = 200, body = Document<GeneralSettingsAttributes>),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<JsonApi<Document<GeneralSettingsAttributes>>> {
    let creation = state.services.admin_organization_creation(&caller)?;
    Ok(JsonApi::ok(Document::new(
        Resource::new(
            "general-settings",
            "general",
            GeneralSettingsAttributes {
                limit_user_organization_creation: creation == OrganizationCreation::SiteAdmins,
            },
        )
        .link("self", state.urls.api("/admin/general-settings")),
    )))
}
