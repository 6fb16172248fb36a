//! `/admin/organizations`: TFE's admin organizations API for site administrators (everyone
//! else gets 404): every organization with its owners, one by name, deletion. TFE's admin
//! settings of an organization (disabling it, beta tools) do not exist here: an update
//! accepts only the values that describe the organization as it is, and Terrace's
//! `follows-site-sso-groups` (whether the site identity provider's groups fill its teams).

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_domain::site_admin::{AdminOrganizationChanges, AdminOrganizationView};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::body::parse_json;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{
    time, Body, Document, JsonApi, ListDocument, Params, RawBody, Relationship, Resource,
};
use crate::routes::admin_users;
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show, update, delete))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct AdminOrganizationAttributes {
    name: String,
    external_id: String,
    notification_email: String,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    /// Organizations are never disabled here.
    is_disabled: bool,
    access_beta_tools: bool,
    sso_enabled: bool,
    /// Terrace: the site identity provider's groups fill this organization's teams
    /// (`sso-team-id`). On for organizations a site administrator created.
    follows_site_sso_groups: bool,
    global_module_sharing: bool,
    /// No limit.
    #[schema(value_type = Option<u64>)]
    workspace_limit: Option<()>,
}

fn resource(view: &AdminOrganizationView, urls: &Urls) -> Resource<AdminOrganizationAttributes> {
    let org = &view.organization;
    Resource::new(
        "organizations",
        &org.name,
        AdminOrganizationAttributes {
            name: org.name.clone(),
            external_id: org.id.clone(),
            notification_email: org.email.clone(),
            created_at: org.created_at,
            is_disabled: false,
            access_beta_tools: false,
            sso_enabled: false,
            follows_site_sso_groups: org.follows_site_sso_groups,
            global_module_sharing: false,
            workspace_limit: None,
        },
    )
    .relationship(
        "owners",
        Relationship::many("users", view.owners.iter().map(|u| u.id.clone())),
    )
    .link("self", urls.api(&format!("/organizations/{}", org.name)))
}

/// The owners, for `include=owners`.
fn included(
    views: &[&AdminOrganizationView],
    params: &Params,
    urls: &Urls,
) -> Vec<serde_json::Value> {
    if !params.includes().has("owners") {
        return Vec::new();
    }
    let mut seen = std::collections::BTreeSet::new();
    views
        .iter()
        .flat_map(|view| &view.owners)
        .filter(|user| seen.insert(user.id.clone()))
        .map(|user| admin_users::resource(user, None, urls).into_value())
        .collect()
}

/// The query `GET /admin/organizations` understands (besides pages).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // a description, never constructed
struct OrganizationQuery {
    /// Case-insensitive substring of the name or the notification email.
    q: Option<String>,
    /// `owners`: the members of each organization's owners team.
    include: Option<String>,
}

/// Every organization of the server, by name.
#[utoipa::path(get, path = "/admin/organizations", tag = "admin", params(OrganizationQuery, PageParams),
    responses((status = 200, body = ListDocument<AdminOrganizationAttributes>),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<AdminOrganizationAttributes>>> {
    let page = params.page()?;
    let found = state
        .services
        .admin_list_organizations(&caller, params.get("q"), page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|view| resource(view, &state.urls))
        .collect();
    let views: Vec<&AdminOrganizationView> = found.items.iter().collect();
    Ok(JsonApi::ok(
        ListDocument::paginate(data, page, found.total, &state.urls.request(&uri))
            .with_included(included(&views, &params, &state.urls)),
    ))
}

#[utoipa::path(get, path = "/admin/organizations/{organization}", tag = "admin",
    params(("organization" = String, Path),
        ("include" = Option<String>, Query, description = "`owners`: the members of the owners team")),
    responses((status = 200, body = Document<AdminOrganizationAttributes>),
        (status = 404, description = "No such organization, or the caller is not a site administrator", body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<Document<AdminOrganizationAttributes>>> {
    let view = state.services.admin_organization(&caller, &name).await?;
    Ok(JsonApi::ok(
        Document::new(resource(&view, &state.urls)).with_included(included(
            &[&view],
            &params,
            &state.urls,
        )),
    ))
}

/// TFE's admin settings as an update accepts them.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct AdminOrganizationInput {
    /// Only `false`: organizations cannot be disabled here.
    is_disabled: Option<bool>,
    /// Only `false`: there are no beta tools here.
    access_beta_tools: Option<bool>,
    /// Terrace: whether the site identity provider's groups fill this organization's teams.
    follows_site_sso_groups: Option<bool>,
}

/// Accepts TFE's admin settings only as they are (`is-disabled` and `access-beta-tools`
/// false); anything else is 422. The body is read after the caller is known to be a site
/// administrator, so everyone else gets 404 whatever they send.
#[utoipa::path(patch, path = "/admin/organizations/{organization}", tag = "admin",
    params(("organization" = String, Path)),
    request_body(content = Body<AdminOrganizationInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<AdminOrganizationAttributes>),
        (status = 404, description = "No such organization, or the caller is not a site administrator", body = ErrorDocument),
        (status = 422, description = "A setting this server does not have", body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult<JsonApi<Document<AdminOrganizationAttributes>>> {
    state.services.admin_organization(&caller, &name).await?;
    let (input, _) =
        parse_json::<Body<AdminOrganizationInput>>(&body)?.into_parts("organizations")?;
    let view = state
        .services
        .admin_update_organization(
            &caller,
            &name,
            AdminOrganizationChanges {
                is_disabled: input.is_disabled,
                access_beta_tools: input.access_beta_tools,
                follows_site_sso_groups: input.follows_site_sso_groups,
            },
        )
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Deletes the organization with all its workspaces and state.
#[utoipa::path(delete, path = "/admin/organizations/{organization}", tag = "admin",
    params(("organization" = String, Path)),
    responses((status = 204),
        (status = 404, description = "No such organization, or the caller is not a site administrator", body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .admin_delete_organization(&caller, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
