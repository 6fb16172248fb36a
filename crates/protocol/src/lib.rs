//! The job protocol: how listeners claim jobs and how runners execute them, over HTTP, the
//! same for the server's built-in listener, a listener in another network, or a Kubernetes Job.
//!
//! Listeners authenticate with an agent token and use [`paths::LISTENER`] routes: register,
//! heartbeat, claim (a long poll). A claimed job comes with a job token, valid for that job
//! only, with which the runner uses [`paths::JOB`] routes: fetch the spec, the configuration,
//! the input state and (for an apply) the plan; stream logs; upload the plan, its JSON, the
//! provider schemas and the new state; report how it ended.

use serde::{Deserialize, Serialize};

pub mod paths {
    /// Listener routes (agent token), under the API prefix.
    pub const LISTENER: &str = "/api/runner/v1/listeners";
    /// Runner routes (job token).
    pub const JOB: &str = "/api/runner/v1/job";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Plan,
    Apply,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    pub name: String,
    pub hostname: String,
    pub version: String,
    /// `local` or `kubernetes`.
    pub executor: String,
    /// Jobs it runs at once.
    pub capacity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterResponse {
    pub listener_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeartbeatRequest {
    /// Jobs the listener is running.
    pub running: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeartbeatResponse {
    /// Jobs to interrupt gracefully (terraform gets SIGINT).
    pub cancel: Vec<String>,
    /// Jobs to kill at once.
    pub force_cancel: Vec<String>,
}

/// A claimed job, handed to a runner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobAssignment {
    pub job_id: String,
    pub kind: JobKind,
    pub run_id: String,
    /// The job token: the runner's only credential.
    pub token: String,
}

/// Everything a runner needs to execute its job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobSpec {
    pub job_id: String,
    pub kind: JobKind,
    pub run_id: String,
    pub workspace_id: String,
    pub workspace_name: String,
    pub organization: String,
    /// Subdirectory of the configuration to run in.
    pub working_directory: String,
    /// `latest`, an exact version or a constraint.
    pub terraform_version: String,
    pub operation: Operation,
    /// Emit `-json` logs (structured run output) rather than text.
    pub structured_output: bool,
    /// Variable files in precedence order, lowest first; later ones override earlier ones.
    pub var_files: Vec<VarFile>,
    /// Environment variables for terraform.
    pub env: Vec<EnvVar>,
    /// Whether the workspace has state to start from (without, the runner does not ask).
    pub has_state: bool,
    /// Whether the workspace has an SSH key for the runner to fetch (an older server, which
    /// does not say: assumed so).
    #[serde(default = "yes")]
    pub has_ssh_key: bool,
    /// Where the runner's log starts: the server may have written there why the job waited.
    #[serde(default)]
    pub log_offset: u64,
    /// `terraform` or `tofu`: the tool `terraform_version` is a version of.
    #[serde(default = "terraform")]
    pub engine: String,
    /// The binary the server resolved the version to, from the site's catalogue. `None`: the
    /// runner's own binary runs (an empty catalogue, or an older server).
    #[serde(default)]
    pub tool: Option<ToolSource>,
    /// Why the workspace's version cannot run (not in the catalogue, naming what is): the
    /// runner fails the job with this message.
    #[serde(default)]
    pub tool_error: Option<String>,
}

fn terraform() -> String {
    "terraform".into()
}

fn yes() -> bool {
    true
}

/// A catalogue version: where each platform's binary comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolSource {
    pub engine: String,
    pub version: String,
    pub binaries: Vec<ToolBinary>,
}

/// One platform's binary: a release zip with the binary inside, or the bare binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolBinary {
    /// http(s)://, file:/// or an absolute path on the runner's node; with `from_server`, a
    /// signed path on the server (the binary cache) that the runner appends to its server URL.
    pub url: String,
    /// SHA-256 of what the URL serves, in hexadecimal: checked before the binary runs.
    pub sha256: String,
    pub os: String,
    pub arch: String,
    /// Whether `url` is a path on the server rather than a URL or a local path.
    #[serde(default)]
    pub from_server: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Operation {
    pub is_destroy: bool,
    pub refresh: bool,
    pub refresh_only: bool,
    pub plan_only: bool,
    pub save_plan: bool,
    pub allow_empty_apply: bool,
    pub target_addrs: Vec<String>,
    pub replace_addrs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VarFile {
    /// File name, for messages.
    pub name: String,
    pub variables: Vec<TerraformVar>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TerraformVar {
    pub key: String,
    pub value: String,
    /// The value is an HCL expression; otherwise it is a string.
    pub hcl: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvVar {
    pub key: String,
    pub value: String,
}

/// The server's answer to a log upload: whether the runner must stop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogAck {
    pub cancel: bool,
    pub force_cancel: bool,
}

/// How a job ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobOutcome {
    /// `finished`, `errored` or `canceled`.
    pub status: String,
    #[serde(default)]
    pub has_changes: bool,
    #[serde(default)]
    pub additions: i64,
    #[serde(default)]
    pub changes: i64,
    #[serde(default)]
    pub destructions: i64,
    #[serde(default)]
    pub imports: i64,
    #[serde(default)]
    pub error: Option<String>,
}

/// A new state version, as the runner announces it after an apply (then it PUTs the state to
/// the returned upload URL, as the CLI does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewState {
    pub serial: i64,
    pub lineage: String,
    pub md5: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewStateResponse {
    pub state_version_id: String,
    /// Where to PUT the raw state (no credentials: the URL is the capability). Relative to
    /// the server URL the runner uses.
    pub upload_url: String,
}

/// Artifacts a plan job uploads and an apply job downloads.
pub mod artifacts {
    /// The binary plan (`terraform plan -out`).
    pub const PLAN_FILE: &str = "plan-file";
    /// `terraform show -json` of the plan.
    pub const PLAN_JSON: &str = "plan-json";
    /// `terraform providers schema -json`.
    pub const PROVIDER_SCHEMAS: &str = "provider-schemas";
    /// `.terraform.lock.hcl` after `terraform init`.
    pub const LOCK_FILE: &str = "lock-file";
    pub const ALL: &[&str] = &[PLAN_FILE, PLAN_JSON, PROVIDER_SCHEMAS, LOCK_FILE];
}
