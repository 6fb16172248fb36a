//! An organization's own single sign-on: `/organizations/:org/sso-configuration` (a Terrace
//! extension; owners only). The rules are in `terrace_domain::org_sso`. The client secret is
//! write-only: answers say whether there is one, never what it is.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_domain::org_sso::{SsoConfigurationInput, SsoConfigurationView};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::{time, Body, Document, JsonApi, JsonBody, Relationship, Resource};
use crate::oidc::CALLBACK_PATH;
use crate::urls::Urls;

const KIND: &str = "sso-configurations";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, update, delete))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct SsoConfigurationAttributes {
    /// `oidc` (the only protocol so far).
    protocol: String,
    enabled: bool,
    /// Members (not owners) reach the organization only with credentials from single
    /// sign-on through its provider (or the site's when this one is disabled).
    enforced: bool,
    oidc_issuer: Option<String>,
    oidc_client_id: Option<String>,
    /// Whether a client secret is set (the secret itself is never shown).
    oidc_client_secret_set: bool,
    /// Space-separated scopes besides `openid`.
    oidc_scopes: String,
    oidc_groups_claim: String,
    oidc_username_claim: String,
    /// The redirect URI to register at the provider.
    redirect_uri: String,
    /// Where members start signing in.
    sign_in_url: String,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SsoConfigurationBody {
    protocol: Option<String>,
    enabled: Option<bool>,
    enforced: Option<bool>,
    oidc_issuer: Option<String>,
    oidc_client_id: Option<String>,
    /// Write-only; an empty string removes it.
    oidc_client_secret: Option<String>,
    /// Space- or comma-separated.
    oidc_scopes: Option<String>,
    oidc_groups_claim: Option<String>,
    oidc_username_claim: Option<String>,
}

fn resource(view: &SsoConfigurationView, urls: &Urls) -> Resource<SsoConfigurationAttributes> {
    let config = &view.config;
    let org = &view.organization.name;
    Resource::new(
        KIND,
        &config.organization_id,
        SsoConfigurationAttributes {
            protocol: config.protocol.clone(),
            enabled: config.enabled,
            enforced: config.enforced,
            oidc_issuer: config.oidc_issuer.clone(),
            oidc_client_id: config.oidc_client_id.clone(),
            oidc_client_secret_set: view.has_client_secret,
            oidc_scopes: config.oidc_scopes.clone(),
            oidc_groups_claim: config.oidc_groups_claim.clone(),
            oidc_username_claim: config.oidc_username_claim.clone(),
            redirect_uri: urls.absolute(CALLBACK_PATH),
            sign_in_url: urls.absolute(&format!("/app/sso/organizations/{org}/start")),
            created_at: config.created_at,
            updated_at: config.updated_at,
        },
    )
    .relationship(
        "organization",
        Relationship::one("organizations", org.as_str()),
    )
    .link(
        "self",
        urls.api(&format!("/organizations/{org}/sso-configuration")),
    )
}

/// The organization's single sign-on (owners); 404 when it has none.
#[utoipa::path(get, path = "/organizations/{organization}/sso-configuration", tag = "organizations",
    params(("organization" = String, Path)),
    responses((status = 200, body = Document<SsoConfigurationAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
) -> ApiResult<JsonApi<Document<SsoConfigurationAttributes>>> {
    let view = state.services.sso_configuration(&caller, &org).await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Creates or changes the organization's single sign-on (owners).
#[utoipa::path(patch, path = "/organizations/{organization}/sso-configuration", tag = "organizations",
    params(("organization" = String, Path)),
    request_body(content = Body<SsoConfigurationBody>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<SsoConfigurationAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<Body<SsoConfigurationBody>>,
) -> ApiResult<JsonApi<Document<SsoConfigurationAttributes>>> {
    let (input, _) = body.into_parts(KIND)?;
    let input = SsoConfigurationInput {
        protocol: input.protocol,
        enabled: input.enabled,
        enforced: input.enforced,
        oidc_issuer: input.oidc_issuer,
        oidc_client_id: input.oidc_client_id,
        oidc_client_secret: input.oidc_client_secret,
        oidc_scopes: input.oidc_scopes,
        oidc_groups_claim: input.oidc_groups_claim,
        oidc_username_claim: input.oidc_username_claim,
    };
    let view = state
        .services
        .update_sso_configuration(&caller, &org, input)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Removes the organization's single sign-on (owners).
#[utoipa::path(delete, path = "/organizations/{organization}/sso-configuration", tag = "organizations",
    params(("organization" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_sso_configuration(&caller, &org)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
