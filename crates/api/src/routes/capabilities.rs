//! Capability URLs. The CLI PUTs state and configuration tarballs here, and reads logs, without
//! credentials: the signed token in the path grants exactly one thing (this upload or this
//! log, until it expires). Upload bodies are streamed straight into the encrypted blob store.
//! The token lives in the path because the CLI's log reader replaces the whole query string.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Query;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_state))
        .routes(routes!(upload_json_state))
        .routes(routes!(upload_configuration))
        .routes(routes!(read_log))
}

/// Receives the raw state of a pending state version (the `hosted-state-upload-url`).
#[utoipa::path(put, path = "/_uploads/state/{token}", tag = "uploads", security(()),
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
#[utoipa::path(put, path = "/_uploads/json-state/{token}", tag = "uploads", security(()),
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

/// Receives the tarball of a pending configuration version (its `upload-url`).
#[utoipa::path(put, path = "/_uploads/configuration/{token}", tag = "uploads", security(()),
    params(("token" = String, Path, description = "The signed capability from the upload URL")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, description = "Stored; the version is uploaded"),
        (status = 422, description = "Not a gzip'd tar, or an entry reaches outside the configuration", body = ErrorDocument),
        (status = 403, body = ErrorDocument), (status = 409, description = "Already uploaded", body = ErrorDocument),
        (status = 410, body = ErrorDocument), (status = 413, body = ErrorDocument)))]
async fn upload_configuration(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Body,
) -> ApiResult<StatusCode> {
    state
        .services
        .upload_configuration(&token, body.into_data_stream())
        .await?;
    Ok(StatusCode::OK)
}

/// The most a single log read returns, whatever the client asks for.
const MAX_LOG_READ: u64 = 1 << 20;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LogWindow {
    /// Bytes of the framed log already read.
    #[serde(default)]
    offset: u64,
    /// How many bytes to return at most (capped at 1 MiB).
    limit: Option<u64>,
}

/// A plan's or apply's log from `offset`, framed by STX and ETX; ETX arrives only once the
/// phase is final (its `log-read-url`).
#[utoipa::path(get, path = "/_logs/{token}", tag = "uploads", security(()),
    params(("token" = String, Path, description = "The signed capability from the log URL"), LogWindow),
    responses((status = 200, description = "Log bytes", content_type = "text/plain"),
        (status = 403, body = ErrorDocument), (status = 410, body = ErrorDocument)))]
async fn read_log(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(window): Query<LogWindow>,
) -> ApiResult<impl IntoResponse> {
    let limit = window.limit.unwrap_or(MAX_LOG_READ).min(MAX_LOG_READ);
    let bytes = state
        .services
        .read_log(&token, window.offset, limit)
        .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes))
}
