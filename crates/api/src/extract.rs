//! Request extractors shared by the handlers.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, HeaderMap};
use terrace_domain::Caller;

use crate::app::AppState;
use crate::error::ApiError;

/// The authenticated caller, from an `Authorization: Bearer` token. Every API handler that
/// takes it refuses anonymous requests with 401.
pub struct Auth(pub Caller);

/// The outcome of authenticating the request's bearer token, left in the request's
/// extensions by the rate limiter (which counts requests by token), so the token is looked
/// up once per request.
#[derive(Clone)]
pub struct Authenticated(pub Result<Caller, ApiError>);

/// The token of an `Authorization: Bearer` header, if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        if let Some(Authenticated(result)) = parts.extensions.get::<Authenticated>() {
            return result.clone().map(Auth);
        }
        Ok(Auth(state.services.authenticate(token).await?))
    }
}

/// Typed query parameters; a malformed query string gets a JSON:API 400 saying what is
/// wrong (axum's own `Query` answers in plain text).
pub struct Query<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
            .map(Query)
            .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))
    }
}
