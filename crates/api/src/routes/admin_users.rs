//! `/admin/users`: TFE's admin users API for site administrators (everyone else gets 404):
//! list with filters, delete, suspend and unsuspend, grant and revoke admin access.
//! Impersonation answers 403: it is disabled on this server.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use terrace_auth::policy::Access;
use terrace_domain::organizations::OrganizationView;
use terrace_domain::site_admin::{AdminUserView, UserAction};
use terrace_storage::model::{Organization, User};
use terrace_storage::store::UserFilter;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{time, Document, JsonApi, ListDocument, Params, Relationship, Resource};
use crate::routes::organizations;
use crate::routes::users::{avatar_url, TwoFactor};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(delete))
        .routes(routes!(action))
        .routes(routes!(impersonate))
        .routes(routes!(unimpersonate))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct AdminUserAttributes {
    username: String,
    email: String,
    avatar_url: String,
    is_admin: bool,
    is_suspended: bool,
    is_service_account: bool,
    two_factor: TwoFactor,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
}

/// A user in the admin shape; `organizations` fills the relationship when known.
pub fn resource(
    user: &User,
    organizations: Option<&[Organization]>,
    urls: &Urls,
) -> Resource<AdminUserAttributes> {
    let resource = Resource::new(
        "users",
        &user.id,
        AdminUserAttributes {
            username: user.username.clone(),
            email: user.email.clone(),
            avatar_url: avatar_url(&user.email),
            is_admin: user.is_site_admin,
            is_suspended: user.is_suspended(),
            is_service_account: false,
            two_factor: TwoFactor::OFF,
            created_at: user.created_at,
        },
    )
    .link("self", urls.api(&format!("/users/{}", user.id)));
    match organizations {
        Some(orgs) => resource.relationship(
            "organizations",
            Relationship::many("organizations", orgs.iter().map(|o| o.name.clone())),
        ),
        None => resource,
    }
}

fn view_resource(view: &AdminUserView, urls: &Urls) -> Resource<AdminUserAttributes> {
    resource(&view.user, Some(&view.organizations), urls)
}

/// The query `GET /admin/users` understands (besides pages).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // a description, never constructed
struct UserQuery {
    /// Case-insensitive substring of the username or email.
    q: Option<String>,
    /// Only site administrators (`true`) or only the others (`false`).
    #[param(rename = "filter[admin]")]
    admin: Option<bool>,
    /// Only suspended users (`true`) or only the others (`false`).
    #[param(rename = "filter[suspended]")]
    suspended: Option<bool>,
    /// `organizations`: the users' organizations.
    include: Option<String>,
}

/// Every user of the server, by username.
#[utoipa::path(get, path = "/admin/users", tag = "admin", params(UserQuery, PageParams),
    responses((status = 200, body = ListDocument<AdminUserAttributes>),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<AdminUserAttributes>>> {
    let filter = UserFilter {
        query: params.get("q").map(str::to_string),
        admin: params.flag("filter[admin]")?,
        suspended: params.flag("filter[suspended]")?,
    };
    let page = params.page()?;
    let found = state
        .services
        .admin_list_users(&caller, &filter, page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|view| view_resource(view, &state.urls))
        .collect();
    let mut included = Vec::new();
    if params.includes().has("organizations") {
        let mut seen = std::collections::BTreeSet::new();
        for org in found.items.iter().flat_map(|view| &view.organizations) {
            if seen.insert(org.id.clone()) {
                // A site administrator owns every organization.
                let view = OrganizationView {
                    organization: org.clone(),
                    access: Access::owner(),
                    data_retention_policy: None,
                };
                included.push(organizations::resource(&view, &state.urls).into_value());
            }
        }
    }
    Ok(JsonApi::ok(
        ListDocument::paginate(data, page, found.total, &state.urls.request(&uri))
            .with_included(included),
    ))
}

/// Deletes the user with their memberships and tokens. Refused (422) for the caller's own
/// account and for the only owner of an organization.
#[utoipa::path(delete, path = "/admin/users/{user_id}", tag = "admin", params(("user_id" = String, Path)),
    responses((status = 204),
        (status = 404, description = "No such user, or the caller is not a site administrator", body = ErrorDocument),
        (status = 422, description = "The user is the caller, or the only owner of an organization", body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.admin_delete_user(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `suspend`, `unsuspend`, `grant_admin`, `revoke_admin` or `disable_two_factor` (which
/// changes nothing: there is no two-factor authentication here). A suspended user's tokens answer
/// 401, their browser sessions end and they cannot sign in; site administrators cannot be
/// suspended, nobody revokes their own admin access, and the last site administrator stays.
#[utoipa::path(post, path = "/admin/users/{user_id}/actions/{action}", tag = "admin",
    params(("user_id" = String, Path),
        ("action" = String, Path, description = "suspend, unsuspend, grant_admin, revoke_admin or disable_two_factor")),
    responses((status = 200, body = Document<AdminUserAttributes>),
        (status = 404, description = "No such user or action, or the caller is not a site administrator", body = ErrorDocument),
        (status = 422, description = "Refused: suspending a site administrator, revoking one's own or the last admin access", body = ErrorDocument)))]
async fn action(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((id, action)): Path<(String, String)>,
) -> ApiResult<JsonApi<Document<AdminUserAttributes>>> {
    let action = match action.as_str() {
        "suspend" => Some(UserAction::Suspend),
        "unsuspend" => Some(UserAction::Unsuspend),
        "grant_admin" => Some(UserAction::GrantAdmin),
        "revoke_admin" => Some(UserAction::RevokeAdmin),
        // Two-factor authentication is never on here: there is nothing to disable.
        "disable_two_factor" => None,
        _ => return Err(ApiError::not_found("no such endpoint")),
    };
    let view = match action {
        Some(action) => {
            state
                .services
                .admin_user_action(&caller, &id, action)
                .await?
        }
        None => state.services.admin_user(&caller, &id).await?,
    };
    Ok(JsonApi::ok(Document::new(view_resource(
        &view,
        &state.urls,
    ))))
}

/// Impersonation is disabled on this server: always 403 for site administrators, whatever
/// the body (TFE's carries a `reason`).
#[utoipa::path(post, path = "/admin/users/{user_id}/actions/impersonate", tag = "admin",
    params(("user_id" = String, Path)),
    responses(
        (status = 403, description = "Impersonation is disabled on this server", body = ErrorDocument),
        (status = 404, description = "No such user, or the caller is not a site administrator", body = ErrorDocument)))]
async fn impersonate(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.admin_impersonate(&caller, Some(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends an impersonation; there never is one here: always 403 for site administrators.
#[utoipa::path(post, path = "/admin/users/actions/unimpersonate", tag = "admin",
    responses(
        (status = 403, description = "Impersonation is disabled on this server", body = ErrorDocument),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument)))]
async fn unimpersonate(State(state): State<AppState>, Auth(caller): Auth) -> ApiResult<StatusCode> {
    state.services.admin_impersonate(&caller, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
