//! The runner: executes one job (a plan or an apply) with its job token, then exits.
//!
//! It fetches the job's spec, unpacks the configuration into a fresh directory, makes
//! terraform use a local backend with the workspace's state, writes the variables as
//! `-var-file`s, runs `terraform init` and then `plan` or `apply` in a clean environment while
//! streaming the output to the server, uploads what the run produced (plan, plan JSON,
//! provider schemas, lock file; or the new state) and reports how the job ended.
//!
//! `run_job` returns `Ok` once the outcome is reported (or the job turned out to be gone);
//! an `Err` means it could not report, and whoever started the runner should.

mod cli_config;
mod env;
mod job;
mod logs;
mod ssh;
mod summary;
mod terraform;
mod tools;
mod varfiles;
mod version;
mod workdir;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use terrace_protocol::JobOutcome;
pub use terrace_slug::Limits;
use tokio::sync::watch;

use crate::client::{ClientError, JobClient};
use crate::confine::Unconfined;
use logs::{raise, JobLog, Stop};

/// Environment variables `run_job_from_env` reads (also what a listener sets for a runner).
pub mod vars {
    pub const SERVER_URL: &str = "TERRACE_SERVER_URL";
    pub const JOB_TOKEN: &str = "TERRACE_JOB_TOKEN";
    pub const CA_FILE: &str = "TERRACE_CA_FILE";
    /// The CAs as PEM text, for runners in pods (from the job's Secret); used when
    /// `TERRACE_CA_FILE` is not set.
    pub const CA_PEM: &str = "TERRACE_CA_PEM";
    pub const TERRAFORM_BIN: &str = "TERRACE_TERRAFORM_BIN";
    pub const TERRAFORM_VERSIONS_DIR: &str = "TERRACE_TERRAFORM_VERSIONS_DIR";
    /// Where catalogue binaries are cached (`<work dir>/terrace-tools` if unset).
    pub const TOOLS_CACHE_DIR: &str = "TERRACE_TOOLS_CACHE_DIR";
    pub const WORK_DIR: &str = "TERRACE_WORK_DIR";
    /// A filesystem mirror of providers, which runs install those it holds from.
    pub const PROVIDER_MIRROR_DIR: &str = "TERRACE_PROVIDER_MIRROR_DIR";
    /// `true`: providers of other registries come from their registries, not the server's
    /// network mirror.
    pub const DIRECT_PROVIDERS: &str = "TERRACE_DIRECT_PROVIDERS";
    /// Paths runs may read besides the system's, separated by `:`.
    pub const READ_PATHS: &str = "TERRACE_RUN_READ_PATHS";
    /// What to do where jobs cannot be confined (`confine::Unconfined`).
    pub const UNCONFINED: &str = "TERRACE_UNCONFINED_RUNS";
    /// The configuration's limits once unpacked (bytes, entries); the defaults otherwise.
    pub const MAX_UNPACKED_BYTES: &str = "TERRACE_MAX_CONFIGURATION_UNPACKED_BYTES";
    pub const MAX_ENTRIES: &str = "TERRACE_MAX_CONFIGURATION_ENTRIES";
}

/// The default time terraform gets to stop after a cancel before it is killed.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(20);

#[derive(Clone)]
pub struct RunnerConfig {
    /// The server's base URL, e.g. `https://terrace.example:8443`.
    pub server_url: String,
    /// The job token (`JobAssignment.token`): the runner's only credential.
    pub job_token: String,
    /// A PEM file of extra CAs to trust (e.g. the server's self-signed one).
    pub ca_file: Option<PathBuf>,
    /// The default terraform binary: a path, or a name looked up on PATH.
    pub terraform_bin: PathBuf,
    /// Other terraform versions: `<dir>/<version>/terraform` or `<dir>/terraform_<version>`.
    pub versions_dir: Option<PathBuf>,
    /// Where the binaries of catalogue versions are cached on this node; `None`:
    /// `<work_dir>/terrace-tools`.
    pub tools_cache_dir: Option<PathBuf>,
    /// Where the job's temporary directory is made (and removed afterwards).
    pub work_dir: PathBuf,
    /// A filesystem mirror (terraform's packed or unpacked layout): the providers it holds
    /// are installed from it and from nowhere else.
    pub provider_mirror: Option<PathBuf>,
    /// Providers of other registries come from each provider's registry, not from the
    /// server's network mirror.
    pub direct_providers: bool,
    /// How long terraform gets to stop after a cancel before it is killed.
    pub grace_period: Duration,
    /// Paths terraform may read besides the system's and its own binary.
    pub read_paths: Vec<PathBuf>,
    /// Whether jobs run where they cannot be confined.
    pub unconfined: Unconfined,
    /// What the configuration tarball may unpack to.
    pub configuration_limits: Limits,
}

impl RunnerConfig {
    pub fn new(server_url: impl Into<String>, job_token: impl Into<String>) -> RunnerConfig {
        RunnerConfig {
            server_url: server_url.into(),
            job_token: job_token.into(),
            ca_file: None,
            terraform_bin: PathBuf::from("terraform"),
            versions_dir: None,
            tools_cache_dir: None,
            work_dir: std::env::temp_dir(),
            provider_mirror: None,
            direct_providers: false,
            grace_period: DEFAULT_GRACE_PERIOD,
            read_paths: Vec::new(),
            unconfined: Unconfined::Refuse,
            configuration_limits: Limits::default(),
        }
    }

    /// From `TERRACE_SERVER_URL`, `TERRACE_JOB_TOKEN` (both required), `TERRACE_CA_FILE`,
    /// `TERRACE_TERRAFORM_BIN`, `TERRACE_TERRAFORM_VERSIONS_DIR`, `TERRACE_WORK_DIR`,
    /// `TERRACE_PROVIDER_MIRROR_DIR` and the confinement and limit variables of [`vars`].
    pub fn from_env() -> anyhow::Result<RunnerConfig> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<RunnerConfig> {
        let get = |key: &str| get(key).filter(|v| !v.is_empty());
        let server_url =
            get(vars::SERVER_URL).with_context(|| format!("{} is not set", vars::SERVER_URL))?;
        let job_token =
            get(vars::JOB_TOKEN).with_context(|| format!("{} is not set", vars::JOB_TOKEN))?;
        let mut config = RunnerConfig::new(server_url, job_token);
        config.ca_file = get(vars::CA_FILE).map(PathBuf::from);
        if config.ca_file.is_none() {
            if let Some(pem) = get(vars::CA_PEM) {
                // The HTTP client reads CAs from a file: keep one for the runner's lifetime.
                let mut file = tempfile::Builder::new()
                    .prefix("terrace-ca-")
                    .suffix(".pem")
                    .tempfile()
                    .context("cannot write the CA bundle")?;
                std::io::Write::write_all(&mut file, pem.as_bytes())
                    .context("cannot write the CA bundle")?;
                let (_, path) = file.keep().context("cannot keep the CA bundle")?;
                config.ca_file = Some(path);
            }
        }
        if let Some(bin) = get(vars::TERRAFORM_BIN) {
            config.terraform_bin = PathBuf::from(bin);
        }
        config.versions_dir = get(vars::TERRAFORM_VERSIONS_DIR).map(PathBuf::from);
        config.tools_cache_dir = get(vars::TOOLS_CACHE_DIR).map(PathBuf::from);
        if let Some(dir) = get(vars::WORK_DIR) {
            config.work_dir = PathBuf::from(dir);
        }
        config.provider_mirror = get(vars::PROVIDER_MIRROR_DIR).map(PathBuf::from);
        config.direct_providers = get(vars::DIRECT_PROVIDERS).as_deref() == Some("true");
        if let Some(paths) = get(vars::READ_PATHS) {
            config.read_paths = std::env::split_paths(&paths).collect();
        }
        if let Some(policy) = get(vars::UNCONFINED) {
            config.unconfined = Unconfined::from_env(&policy);
        }
        let number = |key: &str| {
            get(key)
                .map(|v| {
                    v.parse::<u64>()
                        .with_context(|| format!("{key} is not a number: {v}"))
                })
                .transpose()
        };
        if let Some(bytes) = number(vars::MAX_UNPACKED_BYTES)? {
            config.configuration_limits.max_unpacked_bytes = bytes;
        }
        if let Some(entries) = number(vars::MAX_ENTRIES)? {
            config.configuration_limits.max_entries = entries;
        }
        Ok(config)
    }
}

impl RunnerConfig {
    /// Where catalogue binaries are cached.
    pub fn tools_cache(&self) -> PathBuf {
        self.tools_cache_dir
            .clone()
            .unwrap_or_else(|| self.work_dir.join("terrace-tools"))
    }
}

impl std::fmt::Debug for RunnerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerConfig")
            .field("server_url", &self.server_url)
            .field("job_token", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .field("terraform_bin", &self.terraform_bin)
            .field("versions_dir", &self.versions_dir)
            .field("tools_cache_dir", &self.tools_cache_dir)
            .field("work_dir", &self.work_dir)
            .field("provider_mirror", &self.provider_mirror)
            .field("direct_providers", &self.direct_providers)
            .field("grace_period", &self.grace_period)
            .field("read_paths", &self.read_paths)
            .field("unconfined", &self.unconfined)
            .field("configuration_limits", &self.configuration_limits)
            .finish()
    }
}

/// [`run_job`] with the configuration of [`RunnerConfig::from_env`]: what `terrace runner`
/// and runner pods call.
pub async fn run_job_from_env() -> anyhow::Result<()> {
    // The job token is in this process's environment: keep it from terraform, which runs as
    // the same user.
    crate::confine::make_non_dumpable();
    run_job(RunnerConfig::from_env()?).await
}

/// Executes the job the token is for, reports how it ended, and removes its directory.
pub async fn run_job(config: RunnerConfig) -> anyhow::Result<()> {
    let client = JobClient::new(
        &config.server_url,
        &config.job_token,
        config.ca_file.as_deref(),
    )?;
    let spec = match client.spec().await {
        Ok(spec) => spec,
        Err(err) if job_gone(&err) => {
            tracing::info!(error = %err, "the job is gone or over: nothing to do");
            return Ok(());
        }
        Err(err) => return Err(anyhow::Error::new(err).context("cannot fetch the job")),
    };
    tracing::info!(job = %spec.job_id, run = %spec.run_id, kind = ?spec.kind, "running a job");
    std::fs::create_dir_all(&config.work_dir)
        .with_context(|| format!("cannot create {}", config.work_dir.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("terrace-job-")
        .tempdir_in(&config.work_dir)
        .with_context(|| format!("cannot make a directory in {}", config.work_dir.display()))?;

    let (stop_tx, stop_rx) = watch::channel(Stop::Running);
    let shut_down = Arc::new(AtomicBool::new(false));
    let signals = tokio::spawn(watch_signals(stop_tx.clone(), shut_down.clone()));
    let log = JobLog::start(
        client.clone(),
        spec.structured_output,
        spec.log_offset,
        stop_tx.clone(),
    );
    let result = job::Job::new(&config, &client, &spec, &log, &stop_tx, stop_rx, dir.path())
        .execute()
        .await;
    let stop = *stop_tx.borrow();
    let mut outcome = outcome(&result, stop);
    if shut_down.load(Ordering::SeqCst) && outcome.status != "finished" {
        // Not a user's cancel: the run must not look canceled on purpose.
        outcome = JobOutcome {
            status: "errored".into(),
            error: Some(SHUT_DOWN.into()),
            ..JobOutcome::default()
        };
    }
    if let Err(job::Failure::Error(reason)) = &result {
        if stop < Stop::Cancel {
            log.note(format!("Error: {reason}")).await;
        }
    }
    if outcome.status == "canceled" {
        log.note("The job was canceled.").await;
    } else if outcome.error.as_deref() == Some(SHUT_DOWN) {
        log.note(format!("Error: {SHUT_DOWN}")).await;
    }
    signals.abort();
    log.close().await;
    if let Err(err) = dir.close() {
        tracing::warn!(error = %err, "cannot remove the job's directory");
    }
    if *stop_tx.borrow() == Stop::Gone {
        tracing::info!(job = %spec.job_id, "the job is gone from the server: not reporting");
        return Ok(());
    }
    match client.finish(&outcome).await {
        Ok(()) => {
            tracing::info!(job = %spec.job_id, status = %outcome.status, "job finished");
            Ok(())
        }
        Err(err) if job_gone(&err) => {
            tracing::info!(job = %spec.job_id, error = %err, "the job ended on the server meanwhile");
            Ok(())
        }
        Err(err) => Err(anyhow::Error::new(err).context("cannot report how the job ended")),
    }
}

/// 401 (the token was revoked with its job) or 409 (the job is over).
fn job_gone(err: &ClientError) -> bool {
    matches!(err.status(), Some(401) | Some(409))
}

fn outcome(result: &Result<job::Report, job::Failure>, stop: Stop) -> JobOutcome {
    match result {
        Ok(report) => JobOutcome {
            status: "finished".into(),
            has_changes: report.has_changes,
            additions: report.counts.additions,
            changes: report.counts.changes,
            destructions: report.counts.destructions,
            imports: report.counts.imports,
            error: None,
        },
        Err(_) if stop >= Stop::Cancel => JobOutcome {
            status: "canceled".into(),
            ..JobOutcome::default()
        },
        Err(job::Failure::Stopped) => JobOutcome {
            status: "canceled".into(),
            ..JobOutcome::default()
        },
        Err(job::Failure::Error(reason)) => JobOutcome {
            status: "errored".into(),
            error: Some(reason.clone()),
            ..JobOutcome::default()
        },
    }
}

const SHUT_DOWN: &str =
    "the runner was stopped before the job finished (its listener or pod shut down)";

/// SIGINT to the runner is a cancel (terraform is interrupted), SIGTERM a shutdown (the same,
/// but the job then ends errored, not canceled); a second signal kills terraform.
async fn watch_signals(stop: watch::Sender<Stop>, shut_down: Arc<AtomicBool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot handle signals: the runner cannot be canceled by one");
        return;
    };
    let mut received = 0;
    loop {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => shut_down.store(true, Ordering::SeqCst),
        }
        received += 1;
        tracing::info!(received, "signal received: stopping the job");
        raise(
            &stop,
            if received == 1 {
                Stop::Cancel
            } else {
                Stop::Force
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn config_from_env() {
        let vars: HashMap<&str, &str> = [
            ("TERRACE_SERVER_URL", "https://t.example:8443"),
            ("TERRACE_JOB_TOKEN", "secret"),
            ("TERRACE_CA_FILE", "/ca.pem"),
            ("TERRACE_TERRAFORM_BIN", "/opt/terraform"),
            ("TERRACE_TERRAFORM_VERSIONS_DIR", ""),
            ("TERRACE_WORK_DIR", "/var/lib/terrace"),
            ("TERRACE_MAX_CONFIGURATION_ENTRIES", "500"),
            ("TERRACE_PROVIDER_MIRROR_DIR", "/srv/providers"),
        ]
        .into();
        let config = RunnerConfig::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(config.server_url, "https://t.example:8443");
        assert_eq!(config.job_token, "secret");
        assert_eq!(config.ca_file, Some(PathBuf::from("/ca.pem")));
        assert_eq!(config.terraform_bin, PathBuf::from("/opt/terraform"));
        assert_eq!(config.versions_dir, None);
        assert_eq!(config.work_dir, PathBuf::from("/var/lib/terrace"));
        assert_eq!(
            config.provider_mirror,
            Some(PathBuf::from("/srv/providers"))
        );
        assert_eq!(config.grace_period, DEFAULT_GRACE_PERIOD);
        assert_eq!(
            config.configuration_limits,
            Limits {
                max_entries: 500,
                ..Limits::default()
            }
        );
        assert!(!format!("{config:?}").contains("secret"));

        let err = RunnerConfig::from_lookup(|_| None).unwrap_err();
        assert!(err.to_string().contains("TERRACE_SERVER_URL"));
    }

    #[test]
    fn outcomes() {
        let err = Err(job::Failure::Error("terraform plan failed".into()));
        let o = outcome(&err, Stop::Running);
        assert_eq!(o.status, "errored");
        assert_eq!(o.error.as_deref(), Some("terraform plan failed"));
        // A failure after a cancel is the cancel's doing.
        assert_eq!(outcome(&err, Stop::Cancel).status, "canceled");
        assert_eq!(
            outcome(&Err(job::Failure::Stopped), Stop::Running).status,
            "canceled"
        );
        let ok = Ok(job::Report {
            has_changes: true,
            counts: summary::Counts {
                additions: 1,
                ..Default::default()
            },
        });
        let o = outcome(&ok, Stop::Cancel);
        assert_eq!(o.status, "finished");
        assert!(o.has_changes);
        assert_eq!(o.additions, 1);
    }
}
