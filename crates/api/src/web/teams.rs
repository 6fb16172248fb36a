//! An organization's people: its members (invited by email, removed) and its teams (created,
//! their members, what they may do across the organization, deleted). The same domain calls
//! as `/organization-memberships` and `/teams`, so the owners team keeps its protections and
//! secret teams stay hidden from those who may not see them.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Map, Value};
use terrace_auth::policy::{allows, organization_permissions, Action};
use terrace_domain::teams::{TeamChanges, TeamMembers, TeamView};
use terrace_domain::DomainError;
use terrace_storage::model::{MembershipStatus, PageRequest};
use terrace_storage::store::{MembershipFilter, TeamFilter};

use super::{failure, forged_form, form_token_ok, path_segment, redirect, status_for, Session};
use crate::app::AppState;
use crate::jsonapi::RawBody;

/// The organization permissions a team page offers, as `organization-access` names them,
/// with what each lets a team do here (the features Terrace lacks are left out).
const ORGANIZATION_ACCESS: [(&str, &str); 11] = [
    ("read-workspaces", "Read every workspace"),
    ("read-projects", "Read every project"),
    (
        "manage-workspaces",
        "Manage workspaces: create, change and delete any",
    ),
    ("manage-projects", "Manage projects"),
    (
        "manage-membership",
        "Manage members: invite, remove, put on teams",
    ),
    ("manage-teams", "Manage teams"),
    (
        "manage-organization-access",
        "Grant organization permissions to teams",
    ),
    ("access-secret-teams", "See secret teams"),
    ("manage-agent-pools", "Manage agent pools"),
    (
        "manage-providers",
        "Manage the private registry's providers",
    ),
    ("manage-modules", "Manage the private registry's modules"),
];

/// A submitted form's fields, in order (checkboxes are present only when ticked).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Form {
        Form(serde_urlencoded::from_bytes(body).unwrap_or_default())
    }

    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

fn people_path(organization: &str) -> String {
    format!("/app/{}/people", path_segment(organization))
}

fn team_path(organization: &str, team_id: &str) -> String {
    format!(
        "/app/{}/teams/{}",
        path_segment(organization),
        path_segment(team_id)
    )
}

pub async fn people(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
) -> Response {
    people_page(&state, &session, &organization, None).await
}

/// Members and teams; `error` says why the form just sent was refused.
async fn people_page(
    state: &AppState,
    session: &Session,
    organization: &str,
    error: Option<&str>,
) -> Response {
    let services = &state.services;
    let caller = &session.caller;
    let org = match services.organization(caller, organization).await {
        Ok(org) => org,
        Err(err) => return failure(state, err),
    };
    let memberships = match services
        .list_memberships(
            caller,
            organization,
            &MembershipFilter::default(),
            PageRequest::all(),
        )
        .await
    {
        Ok(found) => found.items,
        Err(err) => return failure(state, err),
    };
    let teams = match services
        .list_teams(
            caller,
            organization,
            TeamFilter::default(),
            PageRequest::all(),
        )
        .await
    {
        Ok(found) => found.items,
        Err(err) => return failure(state, err),
    };
    let members: Vec<_> = memberships
        .into_iter()
        .map(|m| {
            minijinja::context! {
                id => m.membership.id,
                username => m.user.map(|u| u.username),
                email => m.membership.email,
                invited => m.membership.status == MembershipStatus::Invited,
                teams => m.teams.into_iter().map(|t| t.name).collect::<Vec<_>>(),
            }
        })
        .collect();
    let teams: Vec<_> = teams.iter().map(team_summary).collect();
    let status = status_for(error);
    let may_org = organization_permissions(org.access);
    state.pages.render(
        status,
        "app/people.html",
        minijinja::context! {
            session => session.view(),
            organization,
            members,
            teams,
            can_manage_members => may_org.can_manage_users,
            can_create_team => may_org.can_create_team,
            error,
        },
    )
}

fn team_summary(view: &TeamView) -> minijinja::Value {
    minijinja::context! {
        id => view.team.id.clone(),
        name => view.team.name.clone(),
        owners => view.team.is_owners,
        secret => view.team.visibility == "secret",
        members => view.users.len(),
    }
}

/// Invites someone by email (a user with that email becomes a member at once).
pub async fn invite(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
    RawBody(body): RawBody,
) -> Response {
    let form = Form::parse(&body);
    if !form_token_ok(&session, form.get("csrf")) {
        return forged_form(&state);
    }
    let result = state
        .services
        .create_membership(&session.caller, &organization, form.get("email"), &[])
        .await
        .map(drop);
    after_people_change(&state, &session, &organization, result).await
}

pub async fn remove_member(
    State(state): State<AppState>,
    session: Session,
    Path((organization, membership_id)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form = Form::parse(&body);
    if !form_token_ok(&session, form.get("csrf")) {
        return forged_form(&state);
    }
    let services = &state.services;
    // Only a membership of this organization, under its own path.
    let result = match services.membership(&session.caller, &membership_id).await {
        Ok(m) if m.organization_name == organization => {
            services
                .delete_membership(&session.caller, &membership_id)
                .await
        }
        Ok(_) => Err(DomainError::NotFound("organization membership")),
        Err(err) => Err(err),
    };
    after_people_change(&state, &session, &organization, result).await
}

pub async fn create_team(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
    RawBody(body): RawBody,
) -> Response {
    let form = Form::parse(&body);
    if !form_token_ok(&session, form.get("csrf")) {
        return forged_form(&state);
    }
    let changes = TeamChanges {
        visibility: Some(visibility(&form)),
        ..TeamChanges::default()
    };
    match state
        .services
        .create_team(&session.caller, &organization, form.get("name"), changes)
        .await
    {
        Ok(view) => redirect(&team_path(&organization, &view.team.id)),
        Err(err) => after_people_change(&state, &session, &organization, Err(err)).await,
    }
}

fn visibility(form: &Form) -> String {
    if form.has("secret") {
        "secret"
    } else {
        "organization"
    }
    .to_string()
}

/// Back to the people page, or the page again saying why the change was refused.
async fn after_people_change(
    state: &AppState,
    session: &Session,
    organization: &str,
    result: Result<(), DomainError>,
) -> Response {
    match result {
        Ok(()) => redirect(&people_path(organization)),
        Err(DomainError::Invalid { detail, .. } | DomainError::Conflict(detail)) => {
            people_page(state, session, organization, Some(&detail)).await
        }
        Err(err) => failure(state, err),
    }
}

/// The team a page's path names, as the caller may see it (another organization's, or a
/// secret team the caller may not see, is not found).
async fn named_team(
    state: &AppState,
    session: &Session,
    organization: &str,
    team_id: &str,
) -> Result<TeamView, DomainError> {
    let view = state.services.team(&session.caller, team_id).await?;
    if view.organization_name != organization {
        return Err(DomainError::NotFound("team"));
    }
    Ok(view)
}

pub async fn team(
    State(state): State<AppState>,
    session: Session,
    Path((organization, team_id)): Path<(String, String)>,
) -> Response {
    team_page(&state, &session, &organization, &team_id, None).await
}

/// One team's page; `error` says why the form just sent was refused.
async fn team_page(
    state: &AppState,
    session: &Session,
    organization: &str,
    team_id: &str,
    error: Option<&str>,
) -> Response {
    let view = match named_team(state, session, organization, team_id).await {
        Ok(view) => view,
        Err(err) => return failure(state, err),
    };
    let access = view.access;
    // The owners team is changed by owners only (the domain's guard; the buttons follow it).
    let owners_guard = !view.team.is_owners || access.owner;
    let can_manage_members = allows(access, Action::ManageMembership) && owners_guard;
    // Active members who are not on the team yet, to add.
    let on_team: Vec<String> = view.users.iter().map(|u| u.username.clone()).collect();
    let candidates: Vec<String> = if can_manage_members {
        let filter = MembershipFilter {
            statuses: vec![MembershipStatus::Active],
            ..MembershipFilter::default()
        };
        match state
            .services
            .list_memberships(&session.caller, organization, &filter, PageRequest::all())
            .await
        {
            Ok(found) => found
                .items
                .into_iter()
                .filter_map(|m| m.user.map(|u| u.username))
                .filter(|name| !on_team.contains(name))
                .collect(),
            Err(err) => return failure(state, err),
        }
    } else {
        Vec::new()
    };
    let granted = serde_json::to_value(view.team.organization_access.0).unwrap_or_default();
    let permissions: Vec<_> = ORGANIZATION_ACCESS
        .iter()
        .map(|(key, label)| {
            minijinja::context! {
                key => *key,
                label => *label,
                granted => granted[*key].as_bool().unwrap_or(false),
            }
        })
        .collect();
    let status = status_for(error);
    state.pages.render(
        status,
        "app/team.html",
        minijinja::context! {
            session => session.view(),
            organization,
            team => minijinja::context! {
                id => view.team.id.clone(),
                name => view.team.name.clone(),
                owners => view.team.is_owners,
                secret => view.team.visibility == "secret",
                allow_member_token_management => view.team.allow_member_token_management,
            },
            members => on_team,
            candidates,
            permissions,
            can_manage_members,
            can_manage_team => allows(access, Action::ManageTeams) && owners_guard,
            can_grant => allows(access, Action::ManageOrganizationAccess) && !view.team.is_owners,
            error,
        },
    )
}

/// Saves a team's settings: its name, visibility and, for those who may grant them, its
/// organization permissions (every offered box: ticked grants it, unticked takes it away).
pub async fn update_team(
    State(state): State<AppState>,
    session: Session,
    Path((organization, team_id)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form = Form::parse(&body);
    if !form_token_ok(&session, form.get("csrf")) {
        return forged_form(&state);
    }
    let view = match named_team(&state, &session, &organization, &team_id).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    // The permissions travel only when the form offered them (`access` marks it).
    let organization_access = form.has("access").then(|| {
        ORGANIZATION_ACCESS
            .iter()
            .map(|(key, _)| (key.to_string(), Value::Bool(form.has(key))))
            .collect::<Map<String, Value>>()
    });
    let changes = TeamChanges {
        name: Some(form.get("name").to_string()),
        visibility: Some(visibility(&form)),
        organization_access,
        allow_member_token_management: Some(form.has("allow_member_token_management")),
        ..TeamChanges::default()
    };
    let result = state
        .services
        .update_team(&session.caller, &view.team.id, changes)
        .await
        .map(drop);
    after_team_change(&state, &session, &organization, &team_id, result).await
}

pub async fn delete_team(
    State(state): State<AppState>,
    session: Session,
    Path((organization, team_id)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form = Form::parse(&body);
    if !form_token_ok(&session, form.get("csrf")) {
        return forged_form(&state);
    }
    if let Err(err) = named_team(&state, &session, &organization, &team_id).await {
        return failure(&state, err);
    }
    match state.services.delete_team(&session.caller, &team_id).await {
        Ok(()) => redirect(&people_path(&organization)),
        Err(err) => after_team_change(&state, &session, &organization, &team_id, Err(err)).await,
    }
}

/// Puts a member on the team or takes one off (`action` `add` or `remove`), by username.
pub async fn members(
    State(state): State<AppState>,
    session: Session,
    Path((organization, team_id, action)): Path<(String, String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form = Form::parse(&body);
    if !form_token_ok(&session, form.get("csrf")) {
        return forged_form(&state);
    }
    if let Err(err) = named_team(&state, &session, &organization, &team_id).await {
        return failure(&state, err);
    }
    let members = TeamMembers::Usernames(vec![form.get("username").to_string()]);
    let services = &state.services;
    let result = match action.as_str() {
        "add" => {
            services
                .add_team_members(&session.caller, &team_id, members)
                .await
        }
        "remove" => {
            services
                .remove_team_members(&session.caller, &team_id, members)
                .await
        }
        _ => Err(DomainError::NotFound("page")),
    };
    after_team_change(&state, &session, &organization, &team_id, result).await
}

/// Back to the team's page, or the page again saying why the change was refused.
async fn after_team_change(
    state: &AppState,
    session: &Session,
    organization: &str,
    team_id: &str,
    result: Result<(), DomainError>,
) -> Response {
    match result {
        Ok(()) => redirect(&team_path(organization, team_id)),
        Err(DomainError::Invalid { detail, .. } | DomainError::Conflict(detail)) => {
            team_page(state, session, organization, team_id, Some(&detail)).await
        }
        Err(err) => failure(state, err),
    }
}
