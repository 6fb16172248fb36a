//! An organization's own single sign-on: `/organizations/:org/sso-configuration` (a Terrace
//! extension; owners only). The rules are in `terrace_domain::org_sso`. The client secret is
//! write-only: answers say whether there is one, never what it is. SAML's identity provider
//! metadata is pasted (`saml-idp-metadata`), never fetched.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_domain::org_sso::{check_saml_metadata, SsoConfigurationInput, SsoConfigurationView};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::{time, Body, Document, JsonApi, JsonBody, Relationship, Resource};
use crate::oidc::CALLBACK_PATH;
use crate::saml::{organization_entity_path, ACS_PATH};
use crate::urls::Urls;

const KIND: &str = "sso-configurations";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, update, delete))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct SsoConfigurationAttributes {
    /// `oidc` or `saml`.
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
    /// The identity provider's SAML metadata (XML), as pasted.
    saml_idp_metadata: Option<String>,
    /// The identity provider's entity ID, read from its metadata.
    saml_idp_entity_id: Option<String>,
    /// The SAML attribute new users' usernames come from.
    saml_username_attribute: String,
    saml_email_attribute: String,
    /// The SAML attribute listing the user's groups (matched against teams' `sso-team-id`).
    saml_groups_attribute: String,
    /// The SAML service provider entity ID to register at the identity provider (this
    /// organization's own; its metadata is served there).
    saml_sp_entity_id: String,
    /// The SAML Assertion Consumer Service URL to register (HTTP-POST), shared by the site
    /// and every organization.
    saml_acs_url: String,
    /// The OpenID Connect redirect URI to register at the provider.
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
    /// SAML metadata XML (at most 256 KiB); an empty string removes it.
    saml_idp_metadata: Option<String>,
    saml_username_attribute: Option<String>,
    saml_email_attribute: Option<String>,
    saml_groups_attribute: Option<String>,
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
            saml_idp_metadata: config.saml_idp_metadata.clone(),
            saml_idp_entity_id: config
                .saml_idp_metadata
                .as_deref()
                .and_then(|xml| check_saml_metadata(xml).ok())
                .map(|idp| idp.entity_id),
            saml_username_attribute: config.saml_username_attribute.clone(),
            saml_email_attribute: config.saml_email_attribute.clone(),
            saml_groups_attribute: config.saml_groups_attribute.clone(),
            saml_sp_entity_id: urls.absolute(&organization_entity_path(org)),
            saml_acs_url: urls.absolute(ACS_PATH),
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
        saml_idp_metadata: input.saml_idp_metadata,
        saml_username_attribute: input.saml_username_attribute,
        saml_email_attribute: input.saml_email_attribute,
        saml_groups_attribute: input.saml_groups_attribute,
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
