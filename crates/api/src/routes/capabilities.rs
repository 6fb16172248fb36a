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
        .routes(routes!(upload_provider_shasums))
        .routes(routes!(upload_provider_signature))
        .routes(routes!(upload_provider_binary))
        .routes(routes!(download_provider_shasums))
        .routes(routes!(download_provider_signature))
        .routes(routes!(download_provider_binary))
        .routes(routes!(download_mirror_archive))
        .routes(routes!(download_tool_archive))
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

/// Receives a provider version's SHA256SUMS (its `shasums-upload` link); it may be replaced
/// until the signature is uploaded.
#[utoipa::path(put, path = "/_uploads/provider-shasums/{token}", tag = "uploads", security(()),
    params(("token" = String, Path, description = "The signed capability from the upload URL")),
    request_body(content = Vec<u8>, content_type = "text/plain"),
    responses((status = 200, description = "Stored"),
        (status = 422, description = "Not SHA256SUMS lines", body = ErrorDocument),
        (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument),
        (status = 409, description = "The version is signed already", body = ErrorDocument),
        (status = 410, body = ErrorDocument), (status = 413, body = ErrorDocument)))]
async fn upload_provider_shasums(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Body,
) -> ApiResult<StatusCode> {
    state
        .services
        .upload_provider_shasums(&token, body.into_data_stream())
        .await?;
    Ok(StatusCode::OK)
}

/// Receives the detached signature over a provider version's SHA256SUMS (its
/// `shasums-sig-upload` link), kept only if it verifies with the version's GPG key.
#[utoipa::path(put, path = "/_uploads/provider-shasums-sig/{token}", tag = "uploads", security(()),
    params(("token" = String, Path, description = "The signed capability from the upload URL")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, description = "Verified and stored"),
        (status = 422, description = "Not a signature, an unknown key-id, or it does not verify", body = ErrorDocument),
        (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument),
        (status = 409, description = "SHA256SUMS missing, or signed already", body = ErrorDocument),
        (status = 410, body = ErrorDocument), (status = 413, body = ErrorDocument)))]
async fn upload_provider_signature(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Body,
) -> ApiResult<StatusCode> {
    state
        .services
        .upload_provider_signature(&token, body.into_data_stream())
        .await?;
    Ok(StatusCode::OK)
}

/// Receives a provider platform's zip (its `provider-binary-upload` link), recorded only if
/// its SHA-256 is the one the platform and the signed SHA256SUMS name.
#[utoipa::path(put, path = "/_uploads/provider-binary/{token}", tag = "uploads", security(()),
    params(("token" = String, Path, description = "The signed capability from the upload URL")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, description = "Verified and stored"),
        (status = 422, description = "The checksum does not match", body = ErrorDocument),
        (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument),
        (status = 409, description = "Uploaded already, or the version is not signed yet", body = ErrorDocument),
        (status = 410, body = ErrorDocument), (status = 413, body = ErrorDocument)))]
async fn upload_provider_binary(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Body,
) -> ApiResult<StatusCode> {
    state
        .services
        .upload_provider_binary(&token, body.into_data_stream())
        .await?;
    Ok(StatusCode::OK)
}

/// A provider version's SHA256SUMS (`shasums_url`).
#[utoipa::path(get, path = "/_downloads/provider-shasums/{token}", tag = "uploads", security(()),
    params(("token" = String, Path, description = "The signed capability from the download URL")),
    responses((status = 200, description = "SHA256SUMS", content_type = "text/plain"),
        (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 410, body = ErrorDocument)))]
async fn download_provider_shasums(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let text = state.services.download_provider_shasums(&token).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}

/// The detached signature over a provider version's SHA256SUMS (`shasums_signature_url`).
#[utoipa::path(get, path = "/_downloads/provider-shasums-sig/{token}", tag = "uploads", security(()),
    params(("token" = String, Path, description = "The signed capability from the download URL")),
    responses((status = 200, description = "The binary OpenPGP signature", content_type = "application/octet-stream"),
        (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 410, body = ErrorDocument)))]
async fn download_provider_signature(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let bytes = state.services.download_provider_signature(&token).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
}

/// A provider platform's zip (`download_url`).
#[utoipa::path(get, path = "/_downloads/provider-binary/{token}", tag = "uploads", security(()),
    params(("token" = String, Path, description = "The signed capability from the download URL")),
    responses((status = 200, description = "The zip", content_type = "application/zip"),
        (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 410, body = ErrorDocument)))]
async fn download_provider_binary(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<axum::response::Response> {
    let (_, blob) = state.services.download_provider_binary(&token).await?;
    Ok(super::state_versions::stream_response(
        blob,
        "application/zip",
    ))
}

/// A provider archive of the network mirror (its `url`): from the cache, or pulled through
/// from the upstream registry first.
#[utoipa::path(get, path = "/_downloads/provider-mirror/{token}", tag = "uploads", security(()),
    params(("token" = String, Path, description = "The signed capability from the download URL")),
    responses((status = 200, description = "The zip", content_type = "application/zip"),
        (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 410, body = ErrorDocument),
        (status = 502, description = "The upstream failed or served something else", body = ErrorDocument)))]
async fn download_mirror_archive(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<axum::response::Response> {
    let (_, blob) = state.services.mirror_archive(&token).await?;
    Ok(super::state_versions::stream_response(
        blob,
        "application/zip",
    ))
}

/// A terraform or OpenTofu release archive from the binary cache, for a runner (the URL its
/// job names). Not cached yet: the server pulls it from the catalogue's URL first and keeps
/// it only if its SHA-256 is the catalogue's.
#[utoipa::path(get, path = "/_downloads/tool-archive/{token}", tag = "uploads", security(()),
    params(("token" = String, Path, description = "The signed capability from the job's tool URL")),
    responses((status = 200, description = "The archive", content_type = "application/zip"),
        (status = 403, body = ErrorDocument), (status = 404, description = "The catalogue no longer lists it, and nothing is cached", body = ErrorDocument),
        (status = 410, body = ErrorDocument),
        (status = 502, description = "The upstream failed, or sent an archive whose SHA-256 is not the catalogue's", body = ErrorDocument)))]
async fn download_tool_archive(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<axum::response::Response> {
    let archive = state.services.download_tool_archive(&token).await?;
    let mut response = super::state_versions::stream_response(archive.blob, "application/zip");
    if let Ok(value) = header::HeaderValue::from_str(&archive.size.to_string()) {
        response.headers_mut().insert(header::CONTENT_LENGTH, value);
    }
    Ok(response)
}
