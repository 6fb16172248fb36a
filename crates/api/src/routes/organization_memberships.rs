//! Organization memberships: `/organizations/:org/organization-memberships`,
//! `/organization-memberships/:id` and the caller's own, `/organization-memberships`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use terrace_domain::memberships::MembershipView;
use terrace_storage::model::{OrganizationMembership, Team};
use terrace_storage::store::MembershipFilter;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::{Includes, PageParams};
use crate::jsonapi::{
    Body, Document, JsonApi, JsonBody, ListDocument, Params, Relationship, RelationshipMany,
    Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, delete))
        .routes(routes!(list_own))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct MembershipAttributes {
    /// `invited` until a user with the email exists and signs in, then `active`.
    status: &'static str,
    email: String,
}

/// The user an invitation stands for before it has an account: clients expect a `user` on
/// every membership (HCP Terraform makes an unconfirmed user), so an invitation names one
/// derived from the membership, which no other resource has.
fn invited_user_id(membership_id: &str) -> String {
    format!(
        "user-invited-{}",
        membership_id
            .trim_start_matches(terrace_storage::ids::MEMBERSHIP)
            .trim_start_matches('-')
    )
}

/// A membership; its `teams` relationship only when `teams` is given (the teams it is on
/// that the caller sees).
pub(crate) fn membership_resource(
    m: &OrganizationMembership,
    organization_name: &str,
    teams: Option<&[Team]>,
    urls: &Urls,
) -> Resource<MembershipAttributes> {
    let user_id = m.user_id.clone().unwrap_or_else(|| invited_user_id(&m.id));
    let mut resource = Resource::new(
        "organization-memberships",
        &m.id,
        MembershipAttributes {
            status: m.status.as_str(),
            email: m.email.clone(),
        },
    )
    .relationship("user", Relationship::one("users", user_id))
    .relationship(
        "organization",
        Relationship::one("organizations", organization_name)
            .with_related(urls.api(&format!("/organizations/{organization_name}"))),
    );
    if let Some(teams) = teams {
        resource = resource.relationship(
            "teams",
            Relationship::many("teams", teams.iter().map(|t| t.id.clone())),
        );
    }
    resource.link(
        "self",
        urls.api(&format!("/organization-memberships/{}", m.id)),
    )
}

fn resource(view: &MembershipView, urls: &Urls) -> Resource<MembershipAttributes> {
    membership_resource(
        &view.membership,
        &view.organization_name,
        Some(&view.teams),
        urls,
    )
}

/// What `include` may name on memberships.
const INCLUDES: &[&str] = &["user", "teams"];

/// `include=user,teams` (a user only once it has an account).
fn included(views: &[MembershipView], includes: &Includes, state: &AppState) -> Vec<Value> {
    let urls = &state.urls;
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for view in views {
        if includes.has("user") {
            if let Some(user) = &view.user {
                if seen.insert(user.id.clone()) {
                    out.push(super::users::resource(user, None, state).into_value());
                }
            }
        }
        if includes.has("teams") {
            for team in &view.teams {
                if seen.insert(team.id.clone()) {
                    out.push(team_stub(team, &view.organization_name, urls));
                }
            }
        }
    }
    out
}

/// A team as included with a membership: its name and visibility.
fn team_stub(team: &Team, organization_name: &str, urls: &Urls) -> Value {
    #[derive(Serialize)]
    struct Attributes<'a> {
        name: &'a str,
        visibility: &'a str,
    }
    Resource::new(
        "teams",
        &team.id,
        Attributes {
            name: &team.name,
            visibility: &team.visibility,
        },
    )
    .relationship(
        "organization",
        Relationship::one("organizations", organization_name),
    )
    .link("self", urls.api(&format!("/teams/{}", team.id)))
    .into_value()
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MembershipInput {
    email: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MembershipRelationships {
    /// Teams of the organization to put the new member on.
    #[serde(default)]
    teams: Option<RelationshipMany>,
}

/// An organization's memberships and invitations (every member may read them). `q` matches
/// email or username, `filter[status]` is `invited` or `active`, `filter[email]` lists
/// whole emails.
#[utoipa::path(get, path = "/organizations/{organization}/organization-memberships", tag = "organization-memberships",
    params(("organization" = String, Path), ("q" = Option<String>, Query), ("filter[status]" = Option<String>, Query), ("filter[email]" = Option<String>, Query),
        ("include" = Option<String>, Query, description = "user, teams"), PageParams),
    responses((status = 200, body = ListDocument<MembershipAttributes>), (status = 400, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<MembershipAttributes>>> {
    let includes = params.includes_of(INCLUDES)?;
    let filter = MembershipFilter {
        query: params.get("q").map(str::to_string),
        statuses: params.parsed_list("filter[status]")?,
        emails: params.list("filter[email]"),
    };
    let page = params.page()?;
    let found = state
        .services
        .list_memberships(&caller, &org, &filter, page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|v| resource(v, &state.urls))
        .collect();
    let included = included(&found.items, &includes, &state);
    Ok(JsonApi::ok(
        ListDocument::paginate(data, page, found.total, &state.urls.request(&uri))
            .with_included(included),
    ))
}

/// Adds a member by email (membership managers): active at once when a user has that
/// email, invited otherwise. The response includes the user.
#[utoipa::path(post, path = "/organizations/{organization}/organization-memberships", tag = "organization-memberships",
    params(("organization" = String, Path)),
    request_body(content = Body<MembershipInput, MembershipRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<MembershipAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<Body<MembershipInput, MembershipRelationships>>,
) -> ApiResult<JsonApi<Document<MembershipAttributes>>> {
    let (input, relationships) = body.into_parts("organization-memberships")?;
    let email = input
        .email
        .ok_or_else(|| ApiError::invalid("/data/attributes/email", "email is required"))?;
    let teams = relationships.teams.map(|t| t.ids()).unwrap_or_default();
    let view = state
        .services
        .create_membership(&caller, &org, &email, &teams)
        .await?;
    let included = included(
        std::slice::from_ref(&view),
        &Includes::of(&["user"]),
        &state,
    );
    Ok(JsonApi::created(
        Document::new(resource(&view, &state.urls)).with_included(included),
    ))
}

#[utoipa::path(get, path = "/organization-memberships/{membership_id}", tag = "organization-memberships",
    params(("membership_id" = String, Path), ("include" = Option<String>, Query, description = "user, teams")),
    responses((status = 200, body = Document<MembershipAttributes>), (status = 400, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<Document<MembershipAttributes>>> {
    let includes = params.includes_of(INCLUDES)?;
    let view = state.services.membership(&caller, &id).await?;
    let included = included(std::slice::from_ref(&view), &includes, &state);
    Ok(JsonApi::ok(
        Document::new(resource(&view, &state.urls)).with_included(included),
    ))
}

/// Removes a member or withdraws an invitation (membership managers), taking it off every
/// team; the organization's last owner cannot be removed (422).
#[utoipa::path(delete, path = "/organization-memberships/{membership_id}", tag = "organization-memberships",
    params(("membership_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.delete_membership(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own memberships, in every organization.
#[utoipa::path(get, path = "/organization-memberships", tag = "organization-memberships",
    params(("include" = Option<String>, Query, description = "user, teams")),
    responses((status = 200, body = ListDocument<MembershipAttributes>), (status = 403, body = ErrorDocument)))]
async fn list_own(
    State(state): State<AppState>,
    Auth(caller): Auth,
    params: Params,
) -> ApiResult<JsonApi<ListDocument<MembershipAttributes>>> {
    let includes = params.includes_of(INCLUDES)?;
    let views = state.services.own_memberships(&caller).await?;
    let data = views.iter().map(|v| resource(v, &state.urls)).collect();
    let included = included(&views, &includes, &state);
    Ok(JsonApi::ok(ListDocument::all(data).with_included(included)))
}
