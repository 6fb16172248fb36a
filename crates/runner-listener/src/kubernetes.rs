//! The `kubernetes` executor: one batch/v1 Job per claimed job, in a configured namespace.
//!
//! For each job the listener creates a Job whose pod runs the runner entrypoint (`terrace
//! runner`) with the same `TERRACE_*` settings a local runner gets, the job token (and the
//! server's CA, when one is configured) coming from a Secret owned by the Job, so that the
//! garbage collector removes it with the Job. The pod is never retried (`backoffLimit: 0`,
//! `restartPolicy: Never`): a job is claimed once, and a runner that fails is reported.
//!
//! The listener then watches the Job's pod: its logs (the runner's own log; the runner
//! uploads terraform's output to the server itself) go to the listener's log for operators;
//! a pod that cannot be scheduled, or whose image cannot be pulled, fails the job with that
//! reason after `pending_timeout`; a pod that fails is reported with its exit status. A
//! cancel needs nothing here (the runner polls the server for cancels itself); a force-cancel
//! deletes the Job. Once it is over, the Job and its Secret are deleted.
//!
//! Runner pods are locked down as the "restricted" Pod Security Standard asks: a numeric
//! non-root user, no privilege escalation, no capabilities, the runtime's default seccomp
//! profile, a read-only root filesystem with an `emptyDir` at `/tmp` for everything the runner
//! writes (`HOME`, `TMPDIR` and its work directory point there), and no Kubernetes credentials.
//!
//! What the listener needs in its namespace (see `deploy/kubernetes/listener-rbac.yaml`):
//! jobs: create, get, list, watch, delete; pods: get, list, watch; pods/log: get;
//! secrets: create, delete.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, Pod, PodSecurityContext,
    PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile, Secret, SecretKeySelector,
    SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::ByteString;
use kube::api::{
    Api, DeleteParams, ListParams, LogParams, PostParams, PropagationPolicy, WatchParams,
};
use kube::Client;
use serde::Deserialize;
use terrace_protocol::JobAssignment;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::runner::vars;

/// Labels on every Job, pod and Secret the executor creates.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "terrace-listener";
/// The Terrace job's ID (sanitized for a label value).
pub const JOB_LABEL: &str = "terrace.io/job";
/// The run's ID.
pub const RUN_LABEL: &str = "terrace.io/run";
/// The name of the runner's container.
pub const CONTAINER: &str = "runner";
/// The key of the job token in the Secret.
const TOKEN_KEY: &str = "job-token";
/// The key of the CA bundle in the Secret.
const CA_KEY: &str = "ca.pem";
/// The runner pod's writable volume (an `emptyDir`) and where it is mounted: the root
/// filesystem is read-only, so the runner's HOME, TMPDIR and work directory are there.
pub const SCRATCH_VOLUME: &str = "scratch";
pub const SCRATCH_DIR: &str = "/tmp";
/// The default user and group of runner pods (distroless images' `nonroot`).
pub const DEFAULT_RUNNER_ID: i64 = 65532;
/// The largest CA bundle runner pods get (as `TERRACE_CA_PEM`: Linux limits one environment
/// variable to 128 KiB).
pub const MAX_CA_PEM: usize = 96 * 1024;

/// The executor's settings (`[kubernetes]` in a listener config file, or `--kube-*` flags).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct KubernetesConfig {
    /// A kubeconfig file; by default `KUBECONFIG`, `~/.kube/config` or, in a pod, the
    /// in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// Where Jobs are created; by default the kubeconfig's namespace (in a pod: its own).
    pub namespace: Option<String>,
    /// The runner image (it must contain `terrace` and terraform).
    pub image: String,
    /// `Always`, `IfNotPresent` or `Never`; by default Kubernetes decides.
    pub image_pull_policy: Option<String>,
    /// The runner's command.
    pub command: Vec<String>,
    pub service_account: Option<String>,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<TolerationConfig>,
    /// Added to the Job and its pod.
    pub labels: BTreeMap<String, String>,
    /// Added to the Job and its pod.
    pub annotations: BTreeMap<String, String>,
    /// Resource requests of the runner container, e.g. `cpu = "500m"`.
    pub requests: BTreeMap<String, String>,
    /// Resource limits of the runner container, e.g. `memory = "2Gi"`.
    pub limits: BTreeMap<String, String>,
    /// How long a pod may stay unschedulable, or unable to pull its image or start, before
    /// its job fails with the reason.
    #[serde(with = "seconds")]
    pub pending_timeout: Duration,
    /// The pod's grace period when its Job is deleted (force-cancel, listener shutdown).
    #[serde(with = "seconds")]
    pub delete_grace_period: Duration,
    /// The server URL runner pods use, if not the listener's (an in-cluster Service, say).
    pub server_url: Option<String>,
    /// The runner's user ID (`runAsUser`): not 0, runner pods never run as root.
    pub run_as_user: i64,
    /// The runner's primary group ID (`runAsGroup`).
    pub run_as_group: i64,
    /// The group that owns the pod's volumes (`fsGroup`), a supplementary group of the runner.
    pub fs_group: i64,
}

/// A toleration, as in a pod spec.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct TolerationConfig {
    pub key: Option<String>,
    /// `Equal` (the default) or `Exists`.
    pub operator: Option<String>,
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`; all when unset.
    pub effect: Option<String>,
    pub toleration_seconds: Option<i64>,
}

impl TolerationConfig {
    /// `KEY[=VALUE][:EFFECT]`, `KEY:EFFECT` or `:EFFECT`/`*` (tolerate everything): the
    /// `--kube-toleration` flag. No value means `Exists`.
    pub fn parse(spec: &str) -> anyhow::Result<TolerationConfig> {
        if spec == "*" {
            return Ok(TolerationConfig {
                operator: Some("Exists".into()),
                ..TolerationConfig::default()
            });
        }
        let (rest, effect) = match spec.rsplit_once(':') {
            Some((rest, effect)) => (rest, Some(effect.to_string())),
            None => (spec, None),
        };
        if let Some(effect) = &effect {
            anyhow::ensure!(
                ["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect.as_str()),
                "unknown toleration effect {effect:?} in {spec:?}"
            );
        }
        let (key, value) = match rest.split_once('=') {
            Some((key, value)) => (key, Some(value.to_string())),
            None => (rest, None),
        };
        Ok(TolerationConfig {
            key: (!key.is_empty()).then(|| key.to_string()),
            operator: Some(if value.is_some() { "Equal" } else { "Exists" }.into()),
            value,
            effect,
            toleration_seconds: None,
        })
    }

    fn to_k8s(&self) -> Toleration {
        Toleration {
            key: self.key.clone(),
            operator: self.operator.clone(),
            value: self.value.clone(),
            effect: self.effect.clone(),
            toleration_seconds: self.toleration_seconds,
        }
    }
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            kubeconfig: None,
            namespace: None,
            image: concat!("terrace:", env!("CARGO_PKG_VERSION")).to_string(),
            image_pull_policy: None,
            command: vec!["terrace".to_string(), "runner".to_string()],
            service_account: None,
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            requests: BTreeMap::new(),
            limits: BTreeMap::new(),
            pending_timeout: Duration::from_secs(120),
            delete_grace_period: Duration::from_secs(30),
            server_url: None,
            run_as_user: DEFAULT_RUNNER_ID,
            run_as_group: DEFAULT_RUNNER_ID,
            fs_group: DEFAULT_RUNNER_ID,
        }
    }
}

impl KubernetesConfig {
    /// Settings that Kubernetes would only refuse once a pod is made.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.command.is_empty(), "the runner pods need a command");
        anyhow::ensure!(
            self.run_as_user > 0,
            "runner pods run as a non-root user: the user ID must be above 0, not {}",
            self.run_as_user
        );
        anyhow::ensure!(
            self.run_as_group >= 0 && self.fs_group >= 0,
            "group IDs cannot be negative"
        );
        Ok(())
    }
}

/// The Kubernetes side of a listener: a client and where to create Jobs.
#[derive(Clone)]
pub(crate) struct Executor {
    client: Client,
    namespace: String,
    config: Arc<KubernetesConfig>,
}

/// A job's Kubernetes Job, as the listener tracks it.
pub(crate) struct PodHandle {
    executor: Executor,
    job_name: String,
    /// Set when the listener deleted the Job itself (force-cancel, shutdown).
    deleted: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

/// How a supervised Job ended: `Err` carries the reason to report the job errored with.
pub(crate) type PodResult = Result<(), String>;

impl Executor {
    pub(crate) async fn connect(config: &KubernetesConfig) -> anyhow::Result<Executor> {
        config.validate()?;
        let kube_config = match &config.kubeconfig {
            Some(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                    .await
                    .with_context(|| format!("cannot use {}", path.display()))?
            }
            None => kube::Config::infer()
                .await
                .context("no Kubernetes configuration (set --kube-kubeconfig or KUBECONFIG)")?,
        };
        let namespace = config
            .namespace
            .clone()
            .unwrap_or_else(|| kube_config.default_namespace.clone());
        let client = Client::try_from(kube_config).context("cannot make a Kubernetes client")?;
        // Fail early on an unreachable cluster or a namespace the listener may not use.
        let jobs: Api<Job> = Api::namespaced(client.clone(), &namespace);
        jobs.list(&ListParams::default().limit(1))
            .await
            .with_context(|| format!("cannot list Jobs in the namespace {namespace:?}"))?;
        tracing::info!(%namespace, "executing jobs as Kubernetes Jobs");
        Ok(Executor {
            client,
            namespace,
            config: Arc::new(config.clone()),
        })
    }

    /// Creates the job's Kubernetes Job and supervises it in a task, which sends how it
    /// ended to `ended` (after deleting the Job and its Secret).
    pub(crate) fn start<E: From<(String, PodResult)> + Send + 'static>(
        &self,
        job: &JobAssignment,
        env: Vec<(String, String)>,
        ca_pem: Option<Vec<u8>>,
        ended: mpsc::UnboundedSender<E>,
    ) -> PodHandle {
        let job_name = job_name(&job.job_id);
        let deleted = Arc::new(AtomicBool::new(false));
        let supervisor = Supervisor {
            executor: self.clone(),
            job_name: job_name.clone(),
            job: job.clone(),
            deleted: deleted.clone(),
        };
        let task = tokio::spawn(async move {
            let job_id = supervisor.job.job_id.clone();
            let result = supervisor.run(env, ca_pem).await;
            let _ = ended.send(E::from((job_id, result)));
        });
        PodHandle {
            executor: self.clone(),
            job_name,
            deleted,
            task,
        }
    }

    fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }
    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }
    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }
}

impl PodHandle {
    /// Deletes the Job: its pod gets SIGTERM, and SIGKILL after the grace period (the
    /// supervisor then sees the Job go and ends).
    pub(crate) fn delete(&self, why: &'static str) {
        self.deleted.store(true, Ordering::SeqCst);
        let (executor, name) = (self.executor.clone(), self.job_name.clone());
        tokio::spawn(async move {
            let params = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Foreground),
                grace_period_seconds: Some(executor.config.delete_grace_period.as_secs() as u32),
                ..DeleteParams::default()
            };
            match executor.jobs().delete(&name, &params).await {
                Ok(_) => tracing::info!(job_name = %name, "deleted the Job ({why})"),
                Err(err) if not_found(&err) => {}
                Err(err) => tracing::warn!(job_name = %name, error = %err, "cannot delete the Job"),
            }
        });
    }

    /// Stops supervising (the listener gives up on the Job: shutdown grace period over).
    pub(crate) fn abandon(&self) {
        self.task.abort();
    }
}

fn not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(response) if response.code == 404)
}

/// A DNS-1123 name for the job's Kubernetes Job (and Secret): `terrace-<job id>`, short
/// enough for the `job-name` label the Job controller puts on its pods.
pub fn job_name(job_id: &str) -> String {
    let mut name = String::from("terrace-");
    for c in job_id.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    name.truncate(52);
    name.trim_end_matches('-').to_string()
}

/// A label value from anything (63 characters of `[A-Za-z0-9._-]`, alphanumeric at the ends).
fn label_value(value: &str) -> String {
    let cleaned: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// The Job for `job`: its pod runs the runner with `env` (plain values) plus the job token
/// (and CA) from the Secret `name`.
pub fn job_manifest(
    config: &KubernetesConfig,
    name: &str,
    job: &JobAssignment,
    env: &[(String, String)],
    with_ca: bool,
) -> Job {
    let mut labels = config.labels.clone();
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    labels.insert(JOB_LABEL.into(), label_value(&job.job_id));
    labels.insert(RUN_LABEL.into(), label_value(&job.run_id));
    let from_secret = |var: &str, key: &str| EnvVar {
        name: var.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: name.to_string(),
                key: key.to_string(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
    };
    let plain = |name: &str, value: &str| EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        value_from: None,
    };
    // Everything the runner writes goes to the scratch volume (the root filesystem is
    // read-only): its work directory, and its own HOME and TMPDIR (terraform gets private
    // ones inside the job's directory).
    let scratch = ["HOME", "TMPDIR", vars::WORK_DIR];
    let mut container_env: Vec<EnvVar> = env
        .iter()
        .filter(|(name, _)| !scratch.contains(&name.as_str()))
        .map(|(name, value)| plain(name, value))
        .collect();
    container_env.extend(scratch.iter().map(|name| plain(name, SCRATCH_DIR)));
    container_env.push(from_secret(vars::JOB_TOKEN, TOKEN_KEY));
    if with_ca {
        container_env.push(from_secret(vars::CA_PEM, CA_KEY));
    }
    let quantities = |map: &BTreeMap<String, String>| {
        (!map.is_empty()).then(|| {
            map.iter()
                .map(|(k, v)| (k.clone(), Quantity(v.clone())))
                .collect()
        })
    };
    let container = Container {
        name: CONTAINER.into(),
        image: Some(config.image.clone()),
        image_pull_policy: config.image_pull_policy.clone(),
        command: Some(config.command.clone()),
        env: Some(container_env),
        resources: Some(ResourceRequirements {
            requests: quantities(&config.requests),
            limits: quantities(&config.limits),
            ..ResourceRequirements::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: SCRATCH_VOLUME.into(),
            mount_path: SCRATCH_DIR.into(),
            ..VolumeMount::default()
        }]),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: None,
            }),
            read_only_root_filesystem: Some(true),
            ..SecurityContext::default()
        }),
        ..Container::default()
    };
    let meta = ObjectMeta {
        labels: Some(labels.clone()),
        annotations: (!config.annotations.is_empty()).then(|| config.annotations.clone()),
        ..ObjectMeta::default()
    };
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..meta.clone()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            template: PodTemplateSpec {
                metadata: Some(meta),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    containers: vec![container],
                    service_account_name: config.service_account.clone(),
                    // The runner talks to Terrace only: no Kubernetes credentials unless a
                    // service account was asked for (workload identity, say).
                    automount_service_account_token: config
                        .service_account
                        .is_none()
                        .then_some(false),
                    enable_service_links: Some(false),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(config.run_as_user),
                        run_as_group: Some(config.run_as_group),
                        fs_group: Some(config.fs_group),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            localhost_profile: None,
                        }),
                        ..PodSecurityContext::default()
                    }),
                    volumes: Some(vec![Volume {
                        name: SCRATCH_VOLUME.into(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    }]),
                    node_selector: (!config.node_selector.is_empty())
                        .then(|| config.node_selector.clone()),
                    tolerations: (!config.tolerations.is_empty())
                        .then(|| config.tolerations.iter().map(|t| t.to_k8s()).collect()),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

/// The Secret of `owner`'s pod: the job token and the CA bundle, owned by the Job.
pub fn secret_manifest(
    name: &str,
    owner: &Job,
    job: &JobAssignment,
    token: &str,
    ca_pem: Option<&[u8]>,
) -> Secret {
    let mut data = BTreeMap::new();
    data.insert(TOKEN_KEY.to_string(), ByteString(token.as_bytes().to_vec()));
    if let Some(ca) = ca_pem {
        data.insert(CA_KEY.to_string(), ByteString(ca.to_vec()));
    }
    let mut labels = BTreeMap::new();
    labels.insert(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string());
    labels.insert(JOB_LABEL.to_string(), label_value(&job.job_id));
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(labels),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "Job".into(),
                name: name.to_string(),
                uid: owner.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Secret::default()
    }
}

/// Where a Job stands, from the Job and its pods.
#[derive(Debug, PartialEq, Eq)]
pub enum Assessment {
    /// Nothing to do but wait.
    Waiting,
    /// The pod runs (its logs can be followed).
    Running(String),
    /// The runner ended well (it reported its job itself).
    Succeeded,
    /// The runner failed: the reason.
    Failed(String),
    /// The pod cannot start (unschedulable, image not pulled): fails after the timeout.
    Stuck(String),
    /// The Job is gone.
    Gone,
}

/// Container waiting reasons that do not resolve by themselves (soon).
const STUCK_REASONS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

pub fn assess(job: Option<&Job>, pods: &[Pod]) -> Assessment {
    let Some(job) = job else {
        return Assessment::Gone;
    };
    // The newest pod (there is one: backoffLimit 0).
    let pod = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() || pods.len() == 1)
        .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
    if let Some(pod) = pod {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        let container = status
            .container_statuses
            .iter()
            .flatten()
            .find(|c| c.name == CONTAINER);
        match status.phase.as_deref() {
            Some("Succeeded") => return Assessment::Succeeded,
            Some("Failed") => {
                let terminated = container
                    .and_then(|c| c.state.as_ref())
                    .and_then(|s| s.terminated.as_ref());
                let detail = match terminated {
                    Some(t) => {
                        let mut detail = format!("exit status {}", t.exit_code);
                        if let Some(signal) = t.signal {
                            detail = format!("signal {signal}");
                        }
                        if let Some(reason) = &t.reason {
                            detail.push_str(&format!(" ({reason})"));
                        }
                        detail
                    }
                    None => status
                        .reason
                        .clone()
                        .or(status.message.clone())
                        .unwrap_or_else(|| "no reason given".into()),
                };
                return Assessment::Failed(format!("the runner pod {name} failed: {detail}"));
            }
            Some("Running") => return Assessment::Running(name),
            _ => {}
        }
        if let Some(waiting) = container
            .and_then(|c| c.state.as_ref())
            .and_then(|s| s.waiting.as_ref())
        {
            let reason = waiting.reason.clone().unwrap_or_default();
            if STUCK_REASONS.contains(&reason.as_str()) {
                let message = waiting.message.clone().unwrap_or_default();
                return Assessment::Stuck(format!(
                    "the runner pod {name} cannot start: {reason}{}{message}",
                    if message.is_empty() { "" } else { ": " }
                ));
            }
        }
        let unschedulable = status.conditions.iter().flatten().find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        });
        if let Some(condition) = unschedulable {
            return Assessment::Stuck(format!(
                "the runner pod {name} cannot be scheduled: {}",
                condition.message.as_deref().unwrap_or("Unschedulable")
            ));
        }
    }
    // The Job's own verdict, for when there is no pod to tell (deadline, pod deleted).
    let conditions = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    for condition in conditions.iter().filter(|c| c.status == "True") {
        match condition.type_.as_str() {
            "Complete" => return Assessment::Succeeded,
            "Failed" if pod.is_none() => {
                return Assessment::Failed(format!(
                    "the runner's Job failed: {}{}",
                    condition.reason.as_deref().unwrap_or("Failed"),
                    condition
                        .message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ))
            }
            _ => {}
        }
    }
    Assessment::Waiting
}

struct Supervisor {
    executor: Executor,
    job_name: String,
    job: JobAssignment,
    deleted: Arc<AtomicBool>,
}

/// How long the Kubernetes API may fail in a row before the listener gives up on a Job.
const API_PATIENCE: Duration = Duration::from_secs(300);

impl Supervisor {
    async fn run(self, env: Vec<(String, String)>, ca_pem: Option<Vec<u8>>) -> PodResult {
        let name = &self.job_name;
        let manifest = job_manifest(
            &self.executor.config,
            name,
            &self.job,
            &env,
            ca_pem.is_some(),
        );
        let created = match self
            .executor
            .jobs()
            .create(&PostParams::default(), &manifest)
            .await
        {
            Ok(created) => created,
            Err(err) => return Err(format!("cannot create the runner's Kubernetes Job: {err}")),
        };
        tracing::info!(job = %self.job.job_id, job_name = %name, namespace = %self.executor.namespace, "created the Job");
        let secret = secret_manifest(
            name,
            &created,
            &self.job,
            &self.job.token,
            ca_pem.as_deref(),
        );
        let result = match self
            .executor
            .secrets()
            .create(&PostParams::default(), &secret)
            .await
        {
            Ok(_) => {
                self.supervise(created.metadata.uid.as_deref().unwrap_or(""))
                    .await
            }
            Err(err) => Err(format!("cannot create the runner's Secret: {err}")),
        };
        self.clean_up().await;
        result
    }

    async fn supervise(&self, uid: &str) -> PodResult {
        let jobs = self.executor.jobs();
        let pods = self.executor.pods();
        let selector = format!("controller-uid={uid}");
        let mut logs_followed = HashSet::new();
        let mut log_tasks = Vec::new();
        let mut stuck_since: Option<Instant> = None;
        let mut failing_since: Option<Instant> = None;
        let mut watch = None;
        let timeout = self.executor.config.pending_timeout;
        let result = loop {
            let state = async {
                let job = jobs.get_opt(&self.job_name).await?;
                let list = pods.list(&ListParams::default().labels(&selector)).await?;
                Ok::<_, kube::Error>((job, list))
            }
            .await;
            let (job, list) = match state {
                Ok(state) => {
                    failing_since = None;
                    state
                }
                Err(err) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    tracing::warn!(job = %self.job.job_id, error = %err, "cannot read the Job's state");
                    if since.elapsed() > API_PATIENCE {
                        break Err(format!("lost contact with the Kubernetes API: {err}"));
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            };
            let assessment = assess(job.as_ref(), &list.items);
            tracing::debug!(job = %self.job.job_id, ?assessment, "the Job's state");
            if !matches!(assessment, Assessment::Stuck(_)) {
                stuck_since = None;
            }
            match assessment {
                Assessment::Succeeded => break Ok(()),
                Assessment::Failed(reason) => break Err(reason),
                Assessment::Gone => {
                    break Err(if self.deleted.load(Ordering::SeqCst) {
                        "the runner's Kubernetes Job was deleted by its listener".into()
                    } else {
                        "the runner's Kubernetes Job was deleted".into()
                    })
                }
                Assessment::Stuck(reason) => {
                    let since = *stuck_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= timeout {
                        break Err(format!(
                            "{reason} (for {} s; giving up)",
                            since.elapsed().as_secs()
                        ));
                    }
                }
                Assessment::Running(pod) => {
                    if logs_followed.insert(pod.clone()) {
                        log_tasks.push(self.follow_logs(pod));
                    }
                }
                Assessment::Waiting => {}
            }
            // Wait for a change of the pods, the stuck deadline or a while (the Job's own
            // conditions are not watched).
            if watch.is_none() {
                let params = WatchParams::default().labels(&selector).timeout(60);
                let version = list.metadata.resource_version.clone().unwrap_or_default();
                match pods.watch(&params, &version).await {
                    Ok(stream) => watch = Some(stream.boxed()),
                    Err(err) => {
                        tracing::debug!(error = %err, "cannot watch pods; polling");
                    }
                }
            }
            let deadline = stuck_since.map(|since| since + timeout);
            let next_event = async {
                match watch.as_mut() {
                    Some(stream) => stream.try_next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = next_event => match event {
                    Ok(Some(_)) => {}
                    // Ended (timeout) or failed (too old a version): watch anew.
                    Ok(None) | Err(_) => watch = None,
                },
                () = crate::listener::sleep_until(deadline) => {}
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        };
        drop(watch);
        // Let the log streams catch up with the pod's end.
        for task in log_tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
                tracing::debug!(job = %self.job.job_id, "stopped following the pod's log");
            }
        }
        result
    }

    /// Copies the pod's log (the runner's own log) to the listener's log, line by line.
    fn follow_logs(&self, pod: String) -> JoinHandle<()> {
        let pods = self.executor.pods();
        let job_id = self.job.job_id.clone();
        tokio::spawn(async move {
            let params = LogParams {
                container: Some(CONTAINER.into()),
                follow: true,
                ..LogParams::default()
            };
            let stream = match pods.log_stream(&pod, &params).await {
                Ok(stream) => stream,
                Err(err) => {
                    tracing::warn!(job = %job_id, %pod, error = %err, "cannot follow the pod's log");
                    return;
                }
            };
            let mut lines = stream.lines();
            while let Some(line) = lines.next().await {
                match line {
                    Ok(line) => {
                        tracing::info!(target: "terrace::runner_pod", job = %job_id, %pod, "{line}")
                    }
                    Err(err) => {
                        tracing::debug!(job = %job_id, error = %err, "the pod's log ended");
                        break;
                    }
                }
            }
        })
    }

    /// Deletes the Job (its pods with it) and the Secret (the garbage collector would, but
    /// the token should not outlive the job by a moment).
    async fn clean_up(&self) {
        let name = &self.job_name;
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        if !self.deleted.load(Ordering::SeqCst) {
            match self.executor.jobs().delete(name, &params).await {
                Ok(_) => {
                    tracing::info!(job = %self.job.job_id, job_name = %name, "deleted the finished Job")
                }
                Err(err) if not_found(&err) => {}
                Err(err) => tracing::warn!(job_name = %name, error = %err, "cannot delete the Job"),
            }
        }
        match self
            .executor
            .secrets()
            .delete(name, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(err) if not_found(&err) => {}
            Err(err) => tracing::warn!(job_name = %name, error = %err, "cannot delete the Secret"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
        PodCondition, PodStatus,
    };

    fn assignment() -> JobAssignment {
        JobAssignment {
            job_id: "job-AbC_123".into(),
            kind: terrace_protocol::JobKind::Plan,
            run_id: "run-XyZ".into(),
            token: "secret-token".into(),
        }
    }

    fn pod(phase: &str, container: Option<ContainerState>, conditions: Vec<PodCondition>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("terrace-job-abc-123-x7k2p".into()),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: Some(conditions),
                container_statuses: container.map(|state| {
                    vec![ContainerStatus {
                        name: CONTAINER.into(),
                        state: Some(state),
                        ..ContainerStatus::default()
                    }]
                }),
                ..PodStatus::default()
            }),
        }
    }

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(job_name("job-AbC_123"), "terrace-job-abc-123");
        let long = job_name(&"x".repeat(100));
        assert!(long.len() <= 52, "{long}");
        assert_eq!(job_name("job--__--"), "terrace-job");
        assert_eq!(label_value("_run:1_"), "run-1");
    }

    #[test]
    fn the_job_runs_the_runner_with_the_token_from_the_secret() {
        let mut config = KubernetesConfig {
            image: "registry.example/terrace:1".into(),
            service_account: Some("runner".into()),
            ..KubernetesConfig::default()
        };
        config.node_selector.insert("pool".into(), "runners".into());
        config.labels.insert("team".into(), "infra".into());
        config.annotations.insert("note".into(), "x".into());
        config.requests.insert("cpu".into(), "500m".into());
        config.limits.insert("memory".into(), "2Gi".into());
        config
            .tolerations
            .push(TolerationConfig::parse("dedicated=runners:NoSchedule").unwrap());
        let env = vec![(
            vars::SERVER_URL.to_string(),
            "https://t.example".to_string(),
        )];
        let job = job_manifest(&config, "terrace-job-abc-123", &assignment(), &env, true);
        let value = serde_json::to_value(&job).unwrap();
        let spec = &value["spec"];
        assert_eq!(spec["backoffLimit"], 0);
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["serviceAccountName"], "runner");
        assert_eq!(pod["nodeSelector"]["pool"], "runners");
        assert_eq!(pod["tolerations"][0]["key"], "dedicated");
        assert_eq!(pod["tolerations"][0]["operator"], "Equal");
        assert_eq!(pod["tolerations"][0]["effect"], "NoSchedule");
        let container = &pod["containers"][0];
        assert_eq!(container["image"], "registry.example/terrace:1");
        assert_eq!(
            container["command"],
            serde_json::json!(["terrace", "runner"])
        );
        assert_eq!(container["resources"]["requests"]["cpu"], "500m");
        assert_eq!(container["resources"]["limits"]["memory"], "2Gi");
        let text = value.to_string();
        assert!(
            !text.contains("secret-token"),
            "the token is only in the Secret"
        );
        let env = container["env"].as_array().unwrap();
        let token = env.iter().find(|e| e["name"] == vars::JOB_TOKEN).unwrap();
        assert_eq!(
            token["valueFrom"]["secretKeyRef"]["name"],
            "terrace-job-abc-123"
        );
        assert!(env.iter().any(|e| e["name"] == vars::CA_PEM));
        assert!(env
            .iter()
            .any(|e| e["name"] == vars::SERVER_URL && e["value"] == "https://t.example"));
        for meta in [&value["metadata"], &spec["template"]["metadata"]] {
            assert_eq!(meta["labels"]["team"], "infra");
            assert_eq!(meta["labels"][MANAGED_BY_LABEL], MANAGED_BY);
            assert_eq!(meta["labels"][JOB_LABEL], "job-AbC_123");
            assert_eq!(meta["annotations"]["note"], "x");
        }
        // Without a service account, no Kubernetes credentials in the pod.
        let job = job_manifest(&KubernetesConfig::default(), "n", &assignment(), &[], false);
        let pod = serde_json::to_value(&job).unwrap()["spec"]["template"]["spec"].clone();
        assert_eq!(pod["automountServiceAccountToken"], false);
    }

    #[test]
    fn runner_pods_are_restricted() {
        let config = KubernetesConfig {
            run_as_user: 1000,
            run_as_group: 1001,
            fs_group: 1002,
            ..KubernetesConfig::default()
        };
        let env = [
            (vars::WORK_DIR.to_string(), "/var/lib/listener".to_string()),
            ("HOME".to_string(), "/root".to_string()),
            ("TERRACE_LOG".to_string(), "debug".to_string()),
        ];
        let job = job_manifest(&config, "n", &assignment(), &env, false);
        let pod = serde_json::to_value(&job).unwrap()["spec"]["template"]["spec"].clone();
        assert_eq!(
            pod["securityContext"],
            serde_json::json!({
                "runAsNonRoot": true,
                "runAsUser": 1000,
                "runAsGroup": 1001,
                "fsGroup": 1002,
                "seccompProfile": {"type": "RuntimeDefault"}
            })
        );
        let container = &pod["containers"][0];
        assert_eq!(
            container["securityContext"],
            serde_json::json!({
                "runAsNonRoot": true,
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]},
                "readOnlyRootFilesystem": true
            })
        );
        // The only writable place: an emptyDir, where HOME, TMPDIR and the work dir are.
        assert_eq!(
            pod["volumes"],
            serde_json::json!([{"name": SCRATCH_VOLUME, "emptyDir": {}}])
        );
        assert_eq!(
            container["volumeMounts"],
            serde_json::json!([{"name": SCRATCH_VOLUME, "mountPath": SCRATCH_DIR}])
        );
        let env: Vec<(String, String)> = container["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e.get("value").is_some())
            .map(|e| {
                let text = |v: &serde_json::Value| v.as_str().unwrap().to_string();
                (text(&e["name"]), text(&e["value"]))
            })
            .collect();
        for name in ["HOME", "TMPDIR", vars::WORK_DIR] {
            let values: Vec<&str> = env
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(values, [SCRATCH_DIR], "{name}");
        }
        assert!(env.contains(&("TERRACE_LOG".into(), "debug".into())));
        assert_eq!(pod["automountServiceAccountToken"], false);

        assert!(KubernetesConfig::default().validate().is_ok());
        for bad in [
            KubernetesConfig {
                run_as_user: 0,
                ..KubernetesConfig::default()
            },
            KubernetesConfig {
                fs_group: -1,
                ..KubernetesConfig::default()
            },
            KubernetesConfig {
                command: vec![],
                ..KubernetesConfig::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_secret_is_owned_by_the_job() {
        let mut job = job_manifest(&KubernetesConfig::default(), "n", &assignment(), &[], false);
        job.metadata.uid = Some("uid-1".into());
        let secret = secret_manifest("n", &job, &assignment(), "secret-token", Some(b"PEM"));
        let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("Job", "uid-1"));
        let data = secret.data.unwrap();
        assert_eq!(data[TOKEN_KEY].0, b"secret-token");
        assert_eq!(data[CA_KEY].0, b"PEM");
    }

    #[test]
    fn tolerations_parse() {
        let t = TolerationConfig::parse("gpu:NoSchedule").unwrap();
        assert_eq!(t.key.as_deref(), Some("gpu"));
        assert_eq!(t.operator.as_deref(), Some("Exists"));
        assert_eq!(t.effect.as_deref(), Some("NoSchedule"));
        let t = TolerationConfig::parse("*").unwrap();
        assert_eq!((t.key, t.operator.as_deref()), (None, Some("Exists")));
        assert!(TolerationConfig::parse("a=b:Sometimes").is_err());
    }

    #[test]
    fn assessments() {
        let job = Job::default();
        assert_eq!(assess(None, &[]), Assessment::Gone);
        assert_eq!(assess(Some(&job), &[]), Assessment::Waiting);
        assert_eq!(
            assess(Some(&job), &[pod("Running", None, vec![])]),
            Assessment::Running("terrace-job-abc-123-x7k2p".into())
        );
        assert_eq!(
            assess(Some(&job), &[pod("Succeeded", None, vec![])]),
            Assessment::Succeeded
        );
        let terminated = ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: 3,
                reason: Some("Error".into()),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        };
        assert_eq!(
            assess(Some(&job), &[pod("Failed", Some(terminated), vec![])]),
            Assessment::Failed(
                "the runner pod terrace-job-abc-123-x7k2p failed: exit status 3 (Error)".into()
            )
        );
        let unschedulable = PodCondition {
            type_: "PodScheduled".into(),
            status: "False".into(),
            reason: Some("Unschedulable".into()),
            message: Some("0/1 nodes are available: 1 node(s) didn't match node selector.".into()),
            ..PodCondition::default()
        };
        let Assessment::Stuck(reason) =
            assess(Some(&job), &[pod("Pending", None, vec![unschedulable])])
        else {
            panic!("not stuck")
        };
        assert!(
            reason.contains("cannot be scheduled: 0/1 nodes are available"),
            "{reason}"
        );
        let pulling = ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("ImagePullBackOff".into()),
                message: Some("Back-off pulling image \"nope:1\"".into()),
            }),
            ..ContainerState::default()
        };
        let Assessment::Stuck(reason) =
            assess(Some(&job), &[pod("Pending", Some(pulling), vec![])])
        else {
            panic!("not stuck")
        };
        assert!(
            reason.contains("cannot start: ImagePullBackOff: Back-off"),
            "{reason}"
        );
        let creating = ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("ContainerCreating".into()),
                message: None,
            }),
            ..ContainerState::default()
        };
        assert_eq!(
            assess(Some(&job), &[pod("Pending", Some(creating), vec![])]),
            Assessment::Waiting
        );
        // A Job that failed without a pod to tell why (a deadline, say).
        let failed = Job {
            status: Some(JobStatus {
                conditions: Some(vec![JobCondition {
                    type_: "Failed".into(),
                    status: "True".into(),
                    reason: Some("DeadlineExceeded".into()),
                    message: Some("Job was active longer than specified deadline".into()),
                    ..JobCondition::default()
                }]),
                ..JobStatus::default()
            }),
            ..Job::default()
        };
        assert_eq!(
            assess(Some(&failed), &[]),
            Assessment::Failed(
                "the runner's Job failed: DeadlineExceeded: Job was active longer than specified deadline".into()
            )
        );
    }

    #[test]
    fn config_reads_toml_shaped_values() {
        let config: KubernetesConfig = serde_json::from_value(serde_json::json!({
            "namespace": "runs",
            "image": "terrace:x",
            "pending-timeout": 5,
            "node-selector": {"pool": "a"},
            "tolerations": [{"key": "k", "operator": "Exists"}],
            "requests": {"cpu": "1"},
            "run-as-user": 1000
        }))
        .unwrap();
        assert_eq!(config.run_as_user, 1000);
        assert_eq!(config.run_as_group, DEFAULT_RUNNER_ID);
        assert_eq!(config.namespace.as_deref(), Some("runs"));
        assert_eq!(config.pending_timeout, Duration::from_secs(5));
        assert_eq!(config.delete_grace_period, Duration::from_secs(30));
        assert_eq!(config.command, ["terrace", "runner"]);
        assert_eq!(config.tolerations[0].key.as_deref(), Some("k"));
    }
}
