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
