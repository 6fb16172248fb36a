//! The organization's tokens: `/organizations/:org/authentication-token` (owners). The
//! organization token configures the organization (workspaces, projects, teams,
//! memberships) but never runs anything or changes the organization's settings; with
//! `?token=audit-trails`, the same routes manage its audit trail token, which reads the
//! organization's audit trail and nothing else.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::tokens::{resource, TokenAttributes, TokenInput};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::{Body, Document, JsonApi, JsonBody, Params};
use terrace_storage::model::TokenKind;

/// The `token` query parameter: which of the organization's tokens.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // a description, never constructed
struct TokenQuery {
    /// `audit-trails` for the audit trail token; the organization token otherwise.
    token: Option<String>,
}

/// The token kind `?token=` names.
fn token_kind(value: Option<&str>) -> Result<TokenKind, ApiError> {
    match value {
        None | Some("") | Some("organization") => Ok(TokenKind::Organization),
        Some("audit-trails") => Ok(TokenKind::AuditTrail),
        Some(other) => Err(ApiError::bad_request(format!(
            "unknown token type {other:?}: expected audit-trails, or none for the organization token"
        ))),
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, show, delete))
}

/// Generates the organization's token (or audit trail token), replacing (and revoking) the
/// one it had; without `expired-at` it expires in two years. The response carries the
/// secret, once.
#[utoipa::path(post, path = "/organizations/{organization}/authentication-token", tag = "tokens",
    params(("organization" = String, Path), TokenQuery),
    request_body(content = Body<TokenInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<TokenAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    JsonBody(body): JsonBody<Body<TokenInput>>,
) -> ApiResult<JsonApi<Document<TokenAttributes>>> {
    let kind = token_kind(params.get("token"))?;
    let (input, _) = body.into_parts("authentication-tokens")?;
    let (token, secret) = state
        .services
        .generate_organization_token(&caller, &org, kind, input.description, input.expired_at)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &token,
        Some(secret),
        &state.urls,
    ))))
}

/// The organization's token (or audit trail token), without its secret; 404 when it has none.
#[utoipa::path(get, path = "/organizations/{organization}/authentication-token", tag = "tokens",
    params(("organization" = String, Path), TokenQuery),
    responses((status = 200, body = Document<TokenAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<Document<TokenAttributes>>> {
    let kind = token_kind(params.get("token"))?;
    let token = state
        .services
        .organization_token(&caller, &org, kind)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(
        &token,
        None,
        &state.urls,
    ))))
}

/// Revokes the organization's token (or audit trail token); 404 when it has none.
#[utoipa::path(delete, path = "/organizations/{organization}/authentication-token", tag = "tokens",
    params(("organization" = String, Path), TokenQuery),
    responses((status = 204), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let kind = token_kind(params.get("token"))?;
    state
        .services
        .delete_organization_token(&caller, &org, kind)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_parameter_names_the_kind() {
        assert_eq!(token_kind(None).unwrap(), TokenKind::Organization);
        assert_eq!(token_kind(Some("")).unwrap(), TokenKind::Organization);
        assert_eq!(
            token_kind(Some("audit-trails")).unwrap(),
            TokenKind::AuditTrail
        );
        assert!(token_kind(Some("team")).is_err());
    }
}
