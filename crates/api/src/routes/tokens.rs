//! User API tokens: `/users/:id/authentication-tokens`, and `/authentication-tokens/:id`
//! for them, for team tokens and for agent tokens (created under
//! `/agent-pools/:id/authentication-tokens`).
//! The secret appears once, in the response that creates it; only its hash is stored.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_auth::policy::Action;
use terrace_storage::model::{PageRequest, Token, TokenKind};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{
    time, Body, Document, JsonApi, JsonBody, ListDocument, Params, Relationship, Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, delete))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TokenAttributes {
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize_option")]
    last_used_at: Option<DateTime<Utc>>,
    description: Option<String>,
    /// The secret: only in the response that creates the token.
    token: Option<String>,
    #[serde(serialize_with = "time::serialize_option")]
    expired_at: Option<DateTime<Utc>>,
}

pub(crate) fn resource(
    token: &Token,
    secret: Option<String>,
    urls: &Urls,
) -> Resource<TokenAttributes> {
    let resource = Resource::new(
        "authentication-tokens",
        &token.id,
        TokenAttributes {
            created_at: token.created_at,
            last_used_at: token.last_used_at,
            description: token.description.clone(),
            token: secret,
            expired_at: token.expires_at,
        },
    )
    .relationship(
        "created-by",
        Relationship::optional("users", token.created_by.as_deref()),
    )
    .link(
        "self",
        urls.api(&format!("/authentication-tokens/{}", token.id)),
    );
    match token.kind {
        TokenKind::Team => {
            resource.relationship("team", Relationship::one("teams", &token.owner_id))
        }
        _ => resource,
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TokenInput {
    pub(crate) description: Option<String>,
    pub(crate) expired_at: Option<DateTime<Utc>>,
}

/// The caller's tokens (never the secrets). Without page parameters, all of them.
#[utoipa::path(get, path = "/users/{user_id}/authentication-tokens", tag = "tokens",
    params(("user_id" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<TokenAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(user_id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<TokenAttributes>>> {
    let explicit = params.explicit_page()?;
    let found = state
        .services
        .list_user_tokens(&caller, &user_id, explicit.unwrap_or_else(PageRequest::all))
        .await?;
    let data = found
        .items
        .iter()
        .map(|t| resource(t, None, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate_if(
        data,
        explicit,
        found.total,
        &state.urls.request(&uri),
    )))
}

/// Creates a token for the caller; the response carries the secret, once.
#[utoipa::path(post, path = "/users/{user_id}/authentication-tokens", tag = "tokens",
    params(("user_id" = String, Path)),
    request_body(content = Body<TokenInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<TokenAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<Body<TokenInput>>,
) -> ApiResult<JsonApi<Document<TokenAttributes>>> {
    let (input, _) = body.into_parts("authentication-tokens")?;
    let (token, secret) = state
        .services
        .create_user_token(&caller, &user_id, input.description, input.expired_at)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &token,
        Some(secret),
        &state.urls,
    ))))
}

/// One of the caller's tokens, or an agent token of a pool the caller can see.
#[utoipa::path(get, path = "/authentication-tokens/{token_id}", tag = "tokens",
    params(("token_id" = String, Path)),
    responses((status = 200, body = Document<TokenAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<TokenAttributes>>> {
    let token = state
        .services
        .authentication_token(&caller, &id, Action::ReadOrganization)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(
        &token,
        None,
        &state.urls,
    ))))
}

/// Revokes one of the caller's tokens, or an agent token (organization owners).
#[utoipa::path(delete, path = "/authentication-tokens/{token_id}", tag = "tokens",
    params(("token_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_authentication_token(&caller, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
