//! The organization's token: `/organizations/:org/authentication-token` (owners). It
//! configures the organization (workspaces, projects, teams, memberships) but never runs
//! anything or changes the organization's settings.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::tokens::{resource, TokenAttributes, TokenInput};
use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::{Body, Document, JsonApi, JsonBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, show, delete))
}

/// Generates the organization's token, replacing (and revoking) the one it had. The
/// response carries the secret, once.
#[utoipa::path(post, path = "/organizations/{organization}/authentication-token", tag = "tokens",
    params(("organization" = String, Path)),
    request_body(content = Body<TokenInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<TokenAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<Body<TokenInput>>,
) -> ApiResult<JsonApi<Document<TokenAttributes>>> {
    let (input, _) = body.into_parts("authentication-tokens")?;
    let (token, secret) = state
        .services
        .generate_organization_token(&caller, &org, input.description, input.expired_at)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &token,
        Some(secret),
        &state.urls,
    ))))
}

/// The organization's token, without its secret; 404 when it has none.
#[utoipa::path(get, path = "/organizations/{organization}/authentication-token", tag = "tokens",
    params(("organization" = String, Path)),
    responses((status = 200, body = Document<TokenAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
) -> ApiResult<JsonApi<Document<TokenAttributes>>> {
    let token = state.services.organization_token(&caller, &org).await?;
    Ok(JsonApi::ok(Document::new(resource(
        &token,
        None,
        &state.urls,
    ))))
}

/// Revokes the organization's token; 404 when it has none.
#[utoipa::path(delete, path = "/organizations/{organization}/authentication-token", tag = "tokens",
    params(("organization" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_organization_token(&caller, &org)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
