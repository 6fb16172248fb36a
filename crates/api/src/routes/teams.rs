//! Teams: `/organizations/:org/teams`, `/teams/:id`, their members
//! (`/teams/:id/relationships/users` and `.../organization-memberships`) and their token
//! (`/teams/:id/authentication-token`, the described ones created at
//! `/teams/:id/authentication-tokens`, and all of an organization's at
//! `/organizations/:org/team-tokens`).

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use terrace_auth::policy::{Action, Decision, OrganizationAccess};
use terrace_domain::teams::{TeamChanges, TeamMembers, TeamView};
use terrace_domain::DomainError;
use terrace_storage::store::TeamFilter;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::organization_memberships::membership_resource;
use super::tokens::{TokenAttributes, TokenInput};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::body::{nullable, LinkageList};
use crate::jsonapi::query::{Includes, PageParams};
use crate::jsonapi::{
    Body, Document, JsonApi, JsonBody, ListDocument, Params, Relationship, Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
        .routes(routes!(add_users, remove_users))
        .routes(routes!(add_memberships, remove_memberships))
        .routes(routes!(create_token, show_token, delete_token))
        .routes(routes!(create_described_token))
        .routes(routes!(list_tokens))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TeamAttributes {
    name: String,
    /// What the team may do across the organization (absent permissions are false).
    #[schema(value_type = Object)]
    organization_access: OrganizationAccess,
    /// `secret` (seen by its members and team managers) or `organization` (every member).
    visibility: String,
    sso_team_id: Option<String>,
    allow_member_token_management: bool,
    /// Active members.
    users_count: usize,
    permissions: TeamPermissions,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TeamPermissions {
    can_update_membership: bool,
    can_destroy: bool,
    can_update_organization_access: bool,
    can_update_api_token: bool,
    can_update_visibility: bool,
    can_update_name: bool,
}

pub(crate) fn resource(view: &TeamView, urls: &Urls) -> Resource<TeamAttributes> {
    let can = |action| terrace_auth::policy::decide(view.access, action) == Decision::Allow;
    let team = &view.team;
    // Only owners change the owners team (see `ReachedTeam::guard_owners`).
    let owners_guard = !team.is_owners || view.access.owner;
    let manage = can(Action::ManageTeams) && owners_guard;
    Resource::new(
        "teams",
        &team.id,
        TeamAttributes {
            name: team.name.clone(),
            organization_access: team.organization_access.0,
            visibility: team.visibility.clone(),
            sso_team_id: team.sso_team_id.clone(),
            allow_member_token_management: team.allow_member_token_management,
            users_count: view.users.len(),
            permissions: TeamPermissions {
                can_update_membership: can(Action::ManageMembership) && owners_guard,
                can_destroy: manage && !team.is_owners,
                can_update_organization_access: manage
                    && can(Action::ManageOrganizationAccess)
                    && !team.is_owners,
                can_update_api_token: view.can_manage_token(),
                can_update_visibility: manage,
                can_update_name: manage && !team.is_owners,
            },
        },
    )
    .relationship(
        "organization",
        Relationship::one("organizations", &view.organization_name)
            .with_related(urls.api(&format!("/organizations/{}", view.organization_name))),
    )
    .relationship(
        "users",
        Relationship::many("users", view.users.iter().map(|u| u.id.clone())),
    )
    .relationship(
        "organization-memberships",
        Relationship::many(
            "organization-memberships",
            view.memberships.iter().map(|m| m.id.clone()),
        ),
    )
    .relationship(
        "authentication-token",
        Relationship::related(urls.api(&format!("/teams/{}/authentication-token", team.id))),
    )
    .link("self", urls.api(&format!("/teams/{}", team.id)))
}

/// `include=users,organization-memberships`.
fn included(views: &[&TeamView], includes: &Includes, state: &AppState) -> Vec<Value> {
    let urls = &state.urls;
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for view in views {
        if includes.has("users") {
            for user in &view.users {
                if seen.insert(user.id.clone()) {
                    out.push(super::users::resource(user, None, state).into_value());
                }
            }
        }
        if includes.has("organization_memberships") {
            for m in &view.memberships {
                if seen.insert(m.id.clone()) {
                    out.push(
                        membership_resource(m, &view.organization_name, None, urls).into_value(),
                    );
                }
            }
        }
    }
    out
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TeamInput {
    name: Option<String>,
    visibility: Option<String>,
    /// The permissions to change; those left out keep their value (false on create).
    #[schema(value_type = Option<Object>)]
    organization_access: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    sso_team_id: Option<Option<String>>,
    allow_member_token_management: Option<bool>,
}

impl TeamInput {
    fn changes(self) -> (Option<String>, TeamChanges) {
        (
            self.name.clone(),
            TeamChanges {
                name: self.name,
                visibility: self.visibility,
                organization_access: self.organization_access,
                sso_team_id: self.sso_team_id,
                allow_member_token_management: self.allow_member_token_management,
            },
        )
    }
}

/// Teams of an organization the caller sees: `organization` teams, its own, and secret
/// ones for those allowed to see them. `filter[names]` matches exact names, `q` a substring.
#[utoipa::path(get, path = "/organizations/{organization}/teams", tag = "teams",
    params(("organization" = String, Path), ("filter[names]" = Option<String>, Query), ("q" = Option<String>, Query),
        ("include" = Option<String>, Query, description = "users, organization-memberships"), PageParams),
    responses((status = 200, body = ListDocument<TeamAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<TeamAttributes>>> {
    let filter = TeamFilter {
        names: params.list("filter[names]"),
        query: params.get("q").map(str::to_string),
        ..Default::default()
    };
    let page = params.page()?;
    let found = state
        .services
        .list_teams(&caller, &org, filter, page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|v| resource(v, &state.urls))
        .collect();
    let views: Vec<&TeamView> = found.items.iter().collect();
    let included = included(&views, &params.includes(), &state);
    Ok(JsonApi::ok(
        ListDocument::paginate(data, page, found.total, &state.urls.request(&uri))
            .with_included(included),
    ))
}

/// Creates a team (team managers). Names are unique in the organization.
#[utoipa::path(post, path = "/organizations/{organization}/teams", tag = "teams",
    params(("organization" = String, Path)),
    request_body(content = Body<TeamInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<TeamAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<Body<TeamInput>>,
) -> ApiResult<JsonApi<Document<TeamAttributes>>> {
    let (input, _) = body.into_parts("teams")?;
    let (name, changes) = input.changes();
    let name =
        name.ok_or_else(|| ApiError::invalid("/data/attributes/name", "name is required"))?;
    let view = state
        .services
        .create_team(&caller, &org, &name, changes)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &view,
        &state.urls,
    ))))
}

#[utoipa::path(get, path = "/teams/{team_id}", tag = "teams",
    params(("team_id" = String, Path), ("include" = Option<String>, Query, description = "users, organization-memberships")),
    responses((status = 200, body = Document<TeamAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<Document<TeamAttributes>>> {
    let view = state.services.team(&caller, &id).await?;
    let included = included(&[&view], &params.includes(), &state);
    Ok(JsonApi::ok(
        Document::new(resource(&view, &state.urls)).with_included(included),
    ))
}

/// Changes a team (team managers). The owners team keeps its name and permissions.
#[utoipa::path(patch, path = "/teams/{team_id}", tag = "teams", params(("team_id" = String, Path)),
    request_body(content = Body<TeamInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<TeamAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Body<TeamInput>>,
) -> ApiResult<JsonApi<Document<TeamAttributes>>> {
    let (input, _) = body.into_parts("teams")?;
    let view = state
        .services
        .update_team(&caller, &id, input.changes().1)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Deletes a team and its token (team managers); never the owners team (422).
#[utoipa::path(delete, path = "/teams/{team_id}", tag = "teams", params(("team_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.delete_team(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The IDs of a member list, all of type `kind`.
fn member_ids(body: &LinkageList, kind: &str) -> ApiResult<Vec<String>> {
    body.data
        .iter()
        .map(|item| match (item.kind.as_deref(), &item.id) {
            (None | Some(""), Some(id)) => Ok(id.clone()),
            (Some(k), Some(id)) if k == kind => Ok(id.clone()),
            _ => Err(ApiError::invalid(
                "/data",
                format!("each member is {{\"type\": \"{kind}\", \"id\": ...}}"),
            )),
        })
        .collect()
}

async fn change_members(
    state: &AppState,
    caller: &terrace_domain::Caller,
    team_id: &str,
    members: TeamMembers,
    add: bool,
) -> ApiResult<StatusCode> {
    if add {
        state
            .services
            .add_team_members(caller, team_id, members)
            .await?;
    } else {
        state
            .services
            .remove_team_members(caller, team_id, members)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Puts organization members on the team, by username (membership managers). Users who
/// are not members are refused (422): invite them through organization-memberships.
#[utoipa::path(post, path = "/teams/{team_id}/relationships/users", tag = "teams",
    params(("team_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn add_users(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<StatusCode> {
    let names = member_ids(&body, "users")?;
    change_members(&state, &caller, &id, TeamMembers::Usernames(names), true).await
}

/// Takes users off the team, by username; the owners team keeps at least one (422).
#[utoipa::path(delete, path = "/teams/{team_id}/relationships/users", tag = "teams",
    params(("team_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn remove_users(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<StatusCode> {
    let names = member_ids(&body, "users")?;
    change_members(&state, &caller, &id, TeamMembers::Usernames(names), false).await
}

/// Puts memberships (invitations included) of the team's organization on the team.
#[utoipa::path(post, path = "/teams/{team_id}/relationships/organization-memberships", tag = "teams",
    params(("team_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn add_memberships(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<StatusCode> {
    let ids = member_ids(&body, "organization-memberships")?;
    change_members(&state, &caller, &id, TeamMembers::Memberships(ids), true).await
}

/// Takes memberships off the team; the owners team keeps at least one active member (422).
#[utoipa::path(delete, path = "/teams/{team_id}/relationships/organization-memberships", tag = "teams",
    params(("team_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn remove_memberships(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<StatusCode> {
    let ids = member_ids(&body, "organization-memberships")?;
    change_members(&state, &caller, &id, TeamMembers::Memberships(ids), false).await
}

/// Generates the team's undescribed token, replacing (and revoking) the one it had; its
/// described tokens stay. The response carries the secret, once. Team managers, or members
/// when the team allows it.
#[utoipa::path(post, path = "/teams/{team_id}/authentication-token", tag = "teams",
    params(("team_id" = String, Path)),
    request_body(content = Body<TokenInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<TokenAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, description = "A description (described tokens are created at authentication-tokens) or a bad expiry", body = ErrorDocument)))]
async fn create_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Body<TokenInput>>,
) -> ApiResult<JsonApi<Document<TokenAttributes>>> {
    let (input, _) = body.into_parts("authentication-tokens")?;
    if input.description.is_some() {
        return Err(ApiError::invalid(
            "/data/attributes/description",
            "this is the team's undescribed token; create a described one with \
             POST /teams/:id/authentication-tokens",
        ));
    }
    let (token, secret) = state
        .services
        .generate_team_token(&caller, &id, input.expired_at)
        .await?;
    Ok(token_created(&state, token, secret))
}

/// Creates one more token for the team, with a description no other token of the team
/// has; the team's other tokens stay. The response carries the secret, once.
#[utoipa::path(post, path = "/teams/{team_id}/authentication-tokens", tag = "teams",
    params(("team_id" = String, Path)),
    request_body(content = Body<TokenInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<TokenAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, description = "No description, one the team already has, or a bad expiry", body = ErrorDocument)))]
async fn create_described_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Body<TokenInput>>,
) -> ApiResult<JsonApi<Document<TokenAttributes>>> {
    let (input, _) = body.into_parts("authentication-tokens")?;
    let Some(description) = input.description else {
        return Err(ApiError::invalid(
            "/data/attributes/description",
            "a described token needs a description",
        ));
    };
    let (token, secret) = state
        .services
        .create_described_team_token(&caller, &id, description, input.expired_at)
        .await
        .map_err(|err| match err {
            // TFE words a taken description as a record that failed validation, and clients
            // match that text (go-tfe's ErrInvalidDescriptionConflict).
            DomainError::Invalid {
                pointer: Some(pointer),
                detail,
            } if pointer.ends_with("/description") => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid attributes",
                format!("Validation failed: {detail}"),
            ),
            other => other.into(),
        })?;
    Ok(token_created(&state, token, secret))
}

fn token_created(
    state: &AppState,
    token: terrace_storage::model::Token,
    secret: String,
) -> JsonApi<Document<TokenAttributes>> {
    JsonApi::created(Document::new(super::tokens::resource(
        &token,
        Some(secret),
        &state.urls,
    )))
}

/// The team's token, without its secret; 404 when it has none.
#[utoipa::path(get, path = "/teams/{team_id}/authentication-token", tag = "teams",
    params(("team_id" = String, Path)),
    responses((status = 200, body = Document<TokenAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn show_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<TokenAttributes>>> {
    let token = state.services.team_token(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(super::tokens::resource(
        &token,
        None,
        &state.urls,
    ))))
}

/// Revokes the team's token; 404 when it has none.
#[utoipa::path(delete, path = "/teams/{team_id}/authentication-token", tag = "teams",
    params(("team_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.delete_team_token(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tokens of the organization's teams, without secrets (team managers). `q` keeps teams
/// whose name contains it; `sort` is `team-name`, `created-by`, `expired-at` or
/// `last-used-at`, `-` first for descending.
#[utoipa::path(get, path = "/organizations/{organization}/team-tokens", tag = "teams",
    params(("organization" = String, Path), ("q" = Option<String>, Query), ("sort" = Option<String>, Query), PageParams),
    responses((status = 200, body = ListDocument<TokenAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn list_tokens(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<TokenAttributes>>> {
    let page = params.page()?;
    let tokens = state
        .services
        .list_team_tokens(&caller, &org, params.get("q"), params.get("sort"))
        .await?;
    let total = tokens.len() as u64;
    let data = tokens
        .iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(page.size as usize)
        .map(|t| super::tokens::resource(t, None, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        total,
        &state.urls.request(&uri),
    )))
}
