//! The HTTP client of the job protocol, for both roles: a listener (agent token) and a runner
//! (job token). Requests are retried, with exponential backoff, on transport errors, 5xx and
//! 429 answers, because the server may be restarting while a job runs; other answers are
//! returned as they are, since retrying a 4xx cannot change it.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use terrace_protocol::{
    paths, HeartbeatRequest, HeartbeatResponse, JobAssignment, JobOutcome, JobSpec, LogAck,
    NewState, NewStateResponse, RegisterRequest, RegisterResponse,
};
use tokio::io::AsyncWriteExt;

/// An ordinary request (everything but long polls and big transfers).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Configuration tarballs, plans and states can be large; the server may be slow to send them.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// 401: the token is not (or no longer) valid. For a job token this means the job is gone.
    #[error("the server refused the token: {0}")]
    Unauthorized(String),
    #[error("the server answered {status}: {detail}")]
    Status { status: u16, detail: String },
    #[error("cannot reach the server: {0}")]
    Transport(String),
    /// The server's certificate is not trusted: retrying will not help.
    #[error(
        "TLS failure (is the CA of the server's certificate trusted? see the CA file option): {0}"
    )]
    Tls(String),
    #[error("unexpected answer from the server: {0}")]
    Invalid(String),
}

impl ClientError {
    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Unauthorized(_) => Some(401),
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again later may help (the server was unreachable or failing).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport(_) => true,
            ClientError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

pub type ClientResult<T> = Result<T, ClientError>;

/// How often and how patiently a request is retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Retry {
    /// About 45 s of trying: long enough to ride out a server restart.
    pub const DEFAULT: Retry = Retry {
        attempts: 8,
        first_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(15),
    };
    /// About 4.5 minutes, for the reports a job must not lose (its state, how it ended).
    pub const PATIENT: Retry = Retry {
        attempts: 22,
        first_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(15),
    };
    /// One attempt: the caller has its own loop (the listener's long polls).
    pub const ONCE: Retry = Retry {
        attempts: 1,
        first_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    /// The pause before attempt `attempt` (1-based retries).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// A reqwest client trusting the platform's roots and `ca_file` (a PEM file with one or
/// more certificates: CAs, or the server's own certificate); see [`crate::trust`].
pub fn http_client(ca_file: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    // reqwest's rustls takes the process's crypto provider: ring (a no-op if one is set).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let extra = match ca_file {
        Some(path) => crate::trust::read_pem_certificates(path)?,
        None => Vec::new(),
    };
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("terrace-runner/", env!("CARGO_PKG_VERSION")))
        .tls_backend_preconfigured(crate::trust::client_config(extra)?)
        .build()?)
}

/// What both roles share: the server's base URL and a bearer token.
#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Http {
    fn new(client: reqwest::Client, server_url: &str, token: &str) -> Http {
        Http {
            client,
            base: server_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    /// Sends the request `build` makes (again on each attempt), retrying transient failures.
    /// Returns the first 2xx answer; 4xx answers and exhausted retries are errors.
    async fn send(
        &self,
        retry: Retry,
        timeout: Duration,
        build: impl Fn() -> RequestBuilder,
    ) -> ClientResult<Response> {
        let mut attempt = 0;
        loop {
            let err = match build().timeout(timeout).send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => error_from(response).await,
                Err(err) => transport_error(&err),
            };
            attempt += 1;
            if !err.is_transient() || attempt >= retry.attempts {
                return Err(err);
            }
            tracing::debug!(error = %err, attempt, "retrying a request to the server");
            tokio::time::sleep(retry.delay(attempt)).await;
        }
    }

    async fn json<T: DeserializeOwned>(response: Response) -> ClientResult<T> {
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(describe(&e)))?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Invalid(e.to_string()))
    }
}

/// The error chain of a reqwest error (its Display hides the cause, e.g. the TLS failure).
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A failed request: certificate problems apart, since they are not transient.
fn transport_error(err: &reqwest::Error) -> ClientError {
    let detail = describe(err);
    if detail.to_ascii_lowercase().contains("certificate") {
        ClientError::Tls(detail)
    } else {
        ClientError::Transport(detail)
    }
}

/// Turns a non-2xx answer into an error, with the JSON:API error's title and detail.
async fn error_from(response: Response) -> ClientError {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    let detail = error_detail(&body).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&body[..body.len().min(500)])
            .trim()
            .to_string();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("error").to_string()
        } else {
            text
        }
    });
    if status == StatusCode::UNAUTHORIZED {
        ClientError::Unauthorized(detail)
    } else {
        ClientError::Status {
            status: status.as_u16(),
            detail,
        }
    }
}

/// `{"errors":[{"title":..,"detail":..}]}` → "title: detail; ...".
fn error_detail(body: &[u8]) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let parts: Vec<String> = doc
        .get("errors")?
        .as_array()?
        .iter()
        .map(|e| {
            let field = |name| e.get(name).and_then(|v| v.as_str()).unwrap_or("");
            match (field("title"), field("detail")) {
                (t, "") => t.to_string(),
                ("", d) => d.to_string(),
                (t, d) => format!("{t}: {d}"),
            }
        })
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A listener's client (agent token).
#[derive(Clone)]
pub struct AgentClient {
    http: Http,
}

impl AgentClient {
    pub fn new(
        server_url: &str,
        agent_token: &str,
        ca_file: Option<&Path>,
    ) -> anyhow::Result<AgentClient> {
        Ok(AgentClient::with_client(
            http_client(ca_file)?,
            server_url,
            agent_token,
        ))
    }

    pub fn with_client(client: reqwest::Client, server_url: &str, agent_token: &str) -> Self {
        AgentClient {
            http: Http::new(client, server_url, agent_token),
        }
    }

    /// A client with a job token on the same connection pool (the listener reports for
    /// runners that died).
    pub fn job_client(&self, job_token: &str) -> JobClient {
        JobClient {
            http: Http::new(self.http.client.clone(), &self.http.base, job_token),
        }
    }

    async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> ClientResult<T> {
        let response = self
            .http
            .send(Retry::ONCE, REQUEST_TIMEOUT, || {
                self.http.request(Method::POST, path).json(body)
            })
            .await?;
        Http::json(response).await
    }

    /// Not retried here: the listener's loop backs off itself.
    pub async fn register(&self, request: &RegisterRequest) -> ClientResult<RegisterResponse> {
        self.post_json(paths::LISTENER, request).await
    }

    pub async fn heartbeat(
        &self,
        listener_id: &str,
        request: &HeartbeatRequest,
    ) -> ClientResult<HeartbeatResponse> {
        let path = format!("{}/{listener_id}/heartbeat", paths::LISTENER);
        self.post_json(&path, request).await
    }

    /// Long-polls for a job for up to `wait`; `None` when none came.
    pub async fn claim(
        &self,
        listener_id: &str,
        wait: Duration,
    ) -> ClientResult<Option<JobAssignment>> {
        let path = format!(
            "{}/{listener_id}/claim?wait={}",
            paths::LISTENER,
            wait.as_secs()
        );
        let response = self
            .http
            .send(Retry::ONCE, wait + Duration::from_secs(30), || {
                self.http.request(Method::POST, &path)
            })
            .await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        Http::json(response).await.map(Some)
    }
}

/// A runner's client (job token).
#[derive(Clone)]
pub struct JobClient {
    http: Http,
}

impl JobClient {
    pub fn new(server_url: &str, job_token: &str, ca_file: Option<&Path>) -> anyhow::Result<Self> {
        Ok(JobClient {
            http: Http::new(http_client(ca_file)?, server_url, job_token),
        })
    }

    fn path(tail: &str) -> String {
        format!("{}{tail}", paths::JOB)
    }

    async fn get(&self, tail: &str, timeout: Duration) -> ClientResult<Response> {
        let path = Self::path(tail);
        self.http
            .send(Retry::DEFAULT, timeout, || {
                self.http.request(Method::GET, &path)
            })
            .await
    }

    async fn get_bytes(&self, tail: &str) -> ClientResult<Option<Bytes>> {
        let response = match self.get(tail, TRANSFER_TIMEOUT).await {
            Ok(response) => response,
            Err(ClientError::Status { status: 404, .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        response
            .bytes()
            .await
            .map(Some)
            .map_err(|e| ClientError::Transport(describe(&e)))
    }

    pub async fn spec(&self) -> ClientResult<JobSpec> {
        Http::json(self.get("", REQUEST_TIMEOUT).await?).await
    }

    /// Streams the configuration tarball to `dest` (it may be large), starting over if the
    /// transfer breaks.
    pub async fn download_configuration(&self, dest: &Path) -> ClientResult<()> {
        let mut attempt = 0;
        loop {
            let result = async {
                let response = self.get("/configuration", TRANSFER_TIMEOUT).await?;
                let mut file = tokio::fs::File::create(dest)
                    .await
                    .map_err(|e| ClientError::Invalid(format!("cannot write the tarball: {e}")))?;
                let mut body = response.bytes_stream();
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.map_err(|e| ClientError::Transport(describe(&e)))?;
                    file.write_all(&chunk).await.map_err(|e| {
                        ClientError::Invalid(format!("cannot write the tarball: {e}"))
                    })?;
                }
                file.flush()
                    .await
                    .map_err(|e| ClientError::Invalid(format!("cannot write the tarball: {e}")))
            }
            .await;
            match result {
                Err(ClientError::Transport(_)) if attempt + 1 < Retry::DEFAULT.attempts => {
                    attempt += 1;
                    tokio::time::sleep(Retry::DEFAULT.delay(attempt)).await;
                }
                other => return other,
            }
        }
    }

    /// The raw state the job starts from; `None` when the workspace has none (204).
    pub async fn state(&self) -> ClientResult<Option<Bytes>> {
        self.get_bytes("/state").await
    }

    /// The private key of the SSH key assigned to the job's workspace; `None` without one
    /// (204, or 404 from a server without SSH keys).
    pub async fn ssh_key(&self) -> ClientResult<Option<Bytes>> {
        self.get_bytes("/ssh-key").await
    }

    /// An artifact of the run's plan; `None` if the plan job did not upload it (404).
    pub async fn artifact(&self, name: &str) -> ClientResult<Option<Bytes>> {
        self.get_bytes(&format!("/artifacts/{name}")).await
    }

    pub async fn put_artifact(&self, name: &str, data: Bytes) -> ClientResult<()> {
        let path = Self::path(&format!("/artifacts/{name}"));
        self.http
            .send(Retry::DEFAULT, TRANSFER_TIMEOUT, || {
                self.http
                    .request(Method::PUT, &path)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(data.clone())
            })
            .await
            .map(drop)
    }

    /// Appends `data` at `offset` (the log bytes sent before). A retry of a chunk the server
    /// already has is accepted, so retrying is safe.
    pub async fn append_log(&self, offset: u64, data: Bytes) -> ClientResult<LogAck> {
        let path = Self::path(&format!("/logs?offset={offset}"));
        let response = self
            .http
            .send(Retry::DEFAULT, REQUEST_TIMEOUT, || {
                self.http
                    .request(Method::POST, &path)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(data.clone())
            })
            .await?;
        Http::json(response).await
    }

    pub async fn create_state_version(&self, new: &NewState) -> ClientResult<NewStateResponse> {
        let path = Self::path("/state-versions");
        let response = self
            .http
            .send(Retry::PATIENT, REQUEST_TIMEOUT, || {
                self.http.request(Method::POST, &path).json(new)
            })
            .await?;
        Http::json(response).await
    }

    /// PUTs the raw state to the upload URL of [`create_state_version`](Self::create_state_version):
    /// a capability URL (so no Authorization), relative to the server URL or absolute.
    pub async fn upload_state(&self, upload_url: &str, data: Bytes) -> ClientResult<()> {
        let upload_url = if upload_url.starts_with('/') {
            self.http.url(upload_url)
        } else {
            upload_url.to_string()
        };
        let upload_url = upload_url.as_str();
        self.http
            .send(Retry::PATIENT, TRANSFER_TIMEOUT, || {
                self.http
                    .client
                    .put(upload_url)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(data.clone())
            })
            .await
            .map(drop)
    }

    /// Reports how the job ended; the job token dies with it.
    pub async fn finish(&self, outcome: &JobOutcome) -> ClientResult<()> {
        let path = Self::path("/finish");
        self.http
            .send(Retry::PATIENT, REQUEST_TIMEOUT, || {
                self.http.request(Method::POST, &path).json(outcome)
            })
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r = Retry::DEFAULT;
        assert_eq!(r.delay(1), Duration::from_millis(500));
        assert_eq!(r.delay(2), Duration::from_secs(1));
        assert_eq!(r.delay(4), Duration::from_secs(4));
        assert_eq!(r.delay(10), Duration::from_secs(15));
        assert_eq!(r.delay(100), Duration::from_secs(15));
    }

    #[test]
    fn jsonapi_errors_are_summarised() {
        let body = br#"{"errors":[{"status":"409","title":"conflict","detail":"job is over"}]}"#;
        assert_eq!(error_detail(body).unwrap(), "conflict: job is over");
        assert_eq!(error_detail(b"not json"), None);
        assert_eq!(error_detail(br#"{"errors":[]}"#), None);
    }

    #[test]
    fn transient_errors_are_transport_5xx_and_429() {
        assert!(ClientError::Transport("x".into()).is_transient());
        let status = |status| ClientError::Status {
            status,
            detail: String::new(),
        };
        assert!(status(503).is_transient());
        assert!(status(429).is_transient());
        assert!(!status(409).is_transient());
        assert!(!ClientError::Unauthorized(String::new()).is_transient());
    }
}
