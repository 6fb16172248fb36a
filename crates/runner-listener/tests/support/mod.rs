//! A fake Terrace server speaking the job protocol, for the runner and the listener to talk
//! to: it keeps everything in memory and records what it was sent. It follows the protocol's
//! rules that matter to clients: a refused token is 401, a log chunk must continue the log
//! (a retry of the same offset is accepted, a gap is 409), a finished job's token dies.

#![allow(dead_code)]
// Handlers answer errors as `Err(Response)`: convenient, and size does not matter here.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use terrace_protocol::{
    HeartbeatRequest, HeartbeatResponse, JobAssignment, JobOutcome, JobSpec, LogAck, NewState,
    NewStateResponse, RegisterRequest, RegisterResponse,
};

#[derive(Default)]
pub struct Job {
    pub spec: Option<JobSpec>,
    pub log: Vec<u8>,
    pub outcome: Option<JobOutcome>,
    /// Answer `cancel` once the log contains this.
    pub cancel_when_log_contains: Option<String>,
    pub canceled: bool,
    /// A tarball of its own (else the server's).
    pub tarball: Option<Vec<u8>>,
}

#[derive(Default)]
pub struct Fake {
    pub base_url: String,
    pub tarball: Vec<u8>,
    /// By job token.
    pub jobs: HashMap<String, Job>,
    /// By run ID.
    pub artifacts: HashMap<String, HashMap<String, Vec<u8>>>,
    /// The workspace's current state.
    pub state: Option<Vec<u8>>,
    /// Announced state versions by ID, and the bytes uploaded for them.
    pub state_versions: Vec<(String, NewState, Option<Vec<u8>>)>,
    // Listener side.
    pub agent_token: String,
    pub registered: Vec<RegisterRequest>,
    pub heartbeats: Vec<HeartbeatRequest>,
    pub queue: VecDeque<JobAssignment>,
    pub cancel: Vec<String>,
    /// Every other log request (the first included) is stored but answered 503, as if the answer was lost: the
    /// runner must send the same chunk again, which is accepted as a retry.
    pub flaky_logs: bool,
    pub log_requests: usize,
}

pub type Shared = Arc<Mutex<Fake>>;

pub fn job(spec: JobSpec) -> Job {
    Job {
        spec: Some(spec),
        ..Job::default()
    }
}

fn error(status: StatusCode, detail: &str) -> Response {
    let body = serde_json::json!({"errors":[{"status": status.as_u16().to_string(), "title": "error", "detail": detail}]});
    (status, Json(body)).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_string)
}

/// The token of a running job, or the 401 answer.
fn job_token(fake: &Fake, headers: &HeaderMap) -> Result<String, Response> {
    match bearer(headers) {
        Some(token) if fake.jobs.get(&token).is_some_and(|j| j.outcome.is_none()) => Ok(token),
        _ => Err(error(StatusCode::UNAUTHORIZED, "invalid token")),
    }
}

fn run_id(fake: &Fake, token: &str) -> String {
    fake.jobs[token].spec.as_ref().unwrap().run_id.clone()
}

async fn spec(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let fake = s.lock().unwrap();
    match job_token(&fake, &headers) {
        Ok(token) => {
            let mut spec = fake.jobs[&token].spec.clone().unwrap();
            // As a server says: whether it has state for the job (the runner asks only then).
            spec.has_state = fake.state.is_some();
            Json(spec).into_response()
        }
        Err(r) => r,
    }
}

async fn configuration(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let fake = s.lock().unwrap();
    match job_token(&fake, &headers) {
        Ok(token) => {
            let tarball = fake.jobs[&token]
                .tarball
                .clone()
                .unwrap_or_else(|| fake.tarball.clone());
            (StatusCode::OK, tarball).into_response()
        }
        Err(r) => r,
    }
}

async fn state(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let fake = s.lock().unwrap();
    if let Err(r) = job_token(&fake, &headers) {
        return r;
    }
    match &fake.state {
        Some(state) => (StatusCode::OK, state.clone()).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn get_artifact(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let fake = s.lock().unwrap();
    let token = match job_token(&fake, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    match fake
        .artifacts
        .get(&run_id(&fake, &token))
        .and_then(|a| a.get(&name))
    {
        Some(data) => (StatusCode::OK, data.clone()).into_response(),
        None => error(StatusCode::NOT_FOUND, "no such artifact"),
    }
}

async fn put_artifact(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let mut fake = s.lock().unwrap();
    let token = match job_token(&fake, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let run = run_id(&fake, &token);
    fake.artifacts
        .entry(run)
        .or_default()
        .insert(name, body.to_vec());
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct Offset {
    offset: usize,
}

async fn logs(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(at): Query<Offset>,
    body: Bytes,
) -> Response {
    let mut fake = s.lock().unwrap();
    let token = match job_token(&fake, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    fake.log_requests += 1;
    let lose_answer = fake.flaky_logs && fake.log_requests % 2 == 1;
    let job = fake.jobs.get_mut(&token).unwrap();
    if at.offset + body.len() <= job.log.len() {
        // A retry of what we have.
    } else if at.offset != job.log.len() {
        return error(StatusCode::CONFLICT, "log gap");
    } else {
        job.log.extend_from_slice(&body);
    }
    if let Some(marker) = &job.cancel_when_log_contains {
        if String::from_utf8_lossy(&job.log).contains(marker.as_str()) {
            job.canceled = true;
        }
    }
    if lose_answer {
        return error(StatusCode::SERVICE_UNAVAILABLE, "lost answer");
    }
    Json(LogAck {
        cancel: job.canceled,
        force_cancel: false,
    })
    .into_response()
}

async fn new_state(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(new): Json<NewState>,
) -> Response {
    let mut fake = s.lock().unwrap();
    if let Err(r) = job_token(&fake, &headers) {
        return r;
    }
    let id = format!("sv-{}", fake.state_versions.len() + 1);
    fake.state_versions.push((id.clone(), new, None));
    let upload_url = format!("{}/upload/{id}", fake.base_url);
    (
        StatusCode::CREATED,
        Json(NewStateResponse {
            state_version_id: id,
            upload_url,
        }),
    )
        .into_response()
}

async fn upload(State(s): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    let mut fake = s.lock().unwrap();
    let Some(sv) = fake.state_versions.iter_mut().find(|sv| sv.0 == id) else {
        return error(StatusCode::NOT_FOUND, "no such state version");
    };
    sv.2 = Some(body.to_vec());
    fake.state = Some(body.to_vec());
    StatusCode::OK.into_response()
}

async fn finish(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(outcome): Json<JobOutcome>,
) -> Response {
    let mut fake = s.lock().unwrap();
    let token = match job_token(&fake, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    fake.jobs.get_mut(&token).unwrap().outcome = Some(outcome);
    StatusCode::NO_CONTENT.into_response()
}

fn agent(fake: &Fake, headers: &HeaderMap) -> Result<(), Response> {
    match bearer(headers) {
        Some(t) if t == fake.agent_token => Ok(()),
        _ => Err(error(StatusCode::UNAUTHORIZED, "invalid agent token")),
    }
}

async fn register(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(request): Json<RegisterRequest>,
) -> Response {
    let mut fake = s.lock().unwrap();
    if let Err(r) = agent(&fake, &headers) {
        return r;
    }
    fake.registered.push(request);
    (
        StatusCode::CREATED,
        Json(RegisterResponse {
            listener_id: "lst-1".into(),
        }),
    )
        .into_response()
}

async fn heartbeat(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(request): Json<HeartbeatRequest>,
) -> Response {
    let mut fake = s.lock().unwrap();
    if let Err(r) = agent(&fake, &headers) {
        return r;
    }
    let cancel = fake
        .cancel
        .iter()
        .filter(|id| request.running.contains(id))
        .cloned()
        .collect();
    fake.heartbeats.push(request);
    Json(HeartbeatResponse {
        cancel,
        force_cancel: vec![],
    })
    .into_response()
}

#[derive(Deserialize)]
struct Wait {
    wait: Option<u64>,
}

async fn claim(State(s): State<Shared>, headers: HeaderMap, Query(wait): Query<Wait>) -> Response {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait.wait.unwrap_or(25));
    loop {
        {
            let mut fake = s.lock().unwrap();
            if let Err(r) = agent(&fake, &headers) {
                return r;
            }
            if let Some(job) = fake.queue.pop_front() {
                return Json(job).into_response();
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return StatusCode::NO_CONTENT.into_response();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts the fake server; returns its state (with `base_url` set).
pub async fn start(fake: Fake) -> Shared {
    let shared = Arc::new(Mutex::new(fake));
    let app = router(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    shared.lock().unwrap().base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    shared
}

pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/api/runner/v1/job", get(spec))
        .route("/api/runner/v1/job/configuration", get(configuration))
        .route("/api/runner/v1/job/state", get(state))
        .route(
            "/api/runner/v1/job/artifacts/{name}",
            get(get_artifact).put(put_artifact),
        )
        .route("/api/runner/v1/job/logs", post(logs))
        .route("/api/runner/v1/job/state-versions", post(new_state))
        .route("/api/runner/v1/job/finish", post(finish))
        .route("/upload/{id}", put(upload))
        .route("/api/runner/v1/listeners", post(register))
        .route("/api/runner/v1/listeners/{id}/heartbeat", post(heartbeat))
        .route("/api/runner/v1/listeners/{id}/claim", post(claim))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(shared)
}

/// A gzip'd tar of `files` (path, content), as the CLI uploads it.
pub fn tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder
            .append_data(&mut header, path, content.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}
