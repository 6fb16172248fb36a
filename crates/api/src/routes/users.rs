//! `/account/details`, `/account/update` and `/users/:id`.

use axum::extract::{Path, State};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use terrace_storage::model::User;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::{Body, Document, JsonApi, JsonBody, Relationship, Resource};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(account_details))
        .routes(routes!(account_update))
        .routes(routes!(show))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct UserAttributes {
    username: String,
    /// Only in the caller's own account.
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    is_service_account: bool,
    auth_method: &'static str,
    avatar_url: String,
    v2_only: bool,
    is_site_admin: bool,
    is_admin: bool,
    is_sso_login: bool,
    two_factor: TwoFactor,
    permissions: UserPermissions,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TwoFactor {
    enabled: bool,
    verified: bool,
}

impl TwoFactor {
    /// No two-factor authentication on this server.
    pub const OFF: TwoFactor = TwoFactor {
        enabled: false,
        verified: false,
    };
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct UserPermissions {
    can_create_organizations: bool,
    can_change_email: bool,
    can_change_username: bool,
    can_manage_user_tokens: bool,
    can_view_2fa_settings: bool,
    /// go-tfe's spelling of the same permission.
    #[serde(rename = "can-view2fa-settings")]
    can_view2fa_settings: bool,
}

/// The user's Gravatar image, as HCP Terraform shows it.
pub fn avatar_url(email: &str) -> String {
    let gravatar = hex::encode(Md5::digest(email.trim().to_lowercase().as_bytes()));
    format!("https://www.gravatar.com/avatar/{gravatar}?s=100&d=mm")
}

/// What only the user themself sees of their account.
#[derive(Debug, Clone, Copy)]
pub struct OwnAccount {
    /// Whether this server lets them create organizations.
    pub may_create_organizations: bool,
}

impl OwnAccount {
    pub async fn of(state: &AppState, user: &User) -> ApiResult<OwnAccount> {
        Ok(OwnAccount {
            may_create_organizations: state.services.may_create_organizations(user).await?,
        })
    }
}

/// A user; with `own` (the caller's own account) their email and permissions.
pub fn resource(
    user: &User,
    own: Option<OwnAccount>,
    state: &AppState,
) -> Resource<UserAttributes> {
    let urls = &state.urls;
    let may_create_organizations = own.is_some_and(|o| o.may_create_organizations);
    let own = own.is_some();
    Resource::new(
        "users",
        &user.id,
        UserAttributes {
            username: user.username.clone(),
            email: own.then(|| user.email.clone()),
            is_service_account: false,
            auth_method: "tfc",
            avatar_url: avatar_url(&user.email),
            v2_only: false,
            is_site_admin: user.is_site_admin,
            is_admin: user.is_site_admin,
            is_sso_login: false,
            two_factor: TwoFactor::OFF,
            permissions: UserPermissions {
                // Whether this server lets them (`--organization-creation`).
                can_create_organizations: may_create_organizations,
                can_change_email: own,
                can_change_username: own,
                can_manage_user_tokens: own,
                // No two-factor authentication on this server.
                can_view_2fa_settings: false,
                can_view2fa_settings: false,
            },
        },
    )
    .relationship(
        "authentication-tokens",
        Relationship::related(urls.api(&format!("/users/{}/authentication-tokens", user.id))),
    )
    .link("self", urls.api(&format!("/users/{}", user.id)))
}

/// The caller's own account, with its email.
#[utoipa::path(get, path = "/account/details", tag = "users",
    responses((status = 200, body = Document<UserAttributes>), (status = 401, body = ErrorDocument)))]
async fn account_details(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<JsonApi<Document<UserAttributes>>> {
    let user = state.services.current_user(&caller)?;
    let own = OwnAccount::of(&state, user).await?;
    Ok(JsonApi::ok(Document::new(resource(
        user,
        Some(own),
        &state,
    ))))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AccountInput {
    username: Option<String>,
    email: Option<String>,
}

/// Changes the caller's username or email.
#[utoipa::path(patch, path = "/account/update", tag = "users",
    request_body(content = Body<AccountInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<UserAttributes>), (status = 422, body = ErrorDocument)))]
async fn account_update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<Body<AccountInput>>,
) -> ApiResult<JsonApi<Document<UserAttributes>>> {
    let (input, _) = body.into_parts("users")?;
    let user = state
        .services
        .update_current_user(&caller, input.username, input.email)
        .await?;
    let own = OwnAccount::of(&state, &user).await?;
    Ok(JsonApi::ok(Document::new(resource(
        &user,
        Some(own),
        &state,
    ))))
}

/// Any user's public profile (no email).
#[utoipa::path(get, path = "/users/{user_id}", tag = "users", params(("user_id" = String, Path)),
    responses((status = 200, body = Document<UserAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<UserAttributes>>> {
    let user = state.services.user(&caller, &id).await?;
    let own = if state.services.current_user(&caller)?.id == user.id {
        Some(OwnAccount::of(&state, &user).await?)
    } else {
        None
    };
    Ok(JsonApi::ok(Document::new(resource(&user, own, &state))))
}
