//! `terrace smoke-test`: one plan through the public API, as go-tfe (and the CLI's `cloud`
//! block) would make it: ping, find or create a workspace, upload a one-resource
//! configuration (`terraform_data`, no provider to download) as a speculative configuration
//! version, create a plan-only run and follow it until it settles. It succeeds only when the
//! run is `planned_and_finished`, which proves the whole chain: the API, the database, the
//! blob store, a listener that claims the plan and a runner that executes terraform.
//!
//! It leaves one workspace behind, the same on every run (created only when missing), and
//! each test's configuration version and plan-only run in its history, as `terraform plan`
//! does. A run that times out is canceled, so it does not wait for an executor forever.
//!
//! The upload and log URLs the server gives are absolute, on its external URL; they are
//! followed on `--server-url`'s origin instead, so the test also works from inside a cluster
//! where the external name does not resolve (Helm's test hook talks to the Service).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use url::Url;

/// The configuration planned: one `terraform_data` resource (terraform's built-in provider,
/// nothing to download), so a successful plan says "1 to add".
pub const CONFIGURATION: &str = "# Planned by `terrace smoke-test`; never applied.\n\
resource \"terraform_data\" \"smoke_test\" {\n  input = \"terrace smoke test\"\n}\n";

const JSON_API: &str = "application/vnd.api+json";
/// The longest any single request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the run is looked at.
const POLL_EVERY: Duration = Duration::from_millis(1000);
/// Log lines shown when the plan fails.
const LOG_TAIL: usize = 20;

pub struct SmokeTest {
    /// The server's URL, e.g. `https://terrace.example.com` or `http://terrace:80`.
    pub server_url: String,
    pub token: String,
    pub ca_file: Option<PathBuf>,
    pub organization: String,
    pub workspace: String,
    /// How long the whole test may take.
    pub timeout: Duration,
}

/// Runs the smoke test, printing each step; an error says why it failed.
pub async fn run(test: SmokeTest) -> Result<()> {
    let started = Instant::now();
    let deadline = started + test.timeout;
    let api = Client::new(&test)?;
    let org = &test.organization;
    let name = &test.workspace;

    let version = api.ping(&test).await?;
    println!("ok: {} answers /api/v2/ping ({version})", api.origin_text());

    api.call(
        Method::GET,
        &api_path(&format!("/organizations/{org}")),
        None,
    )
    .await
    .map_err(|e| e.explain(&format!("reading organization {org:?}"), &test))?;
    let (workspace, created) = api.workspace(org, name, &test).await?;
    let workspace_id = id_of(&workspace)?;
    let mode = workspace["data"]["attributes"]["execution-mode"]
        .as_str()
        .unwrap_or("remote")
        .to_string();
    println!(
        "ok: workspace {org}/{name} ({workspace_id}, execution mode {mode}) {}",
        if created { "created" } else { "found" }
    );

    let cv = api
        .call(
            Method::POST,
            &api_path(&format!(
                "/workspaces/{workspace_id}/configuration-versions"
            )),
            Some(json!({"data": {"type": "configuration-versions",
                "attributes": {"auto-queue-runs": false, "speculative": true}}})),
        )
        .await
        .map_err(|e| e.explain("creating a configuration version", &test))?;
    let cv_id = id_of(&cv)?;
    let upload_url = cv["data"]["attributes"]["upload-url"]
        .as_str()
        .context("the configuration version has no upload-url")?;
    let archive = configuration_tarball()?;
    api.upload(upload_url, archive.clone())
        .await
        .map_err(|e| e.explain("uploading the configuration", &test))?;
    api.until_uploaded(&cv_id, deadline, &test).await?;
    println!(
        "ok: configuration version {cv_id} uploaded ({} bytes, one terraform_data resource)",
        archive.len()
    );

    let run = api
        .call(
            Method::POST,
            &api_path("/runs"),
            Some(json!({"data": {"type": "runs",
            "attributes": {"plan-only": true, "message": "terrace smoke-test"},
            "relationships": {
                "workspace": {"data": {"type": "workspaces", "id": workspace_id}},
                "configuration-version": {"data": {"type": "configuration-versions", "id": cv_id}}
            }}})),
        )
        .await
        .map_err(|e| e.explain("creating a plan-only run", &test))?;
    let run_id = id_of(&run)?;
    println!("ok: plan-only run {run_id} created");

    let run = api.follow(&run_id, deadline, &mode, &test).await?;
    let status = run["data"]["attributes"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let plan_id = run["data"]["relationships"]["plan"]["data"]["id"]
        .as_str()
        .context("the run has no plan")?
        .to_string();
    let plan = api
        .call(Method::GET, &api_path(&format!("/plans/{plan_id}")), None)
        .await
        .map_err(|e| e.explain("reading the run's plan", &test))?;
    let attributes = &plan["data"]["attributes"];
    let count = |key: &str| attributes[key].as_i64().unwrap_or(0);
    println!(
        "plan {plan_id}: {}, {} to add, {} to change, {} to destroy",
        attributes["status"].as_str().unwrap_or("?"),
        count("resource-additions"),
        count("resource-changes"),
        count("resource-destructions"),
    );
    if status != "planned_and_finished" {
        let log = match attributes["log-read-url"].as_str() {
            Some(url) => api
                .log_tail(url)
                .await
                .unwrap_or_else(|e| format!("(the plan log cannot be read: {e:#})")),
            None => "(the plan has no log URL)".to_string(),
        };
        bail!(
            "run {run_id} is {status}, not planned_and_finished: the plan failed. The last \
             lines of its log:\n{log}"
        );
    }
    println!(
        "smoke test passed: run {run_id} is planned_and_finished ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `/api/v2` + `path`.
fn api_path(path: &str) -> String {
    format!("/api/v2{path}")
}

fn id_of(document: &Value) -> Result<String> {
    document["data"]["id"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("unexpected answer, without data.id: {document}"))
}

/// The configuration as a gzip'd tarball, built in memory.
pub fn configuration_tarball() -> Result<Vec<u8>> {
    let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut header = tar::Header::new_ustar();
    header.set_size(CONFIGURATION.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    archive.append_data(&mut header, "main.tf", CONFIGURATION.as_bytes())?;
    Ok(archive.into_inner()?.finish()?)
}

/// `url` (an absolute URL the server gave, on its external URL) with `origin`'s scheme,
/// host and port: the same path and query on the address this client uses.
pub fn rebase(url: &str, origin: &Url) -> Result<Url> {
    let mut url = Url::parse(url).with_context(|| format!("a URL from the server: {url:?}"))?;
    url.set_scheme(origin.scheme())
        .map_err(|()| anyhow!("cannot use scheme {}", origin.scheme()))?;
    url.set_host(origin.host_str())?;
    url.set_port(origin.port())
        .map_err(|()| anyhow!("cannot set the port"))?;
    Ok(url)
}

/// The last `n` lines of a run log (without its STX/ETX framing): terraform's JSON lines as
/// their `@message`, text lines without ANSI escapes; blank lines left out.
pub fn log_tail(log: &str, n: usize) -> Vec<String> {
    let lines: Vec<String> = log
        .trim_start_matches('\u{2}')
        .trim_end_matches('\u{3}')
        .lines()
        .map(|line| {
            match serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| v.get("@message").and_then(Value::as_str).map(String::from))
            {
                Some(message) => message,
                None => strip_ansi(line),
            }
        })
        .filter(|line| !line.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // Parameters up to the final byte (a letter or one of @[\]^_`{|}~).
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A failed request: the server's answer, or none.
#[derive(Debug)]
enum Failure {
    Status { status: StatusCode, detail: String },
    Transport(anyhow::Error),
}

impl Failure {
    /// The failure in a few words, for a line of progress.
    fn short(&self) -> String {
        match self {
            Failure::Status { status, detail } => format!("{status} {detail}"),
            Failure::Transport(err) => format!("{err:#}"),
        }
    }

    fn transient(&self) -> bool {
        match self {
            Failure::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            Failure::Transport(_) => true,
        }
    }

    /// The failure of `doing`, explained for whoever runs the test.
    fn explain(self, doing: &str, test: &SmokeTest) -> anyhow::Error {
        let (status, detail) = match self {
            Failure::Transport(err) => {
                let text = format!("{err:#}");
                let hint = if text.to_ascii_lowercase().contains("certificate") {
                    " (is the CA of the server's certificate trusted? --ca-file)"
                } else {
                    ""
                };
                return anyhow!("{doing}: cannot reach {}{hint}: {text}", test.server_url);
            }
            Failure::Status { status, detail } => (status, detail),
        };
        let org = &test.organization;
        let why = match status.as_u16() {
            401 => "the server refused the token: it is not a valid API token, or it expired, \
                    was revoked or its user is suspended. Use a user or team token \
                    (`terrace admin token create --user NAME`)"
                .to_string(),
            403 => format!(
                "the token is not allowed to: its user or team needs to queue plans in \
                 organization {org:?} (and to create workspace {:?} unless it exists); agent \
                 and organization tokens cannot create runs",
                test.workspace
            ),
            404 => format!(
                "not found: organization {org:?} does not exist, or the token's user or team \
                 is not given access to it (--organization)"
            ),
            _ => "the server refused".to_string(),
        };
        if detail.is_empty() {
            anyhow!("{doing}: {} {why}", status.as_u16())
        } else {
            anyhow!("{doing}: {} {why} ({detail})", status.as_u16())
        }
    }
}

struct Client {
    http: reqwest::Client,
    /// `--server-url` without its trailing slash.
    base: String,
    origin: Url,
    token: String,
}

impl Client {
    fn new(test: &SmokeTest) -> Result<Client> {
        let base = test.server_url.trim_end_matches('/').to_string();
        let origin = Url::parse(&base).with_context(|| format!("--server-url {base:?}"))?;
        if !matches!(origin.scheme(), "http" | "https") || origin.host_str().is_none() {
            bail!("--server-url {base:?} is not an http(s) URL");
        }
        Ok(Client {
            http: terrace_runner_listener::client::http_client(test.ca_file.as_deref())?,
            base,
            origin,
            token: test.token.clone(),
        })
    }

    fn origin_text(&self) -> &str {
        &self.base
    }

    async fn ping(&self, test: &SmokeTest) -> Result<String> {
        let url = format!("{}/api/v2/ping", self.base);
        let response = self
            .http
            .get(&url)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| Failure::Transport(e.into()).explain("checking /api/v2/ping", test))?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        match (status.is_success(), header("tfp-api-version")) {
            (true, Some(version)) => Ok(format!(
                "{} API {version}",
                header("tfp-appname").unwrap_or_else(|| "TFE".into())
            )),
            _ => bail!(
                "{url} answered {status} without TFP-API-Version: is --server-url a Terrace \
                 (or TFE) server?"
            ),
        }
    }

    /// Sends a JSON:API request to a path of the server; the answer's document (or `null`).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header(reqwest::header::ACCEPT, JSON_API)
            .timeout(REQUEST_TIMEOUT);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, JSON_API)
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Transport(e.without_url().into()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Failure::Transport(e.without_url().into()))?;
        let document: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(document);
        }
        Err(Failure::Status {
            status,
            detail: error_detail(&document),
        })
    }

    /// PUTs the archive to the upload URL (a capability: no token).
    async fn upload(&self, url: &str, archive: Vec<u8>) -> Result<(), Failure> {
        let url = rebase(url, &self.origin).map_err(Failure::Transport)?;
        let response = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .timeout(REQUEST_TIMEOUT)
            .body(archive)
            .send()
            .await
            .map_err(|e| Failure::Transport(e.without_url().into()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let document: Value = response.json().await.unwrap_or(Value::Null);
        Err(Failure::Status {
            status,
            detail: error_detail(&document),
        })
    }

    /// Finds the workspace, or creates it; and whether it was created.
    async fn workspace(&self, org: &str, name: &str, test: &SmokeTest) -> Result<(Value, bool)> {
        let path = api_path(&format!("/organizations/{org}/workspaces/{name}"));
        match self.call(Method::GET, &path, None).await {
            Ok(found) => return Ok((found, false)),
            Err(Failure::Status { status, .. }) if status == StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e.explain(&format!("reading workspace {org}/{name}"), test)),
        }
        let created = self
            .call(
                Method::POST,
                &api_path(&format!("/organizations/{org}/workspaces")),
                Some(json!({"data": {"type": "workspaces", "attributes": {
                    "name": name,
                    "description": "Plans of `terrace smoke-test` (never applied); reused by each test.",
                    "auto-apply": false
                }}})),
            )
            .await;
        match created {
            Ok(created) => Ok((created, true)),
            // Another test made it in the meantime.
            Err(Failure::Status { status, .. })
                if status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::CONFLICT =>
            {
                match self.call(Method::GET, &path, None).await {
                    Ok(found) => Ok((found, false)),
                    Err(e) => Err(e.explain(&format!("creating workspace {org}/{name}"), test)),
                }
            }
            Err(e) => Err(e.explain(&format!("creating workspace {org}/{name}"), test)),
        }
    }

    /// Waits for the configuration version to be `uploaded` (its archive checked).
    async fn until_uploaded(&self, cv_id: &str, deadline: Instant, test: &SmokeTest) -> Result<()> {
        let path = api_path(&format!("/configuration-versions/{cv_id}"));
        loop {
            let cv = self
                .call(Method::GET, &path, None)
                .await
                .map_err(|e| e.explain("reading the configuration version", test))?;
            let attributes = &cv["data"]["attributes"];
            match attributes["status"].as_str().unwrap_or_default() {
                "uploaded" => return Ok(()),
                "errored" => bail!(
                    "the configuration version {cv_id} errored: {}",
                    attributes["error-message"]
                        .as_str()
                        .unwrap_or("no reason given")
                ),
                status if Instant::now() >= deadline => bail!(
                    "timed out after {} s: configuration version {cv_id} is still {status}",
                    test.timeout.as_secs()
                ),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Follows the run until it settles (a final status, or one waiting for someone); prints
    /// each status it passes through. On timeout the run is canceled.
    async fn follow(
        &self,
        run_id: &str,
        deadline: Instant,
        mode: &str,
        test: &SmokeTest,
    ) -> Result<Value> {
        const SETTLED: &[&str] = &[
            "planned",
            "cost_estimated",
            "policy_checked",
            "policy_override",
            "policy_soft_failed",
            "planned_and_finished",
            "planned_and_saved",
            "applied",
            "discarded",
            "errored",
            "canceled",
            "force_canceled",
        ];
        let path = api_path(&format!("/runs/{run_id}"));
        let mut last = String::new();
        loop {
            match self.call(Method::GET, &path, None).await {
                Ok(run) => {
                    let status = run["data"]["attributes"]["status"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    if status != last {
                        println!("run {run_id}: {status}");
                        last = status.clone();
                    }
                    if SETTLED.contains(&status.as_str()) {
                        return Ok(run);
                    }
                }
                Err(e) if e.transient() && Instant::now() < deadline => {
                    println!(
                        "run {run_id}: cannot read it now ({}), trying again",
                        e.short()
                    );
                }
                Err(e) => return Err(e.explain("reading the run", test)),
            }
            if Instant::now() >= deadline {
                let why = match last.as_str() {
                    "pending" | "plan_queued" if mode == "agent" => {
                        " (no agent of the workspace's agent pool took its plan: is a \
                         `terrace listener` running with one of the pool's tokens?)"
                    }
                    "pending" | "plan_queued" => {
                        " (no listener took its plan: is a `terrace listener` running with a \
                         listener token of this server, and has it capacity left?)"
                    }
                    _ => "",
                };
                let canceled = match self
                    .call(
                        Method::POST,
                        &api_path(&format!("/runs/{run_id}/actions/cancel")),
                        Some(json!({"comment": "terrace smoke-test timed out"})),
                    )
                    .await
                {
                    Ok(_) => "; it was canceled".to_string(),
                    Err(e) => format!("; canceling it failed: {:#}", e.explain("canceling", test)),
                };
                bail!(
                    "timed out after {} s: run {run_id} is still {last}{why}{canceled}",
                    test.timeout.as_secs()
                );
            }
            tokio::time::sleep(POLL_EVERY.min(deadline.saturating_duration_since(Instant::now())))
                .await;
        }
    }

    /// The last lines of a phase's log, read from its log URL (a capability: no token).
    async fn log_tail(&self, url: &str) -> Result<String> {
        let mut url = rebase(url, &self.origin)?;
        let mut log = Vec::new();
        // A smoke test's log is small; read at most 8 MiB of it, 1 MiB at a time.
        for _ in 0..8 {
            url.query_pairs_mut()
                .clear()
                .append_pair("offset", &log.len().to_string())
                .append_pair("limit", &(1u64 << 20).to_string());
            let response = self
                .http
                .get(url.clone())
                .timeout(REQUEST_TIMEOUT)
                .send()
                .await
                .map_err(reqwest::Error::without_url)?
                .error_for_status()
                .map_err(reqwest::Error::without_url)?;
            let chunk = response.bytes().await?;
            log.extend_from_slice(&chunk);
            if chunk.len() < 1 << 20 {
                break;
            }
        }
        let lines = log_tail(&String::from_utf8_lossy(&log), LOG_TAIL);
        if lines.is_empty() {
            return Ok("(the plan log is empty)".to_string());
        }
        Ok(lines
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

/// The JSON:API errors' titles and details, joined.
fn error_detail(document: &Value) -> String {
    document["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let title = e["title"].as_str().unwrap_or_default();
            match e["detail"].as_str() {
                Some(detail) if !detail.is_empty() && detail != title => {
                    format!("{title}: {detail}")
                }
                _ => title.to_string(),
            }
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_is_an_archive_the_server_accepts() {
        let archive = configuration_tarball().unwrap();
        terrace_slug::check(&archive[..], &terrace_slug::Limits::default()).unwrap();
        let mut names = Vec::new();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&archive[..]));
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            names.push((entry.path().unwrap().display().to_string(), text));
        }
        assert_eq!(names, [("main.tf".to_string(), CONFIGURATION.to_string())]);
    }

    #[test]
    fn server_urls_are_followed_on_the_address_given() {
        let origin = Url::parse("http://prod-terrace:80").unwrap();
        assert_eq!(
            rebase(
                "https://terrace.example.com/_uploads/configuration/abc?x=1",
                &origin
            )
            .unwrap()
            .as_str(),
            "http://prod-terrace/_uploads/configuration/abc?x=1"
        );
        let origin = Url::parse("https://localhost:8443/").unwrap();
        assert_eq!(
            rebase("https://localhost:8443/_logs/t", &origin)
                .unwrap()
                .as_str(),
            "https://localhost:8443/_logs/t"
        );
    }

    #[test]
    fn the_log_tail_reads_json_lines_and_text() {
        let log = "\u{2}{\"@level\":\"info\",\"@message\":\"Terraform 1.9.0\"}\n\n\
                   \u{1b}[31mError:\u{1b}[0m bad\nlast\n\u{3}";
        assert_eq!(log_tail(log, 2), ["Error: bad", "last"]);
        assert_eq!(log_tail(log, 10), ["Terraform 1.9.0", "Error: bad", "last"]);
    }

    #[test]
    fn errors_name_their_titles_and_details() {
        let doc = json!({"errors": [{"status": "404", "title": "not found", "detail": "workspace x"},
                                    {"title": "same", "detail": "same"}]});
        assert_eq!(error_detail(&doc), "not found: workspace x; same");
        assert_eq!(error_detail(&Value::Null), "");
    }
}
