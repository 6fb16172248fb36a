//! The listener: registers with the server, claims jobs (long polls) while it has capacity,
//! starts a runner process per job, and heartbeats with the jobs it runs, relaying cancels.
//!
//! Everything happens in one event loop over a few in-flight requests (registration, claim,
//! heartbeat) and the runners' exits, so nothing blocks anything else and an idle listener
//! only waits on its long poll and its heartbeat timer. When the server is unreachable (it may
//! be restarting) requests back off, up to 30 s apart.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use terrace_protocol::{
    HeartbeatRequest, HeartbeatResponse, JobAssignment, JobOutcome, RegisterRequest,
    RegisterResponse,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::client::{AgentClient, ClientResult};
use crate::confine::{RunAs, Unconfined};
use crate::kubernetes::{self, KubernetesConfig, PodHandle, PodResult};
use crate::process::{describe_exit, signal_group, signal_process};
use crate::runner::vars;
use crate::runs_dir::RunsDir;

#[derive(Clone)]
pub struct ListenerConfig {
    /// The server's base URL, e.g. `https://terrace.example:8443`.
    pub server_url: String,
    /// The agent token of the listener's pool.
    pub agent_token: String,
    /// A PEM file of extra CAs to trust; passed on to runners.
    pub ca_file: Option<PathBuf>,
    /// The listener's name, shown in the API.
    pub name: String,
    /// Jobs run at once.
    pub capacity: u32,
    /// `local` (runner processes on this machine) or `kubernetes` (a Job per job).
    pub executor: String,
    /// The `kubernetes` executor's settings.
    pub kubernetes: KubernetesConfig,
    /// The program and arguments that start a runner (it reads `TERRACE_*` variables).
    pub runner_command: Vec<String>,
    /// Where runners make their job directories.
    pub work_dir: PathBuf,
    /// The user local runners run as (a root listener must not run jobs as root).
    pub run_as: Option<RunAs>,
    /// Paths runs may read besides the system's (a provider mirror, tools provisioners run).
    pub read_paths: Vec<PathBuf>,
    /// What runners do where Landlock cannot confine jobs.
    pub unconfined: Unconfined,
    /// The default terraform binary, for runners.
    pub terraform_bin: PathBuf,
    /// Other terraform versions, for runners.
    pub versions_dir: Option<PathBuf>,
    /// A filesystem mirror runs install the providers it holds from (for runner pods, a path
    /// in the pod: a mirror baked into the runner image).
    pub provider_mirror: Option<PathBuf>,
    /// Runs install other registries' providers from those registries, not through the
    /// server's network mirror.
    pub direct_providers: bool,
    /// Where runners cache the binaries of catalogue versions (`<work_dir>/terrace-tools` if
    /// unset). In a runner pod, a path of the pod (an emptyDir unless a volume is mounted).
    pub tools_cache_dir: Option<PathBuf>,
    pub heartbeat_interval: Duration,
    /// How long one claim waits for a job (the server caps it at 30 s).
    pub claim_wait: Duration,
    /// On shutdown, how long runners get to stop after their SIGINT before they are killed.
    pub grace_period: Duration,
    /// What configuration tarballs may unpack to, for runners.
    pub configuration_limits: crate::runner::Limits,
    /// Where the listener tells whether it reaches the server (the server shows its built-in
    /// listener's in `/readyz`, its banner and waiting runs).
    pub connection: Option<Arc<watch::Sender<Connection>>>,
}

/// Whether a listener reaches its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Not registered yet.
    Connecting,
    /// Registered, and its last request succeeded.
    Connected,
    /// Its requests fail (why); it keeps trying.
    Failing(String),
    /// It stopped (why): it no longer claims jobs.
    Stopped(String),
}

impl ListenerConfig {
    pub fn new(server_url: impl Into<String>, agent_token: impl Into<String>) -> ListenerConfig {
        ListenerConfig {
            server_url: server_url.into(),
            agent_token: agent_token.into(),
            ca_file: None,
            name: hostname(),
            capacity: 1,
            executor: "local".to_string(),
            kubernetes: KubernetesConfig::default(),
            runner_command: default_runner_command(),
            work_dir: std::env::temp_dir(),
            run_as: RunAs::default_for_current_user(),
            read_paths: Vec::new(),
            unconfined: Unconfined::Refuse,
            terraform_bin: PathBuf::from("terraform"),
            versions_dir: None,
            provider_mirror: None,
            direct_providers: false,
            tools_cache_dir: None,
            heartbeat_interval: Duration::from_secs(10),
            claim_wait: Duration::from_secs(25),
            // The runner's own grace period for terraform, and time to report.
            grace_period: crate::runner::DEFAULT_GRACE_PERIOD + Duration::from_secs(10),
            configuration_limits: crate::runner::Limits::default(),
            connection: None,
        }
    }
}

impl std::fmt::Debug for ListenerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerConfig")
            .field("server_url", &self.server_url)
            .field("agent_token", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .field("name", &self.name)
            .field("capacity", &self.capacity)
            .field("executor", &self.executor)
            .field("kubernetes", &self.kubernetes)
            .field("runner_command", &self.runner_command)
            .field("work_dir", &self.work_dir)
            .field("run_as", &self.run_as)
            .field("read_paths", &self.read_paths)
            .field("unconfined", &self.unconfined)
            .field("terraform_bin", &self.terraform_bin)
            .field("versions_dir", &self.versions_dir)
            .field("provider_mirror", &self.provider_mirror)
            .field("direct_providers", &self.direct_providers)
            .field("tools_cache_dir", &self.tools_cache_dir)
            .field("configuration_limits", &self.configuration_limits)
            .finish_non_exhaustive()
    }
}

fn default_runner_command() -> Vec<String> {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("terrace"));
    runner_command_for(&exe)
}

/// `terrace-runner` if it is next to `exe` and was built from the same sources (packages and
/// images ship both), else `exe runner`: the same runner, but `terrace-runner` starts and
/// ends at a fraction of the CPU (no server code or SAML libraries to load), once per job.
fn runner_command_for(exe: &Path) -> Vec<String> {
    let runner = exe.with_file_name("terrace-runner");
    if runner.is_file() {
        match std::process::Command::new(&runner).arg("--build").output() {
            Ok(out)
                if out.status.success()
                    && out.stdout.trim_ascii() == crate::RUNNER_BUILD.as_bytes() =>
            {
                return vec![runner.display().to_string()];
            }
            _ => tracing::warn!(
                runner = %runner.display(),
                "not starting the terrace-runner next to this program: it was built from other sources"
            ),
        }
    }
    vec![exe.display().to_string(), "runner".to_string()]
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and we stop at the first NUL.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "terrace-listener".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

type Pending<T> = Option<Pin<Box<dyn Future<Output = T> + Send>>>;

/// Waits for the pending request, if any (forever otherwise: guard with `is_some`).
async fn next<T>(pending: &mut Pending<T>) -> T {
    match pending {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

pub(crate) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Exponential backoff for an unreachable server: 1 s, 2 s, ... 30 s.
#[derive(Default)]
struct Backoff(u32);

impl Backoff {
    fn next(&mut self) -> Duration {
        self.0 = (self.0 + 1).min(6);
        Duration::from_secs(1 << (self.0 - 1)).min(Duration::from_secs(30))
    }
    fn reset(&mut self) {
        self.0 = 0;
    }
}

/// A runner (a process or a Kubernetes Job) and its job.
struct Runner {
    handle: Handle,
    token: String,
    interrupted: bool,
    killed: bool,
}

enum Handle {
    /// A local runner process, leader of its process group.
    Process(u32),
    /// A Kubernetes Job.
    Pod(PodHandle),
}

/// How a runner ended.
enum Ended {
    Process(std::io::Result<ExitStatus>),
    /// `Err`: the reason to report the job errored with.
    Pod(PodResult),
}

/// Runs the listener until `shutdown` completes; then stops claiming, interrupts the runners
/// and waits for them (killing those that outlast the grace period).
pub async fn run_listener(
    config: ListenerConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let kube = match config.executor.as_str() {
        "local" => {
            if config.runner_command.is_empty() {
                bail!("no runner command");
            }
            None
        }
        "kubernetes" => Some(kubernetes::Executor::connect(&config.kubernetes).await?),
        other => bail!("unknown executor {other:?} (\"local\" or \"kubernetes\")"),
    };
    crate::confine::make_non_dumpable();
    if config.capacity == 0 {
        bail!("the capacity must be at least 1");
    }
    // Read now: a CA file that cannot be read is a configuration error, not a job's.
    let ca_pem = match &config.ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", path.display()))?,
        ),
        None => None,
    };
    let client = AgentClient::new(
        &config.server_url,
        &config.agent_token,
        config.ca_file.as_deref(),
    )?;
    let mut config = config;
    let work_dir = match &kube {
        None => {
            let dir = RunsDir::create(&config.work_dir, config.run_as)?;
            // Runners run as another user, who may not read the listener's CA file: they
            // get a copy of their own.
            if let Some(pem) = &ca_pem {
                let copy = dir.path().join("ca.pem");
                std::fs::write(&copy, pem)
                    .map_err(|err| anyhow::anyhow!("cannot write {}: {err}", copy.display()))?;
                config.ca_file = Some(copy);
            }
            config.work_dir = dir.path().to_path_buf();
            Some(dir)
        }
        Some(_) => {
            // Pods get it in an environment variable, and one cannot exceed 128 KiB.
            if let (Some(pem), Some(path)) = (&ca_pem, &config.ca_file) {
                if pem.len() > kubernetes::MAX_CA_PEM {
                    bail!(
                        "{} is too large to hand to runner pods ({} bytes, at most {}): give \
                         only the CAs that the runner image does not already trust",
                        path.display(),
                        pem.len(),
                        kubernetes::MAX_CA_PEM
                    );
                }
            }
            None
        }
    };
    let mut listener = Listener {
        config,
        client,
        kube,
        _work_dir: work_dir,
        ca_pem,
        id: None,
        runners: HashMap::new(),
        reports: JoinSet::new(),
        backoff: Backoff::default(),
        retry_at: None,
        shutting_down: false,
        kill_at: None,
    };
    let result = listener.event_loop(shutdown).await;
    // Reports of runners that died: give them a little time, they matter to their runs.
    let reports = async { while listener.reports.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(30), reports)
        .await
        .is_err()
    {
        tracing::warn!("gave up reporting jobs whose runner died");
    }
    result
}

struct Listener {
    config: ListenerConfig,
    client: AgentClient,
    /// The `kubernetes` executor; `None` for `local`.
    kube: Option<kubernetes::Executor>,
    /// Where local runners make their job directories (removed when the listener stops).
    _work_dir: Option<RunsDir>,
    /// The CA bundle, for runner pods.
    ca_pem: Option<Vec<u8>>,
    id: Option<String>,
    runners: HashMap<String, Runner>,
    /// Reports for jobs whose runner died.
    reports: JoinSet<()>,
    backoff: Backoff,
    /// No request until then: the server was unreachable.
    retry_at: Option<Instant>,
    shutting_down: bool,
    /// When runners still running after the shutdown are killed.
    kill_at: Option<Instant>,
}

/// Requests in flight, with the listener ID they were made with (it may register again).
type Claim = Pending<(String, ClientResult<Option<JobAssignment>>)>;
type Heartbeat = Pending<(String, ClientResult<HeartbeatResponse>)>;
struct Exit(String, Ended);

impl From<(String, PodResult)> for Exit {
    fn from((job_id, result): (String, PodResult)) -> Exit {
        Exit(job_id, Ended::Pod(result))
    }
}

impl Listener {
    async fn event_loop(&mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        let (exit_tx, mut exits) = mpsc::unbounded_channel::<Exit>();
        let mut register: Pending<ClientResult<RegisterResponse>> = None;
        let mut claim: Claim = None;
        let mut heartbeat: Heartbeat = None;
        let mut ticker = tokio::time::interval(self.config.heartbeat_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        loop {
            if self.shutting_down && self.runners.is_empty() {
                return Ok(());
            }
            let may_request = self.retry_at.is_none() && !self.shutting_down;
            if self.id.is_none() && register.is_none() && may_request {
                register = Some(self.register_request());
            }
            if claim.is_none() && may_request && self.runners.len() < self.config.capacity as usize
            {
                claim = self.claim_request();
            }
            tokio::select! {
                () = &mut shutdown, if !self.shutting_down => {
                    // A claim in flight is abandoned: should the server have handed it a job
                    // meanwhile, that job is errored once its heartbeat times out.
                    (claim, register) = (None, None);
                    self.shut_down();
                }
                () = sleep_until(self.kill_at) => self.kill_lingering_runners(),
                result = next(&mut register), if register.is_some() => {
                    register = None;
                    self.registered(result)?;
                }
                (id, result) = next(&mut claim), if claim.is_some() => {
                    claim = None;
                    match result {
                        Ok(Some(job)) => {
                            self.reached_server();
                            self.start_runner(job, exit_tx.clone());
                        }
                        Ok(None) => self.reached_server(),
                        Err(err) => self.request_failed("claim", &id, err)?,
                    }
                }
                _ = ticker.tick(), if heartbeat.is_none() => heartbeat = self.heartbeat_request(),
                (id, result) = next(&mut heartbeat), if heartbeat.is_some() => {
                    heartbeat = None;
                    match result {
                        Ok(response) => {
                            self.reached_server();
                            self.act_on(response);
                        }
                        Err(err) => self.request_failed("heartbeat", &id, err)?,
                    }
                }
                () = sleep_until(self.retry_at) => self.retry_at = None,
                Some(Exit(job_id, ended)) = exits.recv() => self.runner_exited(job_id, ended),
            }
        }
    }

    fn shut_down(&mut self) {
        tracing::info!(
            runners = self.runners.len(),
            "shutting down: no more claims"
        );
        // SIGTERM, not the SIGINT of a cancel: the runners end their jobs errored, as nobody
        // asked for them to be canceled.
        for runner in self.runners.values_mut() {
            if !runner.interrupted {
                match &runner.handle {
                    Handle::Process(pid) => signal_process(*pid, libc::SIGTERM),
                    // The pod gets its SIGTERM, and its grace period.
                    Handle::Pod(pod) => pod.delete("shutdown"),
                }
                runner.interrupted = true;
            }
        }
        self.shutting_down = true;
        self.kill_at = Some(Instant::now() + self.config.grace_period);
    }

    fn kill_lingering_runners(&mut self) {
        self.kill_at = None;
        let mut abandoned = Vec::new();
        for (job_id, runner) in &mut self.runners {
            if !runner.killed {
                tracing::warn!(job = %job_id, "the runner outlasted the grace period: killing it");
                match &runner.handle {
                    Handle::Process(pid) => signal_group(*pid, libc::SIGKILL),
                    Handle::Pod(pod) => {
                        // Its Job is being deleted; the server's reaper errors the job.
                        pod.abandon();
                        abandoned.push(job_id.clone());
                    }
                }
                runner.killed = true;
            }
        }
        for job_id in abandoned {
            self.runners.remove(&job_id);
        }
    }

    fn registered(&mut self, result: ClientResult<RegisterResponse>) -> anyhow::Result<()> {
        match result {
            Ok(registered) => {
                tracing::info!(listener = %registered.listener_id, "registered");
                self.id = Some(registered.listener_id);
                self.reached_server();
            }
            Err(err) if err.is_transient() => {
                let delay = self.backoff.next();
                tracing::warn!(error = %err, ?delay, "cannot register; retrying");
                self.set_connection(Connection::Failing(format!("cannot register: {err}")));
                self.retry_at = Some(Instant::now() + delay);
            }
            Err(err) => bail!("cannot register the listener: {err}"),
        }
        Ok(())
    }

    fn claim_request(&self) -> Claim {
        let id = self.id.clone()?;
        let (client, wait) = (self.client.clone(), self.config.claim_wait);
        Some(Box::pin(async move {
            let result = client.claim(&id, wait).await;
            (id, result)
        }))
    }

    fn heartbeat_request(&self) -> Heartbeat {
        let id = self.id.clone()?;
        let request = HeartbeatRequest {
            running: self.runners.keys().cloned().collect(),
        };
        let client = self.client.clone();
        Some(Box::pin(async move {
            let result = client.heartbeat(&id, &request).await;
            (id, result)
        }))
    }

    fn register_request(
        &self,
    ) -> Pin<Box<dyn Future<Output = ClientResult<RegisterResponse>> + Send>> {
        let request = RegisterRequest {
            name: self.config.name.clone(),
            hostname: hostname(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            executor: self.config.executor.clone(),
            capacity: self.config.capacity,
        };
        let client = self.client.clone();
        Box::pin(async move { client.register(&request).await })
    }

    /// Backs off on transient errors; registers again if the server forgot the listener
    /// (404: it was silent too long, e.g. across a server outage); gives up on a refused token.
    fn request_failed(
        &mut self,
        what: &str,
        listener_id: &str,
        err: crate::client::ClientError,
    ) -> anyhow::Result<()> {
        match err.status() {
            Some(404) => {
                // Unless that was an earlier registration's request.
                if self.id.as_deref() == Some(listener_id) {
                    tracing::warn!(error = %err, "the server forgot this listener: registering again");
                    self.id = None;
                }
            }
            Some(401) | Some(403) => bail!("the server refused the agent token ({what}): {err}"),
            _ => {
                let delay = self.backoff.next();
                tracing::warn!(error = %err, ?delay, "{what} failed; retrying");
                self.set_connection(Connection::Failing(format!("{what} failed: {err}")));
                self.retry_at = Some(Instant::now() + delay);
            }
        }
        Ok(())
    }

    fn reached_server(&mut self) {
        self.backoff.reset();
        self.set_connection(Connection::Connected);
    }

    fn set_connection(&self, now: Connection) {
        if let Some(connection) = &self.config.connection {
            connection.send_if_modified(|was| {
                let changed = *was != now;
                *was = now;
                changed
            });
        }
    }

    fn act_on(&mut self, response: HeartbeatResponse) {
        for job_id in &response.cancel {
            if let Some(runner) = self.runners.get_mut(job_id) {
                // Once: a second signal would make the runner kill terraform.
                if !runner.interrupted {
                    match runner.handle {
                        Handle::Process(pid) => {
                            tracing::info!(job = %job_id, "cancel requested: interrupting the runner");
                            signal_process(pid, libc::SIGINT);
                        }
                        // The runner polls the server for cancels itself.
                        Handle::Pod(_) => {
                            tracing::info!(job = %job_id, "cancel requested: the runner pod will see it")
                        }
                    }
                    runner.interrupted = true;
                }
            }
        }
        for job_id in &response.force_cancel {
            if let Some(runner) = self.runners.get_mut(job_id) {
                if !runner.killed {
                    tracing::info!(job = %job_id, "force-cancel requested: killing the runner");
                    match &runner.handle {
                        Handle::Process(pid) => signal_group(*pid, libc::SIGKILL),
                        Handle::Pod(pod) => pod.delete("force-cancel"),
                    }
                    runner.killed = true;
                }
            }
        }
    }

    fn start_runner(&mut self, job: JobAssignment, exits: mpsc::UnboundedSender<Exit>) {
        tracing::info!(job = %job.job_id, run = %job.run_id, kind = ?job.kind, "starting a runner");
        if let Some(kube) = &self.kube {
            let env = pod_env(&self.config);
            let handle = kube.start(&job, env, self.ca_pem.clone(), exits);
            self.runners.insert(
                job.job_id,
                Runner {
                    handle: Handle::Pod(handle),
                    token: job.token,
                    interrupted: false,
                    killed: false,
                },
            );
            return;
        }
        let mut command = tokio::process::Command::new(&self.config.runner_command[0]);
        command
            .args(&self.config.runner_command[1..])
            .env_clear()
            .envs(runner_env(&self.config, &job.token))
            .stdin(Stdio::null())
            // Its own group: a terminal's Ctrl-C is for the listener, which relays it once.
            .process_group(0)
            .kill_on_drop(false);
        // A runner dies with its listener (SIGKILL included): an orphan would keep its job
        // alive with nobody to relay cancels or count it, instead of the reaper erroring it.
        // The user changes first: changing it clears the parent-death signal.
        let parent = std::process::id() as libc::pid_t;
        let run_as = self.config.run_as;
        // SAFETY: the closure only makes async-signal-safe calls (setgroups, setgid, setuid,
        // prctl, getppid, raise).
        unsafe {
            command.pre_exec(move || {
                if let Some(user) = run_as {
                    user.enter()?;
                }
                crate::process::prepare_child(parent)
            });
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                tracing::error!(job = %job.job_id, error = %err, "cannot start a runner");
                self.report(
                    job.job_id,
                    job.token,
                    format!("the runner could not be started: {err}"),
                );
                return;
            }
        };
        let pid = child.id().unwrap_or(0);
        let job_id = job.job_id.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            let _ = exits.send(Exit(job_id, Ended::Process(status)));
        });
        self.runners.insert(
            job.job_id,
            Runner {
                handle: Handle::Process(pid),
                token: job.token,
                interrupted: false,
                killed: false,
            },
        );
    }

    fn runner_exited(&mut self, job_id: String, ended: Ended) {
        let Some(runner) = self.runners.remove(&job_id) else {
            return;
        };
        let reason = match ended {
            Ended::Process(Ok(status)) if status.success() => {
                tracing::info!(job = %job_id, "runner done");
                return;
            }
            Ended::Process(Ok(status)) => {
                format!("the runner exited with {}", describe_exit(&status))
            }
            Ended::Process(Err(err)) => format!("the runner was lost: {err}"),
            Ended::Pod(Ok(())) => {
                tracing::info!(job = %job_id, "runner pod done");
                return;
            }
            Ended::Pod(Err(reason)) => reason,
        };
        tracing::warn!(job = %job_id, %reason, "the runner did not finish its job");
        self.report(job_id, runner.token, reason);
    }

    /// Reports a job errored for a runner that could not (with the job's token: if the job
    /// ended meanwhile, the token is refused and there is nothing to do).
    fn report(&mut self, job_id: String, token: String, reason: String) {
        let client = self.client.job_client(&token);
        self.reports.spawn(async move {
            let outcome = JobOutcome {
                status: "errored".into(),
                error: Some(reason),
                ..JobOutcome::default()
            };
            match client.finish(&outcome).await {
                Ok(()) => tracing::info!(job = %job_id, "reported the job errored"),
                Err(err) if matches!(err.status(), Some(401) | Some(409)) => {}
                Err(err) => tracing::warn!(job = %job_id, error = %err, "cannot report the job"),
            }
        });
    }
}

/// A runner's whole environment: what it needs and nothing else of the listener's (the
/// agent token above all).
fn runner_env(config: &ListenerConfig, job_token: &str) -> Vec<(String, String)> {
    let mut env = vec![
        (vars::SERVER_URL.to_string(), config.server_url.clone()),
        (vars::JOB_TOKEN.to_string(), job_token.to_string()),
        (
            vars::WORK_DIR.to_string(),
            config.work_dir.display().to_string(),
        ),
        (
            vars::TERRAFORM_BIN.to_string(),
            config.terraform_bin.display().to_string(),
        ),
        (
            vars::MAX_UNPACKED_BYTES.to_string(),
            config.configuration_limits.max_unpacked_bytes.to_string(),
        ),
        (
            vars::MAX_ENTRIES.to_string(),
            config.configuration_limits.max_entries.to_string(),
        ),
    ];
    if let Some(ca) = &config.ca_file {
        env.push((vars::CA_FILE.to_string(), ca.display().to_string()));
    }
    env.push((vars::UNCONFINED.to_string(), config.unconfined.to_env()));
    if !config.read_paths.is_empty() {
        let paths: Vec<String> = config
            .read_paths
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        env.push((vars::READ_PATHS.to_string(), paths.join(":")));
    }
    if let Some(dir) = &config.versions_dir {
        env.push((
            vars::TERRAFORM_VERSIONS_DIR.to_string(),
            dir.display().to_string(),
        ));
    }
    if let Some(dir) = &config.provider_mirror {
        env.push((
            vars::PROVIDER_MIRROR_DIR.to_string(),
            dir.display().to_string(),
        ));
    }
    if config.direct_providers {
        env.push((vars::DIRECT_PROVIDERS.to_string(), "true".to_string()));
    }
    if let Some(dir) = &config.tools_cache_dir {
        env.push((vars::TOOLS_CACHE_DIR.to_string(), dir.display().to_string()));
    }
    // PATH and HOME to work at all; the platform's CA locations, so runners trust the server
    // as the listener does; the log filters so its log follows the listener's; the tests'
    // stand-in for a kernel without Landlock.
    for key in [
        "PATH",
        "HOME",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "TERRACE_LOG",
        "RUST_LOG",
        crate::confine::SIMULATE_NO_LANDLOCK,
    ] {
        if let Ok(value) = std::env::var(key) {
            env.push((key.to_string(), value));
        }
    }
    env
}

/// A runner pod's plain environment: the local runner's, but for the job token and the CA
/// (from the job's Secret) and the listener's own PATH, HOME and CA locations (the image's
/// count).
fn pod_env(config: &ListenerConfig) -> Vec<(String, String)> {
    let mut config = config.clone();
    if let Some(url) = &config.kubernetes.server_url {
        config.server_url = url.clone();
    }
    config.ca_file = None;
    // The pod is the boundary (its securityContext, the NetworkPolicy); Landlock inside it
    // is a bonus where the container runtime allows it.
    config.unconfined = Unconfined::Allow;
    config.read_paths.clear();
    // The root filesystem is read-only: a pod caches catalogue binaries on its scratch
    // volume (so each Job fetches its own).
    config.tools_cache_dir = None;
    runner_env(&config, "")
        .into_iter()
        .filter(|(key, _)| {
            ![
                "PATH",
                "HOME",
                "SSL_CERT_FILE",
                "SSL_CERT_DIR",
                vars::JOB_TOKEN,
            ]
            .contains(&key.as_str())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `terrace-runner` script next to a `terrace` that answers `--build` with `build`.
    /// The script is written by a shell of its own: a file this process held open for
    /// writing could be inherited by a child another test thread forks at that moment, and
    /// running the script then fails with "text file busy" until that child execs.
    fn runner_next_to_terrace(build: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("terrace");
        std::fs::write(&exe, "").unwrap();
        let runner = dir.path().join("terrace-runner");
        let written = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"printf '#!/bin/sh\necho %s\n' "$1" > "$2" && chmod 755 "$2""#)
            .arg("sh")
            .arg(build)
            .arg(&runner)
            .status()
            .unwrap();
        assert!(written.success());
        (dir, exe)
    }

    #[test]
    fn the_runner_binary_of_the_same_build_runs_jobs() {
        let (dir, exe) = runner_next_to_terrace(crate::RUNNER_BUILD);
        let runner = dir.path().join("terrace-runner").display().to_string();
        assert_eq!(runner_command_for(&exe), vec![runner]);
    }

    #[test]
    fn a_runner_binary_of_another_build_is_not_started() {
        let (_dir, exe) = runner_next_to_terrace("0123456789abcdef");
        let own = vec![exe.display().to_string(), "runner".to_string()];
        assert_eq!(runner_command_for(&exe), own);
        std::fs::remove_file(exe.with_file_name("terrace-runner")).unwrap();
        assert_eq!(runner_command_for(&exe), own);
    }

    #[test]
    fn backoff_grows_to_30_seconds() {
        let mut b = Backoff::default();
        let delays: Vec<u64> = (0..8).map(|_| b.next().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
        b.reset();
        assert_eq!(b.next().as_secs(), 1);
    }

    #[test]
    fn runners_get_only_what_they_need() {
        let mut config = ListenerConfig::new("https://t.example", "agent-secret");
        config.ca_file = Some("/ca.pem".into());
        config.configuration_limits.max_entries = 500;
        let env = runner_env(&config, "job-token");
        let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        for key in &keys {
            assert!(
                key.starts_with("TERRACE_")
                    || ["PATH", "HOME", "RUST_LOG", "SSL_CERT_FILE", "SSL_CERT_DIR"].contains(key),
                "{key}"
            );
        }
        assert!(env.iter().all(|(_, v)| !v.contains("agent-secret")));
        assert!(env.contains(&("TERRACE_JOB_TOKEN".into(), "job-token".into())));
        assert!(env.contains(&("TERRACE_CA_FILE".into(), "/ca.pem".into())));
        assert!(env.contains(&("TERRACE_MAX_CONFIGURATION_ENTRIES".into(), "500".into())));
        assert!(!keys.contains(&"TERRACE_TERRAFORM_VERSIONS_DIR"));
        assert!(!keys.contains(&"TERRACE_PROVIDER_MIRROR_DIR"));
        assert!(!keys.contains(&"TERRACE_DIRECT_PROVIDERS"));
        assert!(!format!("{config:?}").contains("agent-secret"));
        config.provider_mirror = Some("/srv/providers".into());
        config.direct_providers = true;
        let env = runner_env(&config, "job-token");
        assert!(env.contains(&("TERRACE_DIRECT_PROVIDERS".into(), "true".into())));
        assert!(env.contains(&(
            "TERRACE_PROVIDER_MIRROR_DIR".into(),
            "/srv/providers".into()
        )));
    }

    #[test]
    fn runner_pods_get_their_secrets_from_the_secret() {
        let mut config = ListenerConfig::new("https://t.example", "agent-secret");
        config.ca_file = Some("/ca.pem".into());
        config.kubernetes.server_url = Some("https://terrace.svc".into());
        let env = pod_env(&config);
        let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert!(!keys.contains(&"TERRACE_JOB_TOKEN"));
        assert!(!keys.contains(&"TERRACE_CA_FILE"));
        assert!(!keys.contains(&"PATH") && !keys.contains(&"HOME"));
        assert!(env.contains(&("TERRACE_SERVER_URL".into(), "https://terrace.svc".into())));
        assert!(env.iter().all(|(_, v)| !v.contains("agent-secret")));
    }
}
