//! Capability URLs for uploads. The CLI PUTs state here without credentials: the signed token
//! in the path grants exactly one thing (this upload, for this state version, until it
//! expires). Bodies are streamed straight into the encrypted blob store.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_state))
        .routes(routes!(upload_json_state))
}

/// Receives the raw state of a pending state version (the `hosted-state-upload-url`).
#[utoipa::path(put, path = "/_uploads/state/{token}", tag = "uploads",
    params(("token" = String, Path, description = "The signed capability from the upload URL")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, description = "Stored, verified and made current"),
        (status = 403, description = "Signature does not match", body = ErrorDocument),
        (status = 409, description = "Already uploaded", body = ErrorDocument),
        (status = 410, description = "URL expired", body = ErrorDocument),
        (status = 413, body = ErrorDocument),
        (status = 422, description = "Not a state, or not the announced MD5", body = ErrorDocument)))]
async fn upload_state(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Body,
) -> ApiResult<StatusCode> {
    state
        .services
        .upload_state(&token, body.into_data_stream())
        .await?;
    Ok(StatusCode::OK)
}

/// Receives the `terraform show -json` state of a state version.
#[utoipa::path(put, path = "/_uploads/json-state/{token}", tag = "uploads",
    params(("token" = String, Path, description = "The signed capability from the upload URL")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, description = "Stored"), (status = 403, body = ErrorDocument),
        (status = 409, body = ErrorDocument), (status = 410, body = ErrorDocument), (status = 413, body = ErrorDocument)))]
async fn upload_json_state(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Body,
) -> ApiResult<StatusCode> {
    state
        .services
        .upload_json_state(&token, body.into_data_stream())
        .await?;
    Ok(StatusCode::OK)
}
