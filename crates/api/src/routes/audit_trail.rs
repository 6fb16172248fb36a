//! The audit trail in HCP Terraform's shape, which is not JSON:API: `{"data": [events],
//! "pagination": {...}}`. `/organization/audit-trail` is HCP Terraform's endpoint (read with
//! an organization token); owners read theirs by name, site administrators the site events.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use terrace_domain::audit::{AuditQuery, AuditScope};
use terrace_storage::model::{AuditEvent, PageRequest};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::{time, Params};

/// HCP Terraform answers 1000 events per page unless asked otherwise.
const DEFAULT_PAGE_SIZE: u32 = 1000;
const MAX_PAGE_SIZE: u32 = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token_organization_trail))
        .routes(routes!(organization_trail))
        .routes(routes!(site_trail))
}

/// The query of every audit trail listing.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // a description, never constructed
pub struct AuditTrailParams {
    /// Only events after this instant (ISO 8601, e.g. `2026-05-30T17:52:46.000Z`).
    since: Option<DateTime<Utc>>,
    /// Only events before this instant (ISO 8601).
    until: Option<DateTime<Utc>>,
    /// Page number, from 1.
    #[param(rename = "page[number]", value_type = Option<u64>, maximum = 4294967295.0)]
    number: Option<u32>,
    /// Events per page: 1000 by default, at most 1000.
    #[param(rename = "page[size]", value_type = Option<u64>, maximum = 4294967295.0)]
    size: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditTrailList {
    data: Vec<AuditTrailEvent>,
    pagination: AuditTrailPagination,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditTrailPagination {
    current_page: u32,
    prev_page: Option<u32>,
    next_page: Option<u32>,
    total_pages: u64,
    total_count: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditTrailEvent {
    id: String,
    /// The schema version of the event ("0").
    version: String,
    /// `Resource` for changes, `Authentication` for sign-ins, sign-outs and token use.
    #[serde(rename = "type")]
    kind: String,
    timestamp: String,
    auth: AuditTrailAuth,
    request: AuditTrailRequest,
    resource: AuditTrailResource,
}

/// Who acted.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditTrailAuth {
    /// The user, team, organization, agent pool or job.
    accessor_id: Option<String>,
    /// The username (for a failed sign-in, the one tried).
    description: Option<String>,
    /// `user`, `team`, `organization`, `agent`, `job`, `system` or `anonymous`.
    #[serde(rename = "type")]
    kind: String,
    /// Always null: nobody acts as someone else here.
    impersonator_id: Option<String>,
    organization_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditTrailRequest {
    /// Always null: requests carry no ID of their own yet.
    id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditTrailResource {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    /// `create`, `update`, `delete`, an action's name (`lock`, `apply`), `sign-in`, ...
    action: String,
    meta: AuditTrailMeta,
}

/// The request behind the event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditTrailMeta {
    /// The method and route template (`PATCH /api/v2/workspaces/:workspace_id`).
    route: Option<String>,
    /// The HTTP status the request was answered with.
    status: i32,
    /// The API token's ID (never its secret).
    token_id: Option<String>,
    client_address: Option<String>,
    /// Why a single sign-on was refused (`signature`, `expired`, `replayed`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

const AUTHENTICATION: &[&str] = &[
    "sign-in",
    "sign-in-failed",
    "sso-sign-in",
    "sso-sign-in-failed",
    "sign-out",
    "consent",
    "token-used",
];

fn event(e: AuditEvent) -> AuditTrailEvent {
    let kind = if AUTHENTICATION.contains(&e.action.as_str()) {
        "Authentication"
    } else {
        "Resource"
    };
    AuditTrailEvent {
        id: e.id,
        version: "0".into(),
        kind: kind.into(),
        timestamp: time::format(&e.occurred_at),
        auth: AuditTrailAuth {
            accessor_id: e.actor_id,
            description: e.actor_name,
            kind: e.actor_kind,
            impersonator_id: None,
            organization_id: e.organization_id,
        },
        request: AuditTrailRequest { id: None },
        resource: AuditTrailResource {
            id: e.resource_id,
            kind: e.resource_type,
            action: e.action,
            meta: AuditTrailMeta {
                route: e.route,
                status: e.status,
                token_id: e.token_id,
                client_address: e.client_address,
                reason: e.reason,
            },
        },
    }
}

/// `since` or `until`; present but empty is wrong, not unset (the document says date-time).
fn instant(params: &Params, key: &str) -> ApiResult<Option<DateTime<Utc>>> {
    params
        .raw(key)
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::bad_request(format!(
                        "{key} must be an ISO 8601 time such as 2026-05-30T17:52:46.000Z, got {v:?}"
                    ))
                })
        })
        .transpose()
}

async fn list(
    state: &AppState,
    caller: &terrace_domain::Caller,
    scope: AuditScope,
    params: &Params,
) -> ApiResult<Json<AuditTrailList>> {
    let page = PageRequest {
        number: params.number("page[number]")?.unwrap_or(1).max(1),
        size: params
            .number("page[size]")?
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE),
    };
    let query = AuditQuery {
        since: instant(params, "since")?,
        until: instant(params, "until")?,
        page,
    };
    let found = state.services.audit_trail(caller, scope, query).await?;
    let total_pages = found.total.div_ceil(u64::from(page.size)).max(1);
    Ok(Json(AuditTrailList {
        data: found.items.into_iter().map(event).collect(),
        pagination: AuditTrailPagination {
            current_page: page.number,
            prev_page: (page.number > 1).then(|| page.number - 1),
            next_page: (u64::from(page.number) < total_pages).then(|| page.number + 1),
            total_pages,
            total_count: found.total,
        },
    }))
}

/// The audit trail of the organization whose organization token makes the request (HCP
/// Terraform's endpoint); any other token gets 404.
#[utoipa::path(get, path = "/organization/audit-trail", tag = "audit-trail",
    params(AuditTrailParams),
    responses((status = 200, body = AuditTrailList, content_type = "application/json"),
        (status = 404, description = "Not an organization token", body = ErrorDocument)))]
async fn token_organization_trail(
    State(state): State<AppState>,
    Auth(caller): Auth,
    params: Params,
) -> ApiResult<Json<AuditTrailList>> {
    list(&state, &caller, AuditScope::TokenOrganization, &params).await
}

/// An organization's audit trail, for its owners and its organization token.
#[utoipa::path(get, path = "/organizations/{organization}/audit-trail", tag = "audit-trail",
    params(("organization" = String, Path), AuditTrailParams),
    responses((status = 200, body = AuditTrailList, content_type = "application/json"),
        (status = 403, description = "A member who is not an owner", body = ErrorDocument),
        (status = 404, body = ErrorDocument)))]
async fn organization_trail(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(organization): Path<String>,
    params: Params,
) -> ApiResult<Json<AuditTrailList>> {
    list(
        &state,
        &caller,
        AuditScope::Organization(organization),
        &params,
    )
    .await
}

/// Events of no organization (sign-ins, user tokens), for site administrators.
#[utoipa::path(get, path = "/admin/audit-trail", tag = "audit-trail",
    params(AuditTrailParams),
    responses((status = 200, body = AuditTrailList, content_type = "application/json"),
        (status = 404, description = "Not a site administrator", body = ErrorDocument)))]
async fn site_trail(
    State(state): State<AppState>,
    Auth(caller): Auth,
    params: Params,
) -> ApiResult<Json<AuditTrailList>> {
    list(&state, &caller, AuditScope::Site, &params).await
}
