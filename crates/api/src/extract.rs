//! Request extractors shared by the handlers.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use terrace_domain::Caller;

use crate::app::AppState;
use crate::error::ApiError;

/// The authenticated caller, from an `Authorization: Bearer` token. Every API handler that
/// takes it refuses anonymous requests with 401.
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
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
