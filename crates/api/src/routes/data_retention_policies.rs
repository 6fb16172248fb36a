//! Data retention policies (Terraform Enterprise's) of organizations and workspaces:
//! `/organizations/:name/relationships/data-retention-policy` and
//! `/workspaces/:id/relationships/data-retention-policy`. A policy is one of two resource
//! types: `data-retention-policy-delete-olders` (with `delete-older-than-n-days`) and
//! `data-retention-policy-dont-deletes`. The rules and the sweep that enforces them are in
//! `terrace_domain::retention`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use terrace_domain::retention::{PolicyOwner, RetentionChoice};
use terrace_storage::model::{DataRetentionKind, DataRetentionPolicy};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::{Body, JsonApi, JsonBody, Relationship, Resource};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            show_for_organization,
            set_for_organization,
            delete_for_organization
        ))
        .routes(routes!(
            show_for_workspace,
            set_for_workspace,
            delete_for_workspace
        ))
}

pub const DELETE_OLDER: &str = "data-retention-policy-delete-olders";
pub const DONT_DELETE: &str = "data-retention-policy-dont-deletes";
/// The type of TFE v202311-1 and v202312-1, which only had "delete older".
const LEGACY: &str = "data-retention-policies";

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct PolicyAttributes {
    /// Only for `data-retention-policy-delete-olders`.
    #[serde(skip_serializing_if = "Option::is_none")]
    delete_older_than_n_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct PolicyInput {
    /// Required with `data-retention-policy-delete-olders`: from 1 to 36500.
    #[serde(default)]
    delete_older_than_n_days: Option<i64>,
}

/// `{"data": policy}`, or `{"data": null}` when none is set (named `Document...` so the
/// document labels it JSON:API, see `openapi::relabel_json_api`).
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentOrNullPolicy {
    data: Option<Resource<PolicyAttributes>>,
}

fn kind_name(kind: DataRetentionKind) -> &'static str {
    match kind {
        DataRetentionKind::DeleteOlder => DELETE_OLDER,
        DataRetentionKind::DontDelete => DONT_DELETE,
    }
}

pub fn resource(policy: &DataRetentionPolicy) -> Resource<PolicyAttributes> {
    Resource::new(
        kind_name(policy.kind),
        &policy.id,
        PolicyAttributes {
            delete_older_than_n_days: policy.delete_older_than_n_days,
        },
    )
}

/// The `data-retention-policy` relationship of an organization or workspace: left out when
/// the view did not look it up.
pub fn relationship(lookup: &Option<Option<DataRetentionPolicy>>) -> Option<Relationship> {
    lookup.as_ref().map(|policy| match policy {
        Some(p) => Relationship::one(kind_name(p.kind), &p.id),
        None => Relationship::null(),
    })
}

/// What the request asks for, by its resource type.
fn choice(body: Body<PolicyInput>) -> Result<RetentionChoice, ApiError> {
    let kind = body
        .data
        .as_ref()
        .and_then(|d| d.kind.clone())
        .unwrap_or_default();
    let (input, _) = body.into_parts(&kind)?;
    let days = || {
        input.delete_older_than_n_days.ok_or_else(|| {
            ApiError::invalid(
                "/data/attributes/delete-older-than-n-days",
                "is required for a policy that deletes older backing data",
            )
        })
    };
    match kind.as_str() {
        DELETE_OLDER | LEGACY => Ok(RetentionChoice::DeleteOlderThan(days()?)),
        DONT_DELETE => Ok(RetentionChoice::DontDelete),
        "" if input.delete_older_than_n_days.is_some() => {
            Ok(RetentionChoice::DeleteOlderThan(days()?))
        }
        other => Err(ApiError::invalid(
            "/data/type",
            format!("expected {DELETE_OLDER:?} or {DONT_DELETE:?}, got {other:?}"),
        )),
    }
}

fn document(policy: Option<DataRetentionPolicy>) -> JsonApi<DocumentOrNullPolicy> {
    JsonApi::ok(DocumentOrNullPolicy {
        data: policy.as_ref().map(resource),
    })
}

/// The organization's data retention policy (`data: null` without one).
#[utoipa::path(get, path = "/organizations/{organization}/relationships/data-retention-policy", tag = "data-retention-policies",
    params(("organization" = String, Path)),
    responses((status = 200, body = DocumentOrNullPolicy), (status = 404, body = ErrorDocument)))]
async fn show_for_organization(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
) -> ApiResult<JsonApi<DocumentOrNullPolicy>> {
    let policy = state
        .services
        .data_retention_policy(&caller, PolicyOwner::Organization(&name))
        .await?;
    Ok(document(policy))
}

/// Sets the organization's policy: backing data older than N days is soft-deleted, or none
/// is. Its workspaces follow it unless they set their own.
#[utoipa::path(post, path = "/organizations/{organization}/relationships/data-retention-policy", tag = "data-retention-policies",
    params(("organization" = String, Path)),
    request_body(content = Body<PolicyInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = DocumentOrNullPolicy), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn set_for_organization(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Body<PolicyInput>>,
) -> ApiResult<JsonApi<DocumentOrNullPolicy>> {
    let policy = state
        .services
        .set_data_retention_policy(&caller, PolicyOwner::Organization(&name), choice(body)?)
        .await?;
    Ok(document(Some(policy)))
}

/// Removes the organization's policy: backing data is kept.
#[utoipa::path(delete, path = "/organizations/{organization}/relationships/data-retention-policy", tag = "data-retention-policies",
    params(("organization" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn delete_for_organization(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_data_retention_policy(&caller, PolicyOwner::Organization(&name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The workspace's own data retention policy (`data: null` when it follows its
/// organization's).
#[utoipa::path(get, path = "/workspaces/{workspace_id}/relationships/data-retention-policy", tag = "data-retention-policies",
    params(("workspace_id" = String, Path)),
    responses((status = 200, body = DocumentOrNullPolicy), (status = 404, body = ErrorDocument)))]
async fn show_for_workspace(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<DocumentOrNullPolicy>> {
    let policy = state
        .services
        .data_retention_policy(&caller, PolicyOwner::Workspace(&id))
        .await?;
    Ok(document(policy))
}

/// Sets the workspace's own policy, which overrides its organization's.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/relationships/data-retention-policy", tag = "data-retention-policies",
    params(("workspace_id" = String, Path)),
    request_body(content = Body<PolicyInput>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = DocumentOrNullPolicy), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn set_for_workspace(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Body<PolicyInput>>,
) -> ApiResult<JsonApi<DocumentOrNullPolicy>> {
    let policy = state
        .services
        .set_data_retention_policy(&caller, PolicyOwner::Workspace(&id), choice(body)?)
        .await?;
    Ok(document(Some(policy)))
}

/// Removes the workspace's own policy: its organization's applies again.
#[utoipa::path(delete, path = "/workspaces/{workspace_id}/relationships/data-retention-policy", tag = "data-retention-policies",
    params(("workspace_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn delete_for_workspace(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_data_retention_policy(&caller, PolicyOwner::Workspace(&id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
