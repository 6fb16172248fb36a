//! The job protocol's routes (see the `terrace-protocol` crate): listeners register,
//! heartbeat and claim jobs with an agent token; runners fetch what their job needs, stream
//! logs, upload the plan and the new state, and report how the job ended with its job token.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::Extensions;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use terrace_protocol::{
    HeartbeatRequest, HeartbeatResponse, JobAssignment, JobOutcome, JobSpec, LogAck, NewState,
    NewStateResponse, RegisterRequest, RegisterResponse,
};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state_versions::stream_response;
use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::{Auth, Query};
use crate::jsonapi::{JsonBody, RawBody};
use crate::limits::ClientAddr;

/// The longest a claim waits for a job before answering 204.
const MAX_CLAIM_WAIT: u64 = 30;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(heartbeat))
        .routes(routes!(claim))
        .routes(routes!(spec))
        .routes(routes!(configuration))
        .routes(routes!(state_file))
        .routes(routes!(ssh_key))
        .routes(routes!(artifact, put_artifact))
        .routes(routes!(logs))
        .routes(routes!(new_state))
        .routes(routes!(finish))
}

/// Registers a listener of the token's agent pool.
#[utoipa::path(post, path = "/api/runner/v1/listeners", tag = "runner",
    request_body(content = RegisterRequest, content_type = "application/json"),
    responses((status = 201, body = RegisterResponse), (status = 403, body = ErrorDocument)))]
async fn register(
    State(state): State<AppState>,
    Auth(caller): Auth,
    extensions: Extensions,
    JsonBody(request): JsonBody<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<RegisterResponse>)> {
    // The client's address (behind trusted proxies, the one they forwarded), else the peer's.
    let ip = extensions
        .get::<ClientAddr>()
        .map(|client| client.0)
        .or_else(|| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip())
        })
        .map(|ip| ip.to_string());
    let listener_id = state
        .services
        .register_listener(&caller, request, ip)
        .await?;
    Ok((StatusCode::CREATED, Json(RegisterResponse { listener_id })))
}

/// Keeps the listener and its jobs alive; the answer names jobs it must stop.
#[utoipa::path(post, path = "/api/runner/v1/listeners/{listener_id}/heartbeat", tag = "runner",
    params(("listener_id" = String, Path)),
    request_body(content = HeartbeatRequest, content_type = "application/json"),
    responses((status = 200, body = HeartbeatResponse), (status = 404, body = ErrorDocument)))]
async fn heartbeat(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<HeartbeatRequest>,
) -> ApiResult<Json<HeartbeatResponse>> {
    Ok(Json(
        state
            .services
            .listener_heartbeat(&caller, &id, &request.running)
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClaimWait {
    /// Seconds to wait for a job (long poll), at most 30.
    #[serde(default)]
    wait: Option<u64>,
}

/// Claims the oldest queued job of the pool, waiting for one if there is none.
#[utoipa::path(post, path = "/api/runner/v1/listeners/{listener_id}/claim", tag = "runner",
    params(("listener_id" = String, Path), ClaimWait),
    responses((status = 200, body = JobAssignment), (status = 204, description = "No job came within the wait"), (status = 404, body = ErrorDocument)))]
async fn claim(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Query(wait): Query<ClaimWait>,
) -> ApiResult<Response> {
    let wait = Duration::from_secs(wait.wait.unwrap_or(25).min(MAX_CLAIM_WAIT));
    Ok(match state.services.claim_job(&caller, &id, wait).await? {
        Some(job) => Json(job).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// What the job is: its run's operation, variables and environment.
#[utoipa::path(get, path = "/api/runner/v1/job", tag = "runner",
    responses((status = 200, body = JobSpec), (status = 401, body = ErrorDocument), (status = 409, description = "The job is over", body = ErrorDocument)))]
async fn spec(State(state): State<AppState>, Auth(caller): Auth) -> ApiResult<Json<JobSpec>> {
    Ok(Json(state.services.job_spec(&caller).await?))
}

/// The configuration tarball of the job's run.
#[utoipa::path(get, path = "/api/runner/v1/job/configuration", tag = "runner",
    responses((status = 200, description = "tar.gz", content_type = "application/octet-stream"), (status = 401, body = ErrorDocument)))]
async fn configuration(State(state): State<AppState>, Auth(caller): Auth) -> ApiResult<Response> {
    Ok(stream_response(
        state.services.job_configuration(&caller).await?,
        "application/octet-stream",
    ))
}

/// The state the run started from.
#[utoipa::path(get, path = "/api/runner/v1/job/state", tag = "runner",
    responses((status = 200, description = "Raw state", content_type = "application/json"), (status = 204, description = "The workspace has no state")))]
async fn state_file(State(state): State<AppState>, Auth(caller): Auth) -> ApiResult<Response> {
    Ok(match state.services.job_state(&caller).await? {
        Some(stream) => stream_response(stream, "application/json"),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// The private key of the SSH key assigned to the job's workspace (for `git::ssh://` module
/// sources), only to the job's own token while it runs; 204 when none is assigned.
#[utoipa::path(get, path = "/api/runner/v1/job/ssh-key", tag = "runner",
    responses((status = 200, description = "The private key", content_type = "application/octet-stream"), (status = 204, description = "No SSH key is assigned")))]
async fn ssh_key(State(state): State<AppState>, Auth(caller): Auth) -> ApiResult<Response> {
    Ok(match state.services.job_ssh_key(&caller).await? {
        Some(key) => (
            [
                (axum::http::header::CONTENT_TYPE, "application/octet-stream"),
                (axum::http::header::CACHE_CONTROL, "no-store"),
            ],
            key,
        )
            .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// An artifact of the run's plan (`plan-file`, `lock-file`, ...).
#[utoipa::path(get, path = "/api/runner/v1/job/artifacts/{name}", tag = "runner", params(("name" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream"), (status = 404, body = ErrorDocument)))]
async fn artifact(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    Ok(stream_response(
        state.services.job_artifact(&caller, &name).await?,
        "application/octet-stream",
    ))
}

/// Stores an artifact of a plan job.
#[utoipa::path(put, path = "/api/runner/v1/job/artifacts/{name}", tag = "runner", params(("name" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn put_artifact(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<StatusCode> {
    state
        .services
        .put_job_artifact(&caller, &name, body.into_data_stream())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogOffset {
    /// Log bytes sent before this chunk.
    offset: i64,
}

/// Appends to the job's log; the answer says whether the runner must stop.
#[utoipa::path(post, path = "/api/runner/v1/job/logs", tag = "runner", params(LogOffset),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = LogAck), (status = 409, description = "The chunk does not continue the log", body = ErrorDocument)))]
async fn logs(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Query(at): Query<LogOffset>,
    RawBody(body): RawBody,
) -> ApiResult<Json<LogAck>> {
    Ok(Json(
        state
            .services
            .append_job_log(&caller, at.offset, &body)
            .await?,
    ))
}

/// Announces the state an apply wrote; the answer has the URL to upload it to.
#[utoipa::path(post, path = "/api/runner/v1/job/state-versions", tag = "runner",
    request_body(content = NewState, content_type = "application/json"),
    responses((status = 201, body = NewStateResponse), (status = 409, body = ErrorDocument)))]
async fn new_state(
    State(state): State<AppState>,
    Auth(caller): Auth,
    JsonBody(new): JsonBody<NewState>,
) -> ApiResult<(StatusCode, Json<NewStateResponse>)> {
    let (state_version_id, token) = state.services.create_job_state(&caller, new).await?;
    let upload_url = crate::urls::state_upload_path(&token);
    Ok((
        StatusCode::CREATED,
        Json(NewStateResponse {
            state_version_id,
            upload_url,
        }),
    ))
}

/// Reports how the job ended; the job token stops working.
#[utoipa::path(post, path = "/api/runner/v1/job/finish", tag = "runner",
    request_body(content = JobOutcome, content_type = "application/json"),
    responses((status = 204), (status = 409, body = ErrorDocument)))]
async fn finish(
    State(state): State<AppState>,
    Auth(caller): Auth,
    JsonBody(outcome): JsonBody<JobOutcome>,
) -> ApiResult<StatusCode> {
    state.services.finish_job_report(&caller, outcome).await?;
    Ok(StatusCode::NO_CONTENT)
}
