//! The steps of one job, in order: terraform binary, configuration, backend override, state,
//! variables, environment, `init`, then the plan or the apply and what it produced.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use md5::{Digest, Md5};
use terrace_protocol::{artifacts, JobKind, JobSpec, NewState};
use tokio::sync::watch;

use super::env::{parallelism, terraform_env, BaseEnv};
use super::logs::{raise, JobLog, Stop};
use super::summary::{self, Counts};
use super::terraform::{self, Command, Control, Finished, Output};
use super::{cli_config, ssh, tools, varfiles, version, workdir, RunnerConfig};
use crate::client::{ClientError, JobClient};
use crate::confine::{self, Sandbox};
use crate::process::describe_exit;

/// Replaces any `backend`/`cloud` block: terraform keeps the state in `terraform.tfstate`
/// (notes §7.1). Override files merge in lexical order, so `zzz_` goes last.
const OVERRIDE_FILE: &str = "zzz_terrace_override.tf";
const OVERRIDE: &str = "# Written by the Terrace runner: the state is managed by Terrace.\n\
                        terraform {\n  backend \"local\" {}\n}\n";
const STATE_FILE: &str = "terraform.tfstate";
/// Debian's and most distributions' bundle of the system's CAs.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
const LOCK_FILE: &str = ".terraform.lock.hcl";

/// What a successful job produced.
#[derive(Debug)]
pub(crate) struct Report {
    pub has_changes: bool,
    pub counts: Counts,
}

#[derive(Debug)]
pub(crate) enum Failure {
    /// The job failed: a short reason for the API (the log has the details).
    Error(String),
    /// The job was told to stop (or is gone).
    Stopped,
}

type Step<T> = Result<T, Failure>;

fn error(reason: impl Into<String>) -> Failure {
    Failure::Error(reason.into())
}

/// The job's directory: everything outside `config` is the runner's.
struct Dirs {
    root: PathBuf,
    config: PathBuf,
    vars: PathBuf,
    home: PathBuf,
    tmp: PathBuf,
    cli_config: PathBuf,
    ca_bundle: PathBuf,
    tarball: PathBuf,
    plan: PathBuf,
}

impl Dirs {
    fn new(root: &Path) -> Dirs {
        Dirs {
            root: root.to_path_buf(),
            config: root.join("config"),
            vars: root.join("vars"),
            home: root.join("home"),
            tmp: root.join("tmp"),
            cli_config: root.join("terraformrc"),
            ca_bundle: root.join("ca-bundle.pem"),
            tarball: root.join("configuration.tar.gz"),
            plan: root.join("tfplan"),
        }
    }

    fn create(&self, cli_config: &str, ca_file: Option<&Path>) -> std::io::Result<()> {
        for dir in [&self.config, &self.vars, &self.home, &self.tmp] {
            std::fs::create_dir_all(dir)?;
        }
        if let Some(ca_file) = ca_file {
            // The server's CA and the system's: the configuration's providers reach other
            // hosts too.
            let mut bundle = std::fs::read(ca_file)?;
            bundle.push(b'\n');
            bundle.extend(std::fs::read(SYSTEM_CA_BUNDLE).unwrap_or_default());
            std::fs::write(&self.ca_bundle, bundle)?;
        }
        std::fs::write(&self.cli_config, cli_config)
    }
}

pub(crate) struct Job<'a> {
    config: &'a RunnerConfig,
    client: &'a JobClient,
    spec: &'a JobSpec,
    log: &'a JobLog,
    stop: &'a watch::Sender<Stop>,
    control: Control,
    dirs: Dirs,
    base: BaseEnv,
    // Filled in as the job goes.
    terraform: PathBuf,
    /// The Landlock domain terraform runs in (none where the kernel has no Landlock).
    sandbox: Option<Arc<Sandbox>>,
    working_dir: PathBuf,
    env: BTreeMap<String, String>,
    var_file_args: Vec<OsString>,
    /// Whether the binary takes `-var-file`s when applying a saved plan.
    apply_takes_var_files: bool,
    input_state_md5: Option<String>,
}

impl<'a> Job<'a> {
    pub fn new(
        config: &'a RunnerConfig,
        client: &'a JobClient,
        spec: &'a JobSpec,
        log: &'a JobLog,
        stop: &'a watch::Sender<Stop>,
        stop_rx: watch::Receiver<Stop>,
        root: &Path,
    ) -> Job<'a> {
        let dirs = Dirs::new(root);
        let base = BaseEnv {
            path: std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
            home: dirs.home.clone(),
            tmp: dirs.tmp.clone(),
            cli_config: dirs.cli_config.clone(),
            ca_bundle: config.ca_file.as_ref().map(|_| dirs.ca_bundle.clone()),
        };
        Job {
            config,
            client,
            spec,
            log,
            stop,
            control: Control {
                stop: stop_rx,
                grace: config.grace_period,
            },
            dirs,
            base,
            terraform: PathBuf::new(),
            sandbox: None,
            working_dir: PathBuf::new(),
            env: BTreeMap::new(),
            var_file_args: Vec::new(),
            apply_takes_var_files: true,
            input_state_md5: None,
        }
    }

    pub async fn execute(&mut self) -> Step<Report> {
        let support = confine::support();
        self.config
            .unconfined
            .check(&self.spec.organization, &support)
            .map_err(error)?;
        if !support.is_available() {
            self.log
                .note(format!(
                    "Warning: this run is not confined: {support}. Its processes can read \
                     whatever the runner's user can."
                ))
                .await;
        }
        let registry = cli_config::Registry {
            server_url: &self.config.server_url,
            job_token: &self.config.job_token,
        };
        let sources = cli_config::Sources {
            filesystem_mirror: self.config.provider_mirror.as_deref(),
            network_mirror: !self.config.direct_providers,
        };
        let terraformrc = cli_config::for_job(registry, sources).map_err(error)?;
        if let Some(warning) = terraformrc.warning {
            self.log.note(warning).await;
        }
        self.dirs
            .create(&terraformrc.text, self.config.ca_file.as_deref())
            .map_err(|e| error(format!("cannot prepare the job's directory: {e}")))?;
        let selected = self.select_terraform().await;
        match &selected {
            Ok(reported) => {
                self.log
                    .preamble(
                        tools::display_name(&self.spec.engine),
                        Some(&reported.version),
                        &reported.platform,
                    )
                    .await
            }
            Err(_) => {
                let platform = format!("{}_{}", std::env::consts::OS, go_arch());
                self.log
                    .preamble(tools::display_name(&self.spec.engine), None, &platform)
                    .await
            }
        }
        selected?;
        self.prepare().await?;
        if self.spec.kind == JobKind::Apply {
            self.fetch_plan().await?;
        }
        self.init().await?;
        match self.spec.kind {
            JobKind::Plan => self.plan().await,
            JobKind::Apply => self.apply().await,
        }
    }

    fn check_stop(&self) -> Step<()> {
        if *self.stop.borrow() >= Stop::Cancel {
            return Err(Failure::Stopped);
        }
        Ok(())
    }

    /// A failed request: a refused token means the job is gone.
    fn request_failed(&self, what: &str, err: ClientError) -> Failure {
        if matches!(err, ClientError::Unauthorized(_)) {
            raise(self.stop, Stop::Gone);
            return Failure::Stopped;
        }
        error(format!("{what}: {err}"))
    }

    async fn run(
        &mut self,
        args: &[&str],
        extra: Vec<OsString>,
        output: Output<'_>,
    ) -> Step<Finished> {
        let mut all: Vec<OsString> = args.iter().map(OsString::from).collect();
        all.extend(extra);
        let command = Command {
            program: &self.terraform,
            args: all,
            dir: &self.working_dir,
            env: &self.env,
            sandbox: self.sandbox.clone(),
        };
        terraform::run(command, output, &mut self.control)
            .await
            .map_err(|e| error(format!("cannot run terraform: {e}")))
    }

    /// The binary for the requested version, and what it says it is: the catalogue's (as
    /// the server resolved it), else one of the versions directory, else the default binary.
    async fn select_terraform(&mut self) -> Step<version::Reported> {
        if let Some(refusal) = &self.spec.tool_error {
            return Err(error(refusal.clone()));
        }
        let (binary, must_be) = match &self.spec.tool {
            Some(source) => {
                let cache = self.config.tools_cache();
                let http = crate::client::http_client(self.config.ca_file.as_deref())
                    .map_err(|e| error(format!("cannot fetch {}: {e}", source.version)))?;
                let binary = tools::binary(source, &cache, &http, &self.config.server_url)
                    .await
                    .map_err(error)?;
                (binary, Some(source.version.clone()))
            }
            None => self.local_binary()?,
        };
        // Terraform reads its own binary, the provider mirror, the system's paths and the job's
        // directory, and nothing else; the configuration's `file()` calls and provisioners
        // included. It runs the mirror's providers where they are (it links to them).
        let mut readable = vec![binary.clone()];
        readable.extend(self.config.provider_mirror.iter().cloned());
        readable.extend(self.config.read_paths.iter().cloned());
        self.sandbox = Sandbox::new(&self.dirs.root, &readable)
            .map_err(error)?
            .map(Arc::new);
        self.terraform = binary;
        self.working_dir = self.dirs.tmp.clone();
        self.env = self.base.vars();
        let versions = version::VersionCache::new(&self.config.tools_cache());
        let reported = match versions.get(&self.terraform) {
            Some(reported) => reported,
            None => {
                let done = self
                    .run(&["version", "-json"], vec![], Output::Split)
                    .await?;
                let reported = version::parse_version_json(&done.stdout)
                    .filter(|_| done.status.success())
                    .ok_or_else(|| {
                        error(format!(
                            "{} is not a working terraform binary ({})",
                            self.terraform.display(),
                            String::from_utf8_lossy(&done.stderr).trim()
                        ))
                    })?;
                versions.put(&self.terraform, &done.stdout);
                reported
            }
        };
        version::check_default(must_be.as_deref(), &reported.version).map_err(error)?;
        self.apply_takes_var_files =
            version::apply_takes_var_files(&self.spec.engine, &reported.version);
        Ok(reported)
    }

    /// A binary of this node: the versions directory's for an exact version, else the
    /// default one (which must then be that version).
    fn local_binary(&self) -> Step<(PathBuf, Option<String>)> {
        let requested = &self.spec.terraform_version;
        match version::choose(requested, self.config.versions_dir.as_deref()) {
            version::Choice::Versioned(path) => Ok((path, None)),
            version::Choice::Default { must_be } => {
                let found = version::find_program(&self.config.terraform_bin, &self.base.path)
                    .ok_or_else(|| {
                        error(format!(
                            "the terraform binary {} was not found",
                            self.config.terraform_bin.display()
                        ))
                    })?;
                Ok((found, must_be))
            }
        }
    }

    /// Configuration, backend override, state, variable files and environment.
    async fn prepare(&mut self) -> Step<()> {
        self.check_stop()?;
        self.client
            .download_configuration(&self.dirs.tarball)
            .await
            .map_err(|e| self.request_failed("cannot download the configuration", e))?;
        let (tarball, config) = (self.dirs.tarball.clone(), self.dirs.config.clone());
        let limits = self.config.configuration_limits;
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&tarball)?;
            terrace_slug::unpack(std::io::BufReader::new(file), &config, &limits)?;
            std::fs::remove_file(&tarball)?;
            anyhow::Ok(())
        })
        .await
        .map_err(|e| error(format!("cannot unpack the configuration: {e}")))?
        .map_err(|e| error(format!("cannot unpack the configuration: {e:#}")))?;
        self.working_dir = workdir::working_dir(&self.dirs.config, &self.spec.working_directory)
            .map_err(|e| error(e.to_string()))?;

        // A `.terraform/environment` from the tarball would select another workspace.
        let _ = std::fs::remove_file(self.working_dir.join(".terraform/environment"));
        replace_file(
            &self.working_dir.join(OVERRIDE_FILE),
            OVERRIDE.as_bytes(),
            0o644,
        )
        .map_err(|e| error(format!("cannot write the backend override: {e}")))?;

        self.check_stop()?;
        let state = if self.spec.has_state {
            self.client
                .state()
                .await
                .map_err(|e| self.request_failed("cannot download the state", e))?
        } else {
            None
        };
        let state_path = self.working_dir.join(STATE_FILE);
        match state {
            Some(bytes) => {
                self.input_state_md5 = Some(md5_hex(&bytes));
                replace_file(&state_path, &bytes, 0o600)
                    .map_err(|e| error(format!("cannot write the state: {e}")))?;
            }
            // The workspace's state is the server's, never one that came in the tarball.
            None => {
                remove_if_present(&state_path)
                    .map_err(|e| error(format!("cannot remove {STATE_FILE}: {e}")))?;
            }
        }
        let _ = remove_if_present(&self.working_dir.join("terraform.tfstate.backup"));

        self.write_var_files().await?;
        let env = terraform_env(self.spec, &self.base);
        for warning in &env.warnings {
            self.log.note(warning.clone()).await;
        }
        self.env = env.vars;
        self.prepare_ssh().await
    }

    /// The workspace's SSH key into the job's directory, and git's ssh command for it. A
    /// workspace's own `GIT_SSH_COMMAND` is kept only when no key is assigned.
    async fn prepare_ssh(&mut self) -> Step<()> {
        self.check_stop()?;
        // The system's git configuration is the machine's, not the run's (and the sandbox
        // cannot read it, which git takes as fatal).
        self.env
            .entry(ssh::NO_SYSTEM_CONFIG.to_string())
            .or_insert_with(|| "1".into());
        let key = if self.spec.has_ssh_key {
            self.client
                .ssh_key()
                .await
                .map_err(|e| self.request_failed("cannot download the workspace's SSH key", e))?
        } else {
            None
        };
        let key = match key {
            Some(bytes) => Some(
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| error("the workspace's SSH key is not text"))?,
            ),
            None if self.env.contains_key(ssh::VAR) => return Ok(()),
            None => None,
        };
        if key.is_some() && self.env.contains_key(ssh::VAR) {
            self.log
                .note(format!(
                    "Warning: the workspace's {} is replaced: its SSH key is used",
                    ssh::VAR
                ))
                .await;
        }
        let command = ssh::prepare(&self.dirs.root, key.as_deref())
            .map_err(|e| error(format!("cannot write the SSH key: {e}")))?;
        self.env.insert(ssh::VAR.to_string(), command);
        Ok(())
    }

    async fn write_var_files(&mut self) -> Step<()> {
        let mut names = Vec::new();
        for (index, file) in self.spec.var_files.iter().enumerate() {
            let rendered = varfiles::render(file);
            for warning in &rendered.warnings {
                self.log.note(warning.clone()).await;
            }
            if rendered.content.is_empty() {
                continue;
            }
            let name = varfiles::file_name(&file.name, index, &names);
            let path = self.dirs.vars.join(&name);
            replace_file(&path, rendered.content.as_bytes(), 0o600)
                .map_err(|e| error(format!("cannot write the variables: {e}")))?;
            names.push(name);
            let mut arg = OsString::from("-var-file=");
            arg.push(&path);
            self.var_file_args.push(arg);
        }
        Ok(())
    }

    /// The apply's inputs from the plan job: the plan file, and the lock file so that `init`
    /// installs the providers the plan was made with.
    async fn fetch_plan(&mut self) -> Step<()> {
        self.check_stop()?;
        let plan = self
            .client
            .artifact(artifacts::PLAN_FILE)
            .await
            .map_err(|e| self.request_failed("cannot download the plan", e))?
            .ok_or_else(|| error("the run's plan has no plan file to apply"))?;
        replace_file(&self.dirs.plan, &plan, 0o600)
            .map_err(|e| error(format!("cannot write the plan: {e}")))?;
        let lock = self
            .client
            .artifact(artifacts::LOCK_FILE)
            .await
            .map_err(|e| self.request_failed("cannot download the lock file", e))?;
        if let Some(lock) = lock {
            replace_file(&self.working_dir.join(LOCK_FILE), &lock, 0o644)
                .map_err(|e| error(format!("cannot write the lock file: {e}")))?;
        }
        Ok(())
    }

    /// `terraform init`; its output goes to the log only if it fails.
    async fn init(&mut self) -> Step<()> {
        self.check_stop()?;
        let done = self
            .run(
                &["init", "-input=false", "-no-color"],
                vec![],
                Output::Merged,
            )
            .await?;
        if done.status.success() {
            return Ok(());
        }
        self.check_stop()?;
        self.log
            .note(String::from_utf8_lossy(&done.stdout).into_owned())
            .await;
        Err(error(format!(
            "terraform init failed ({})",
            describe_exit(&done.status)
        )))
    }

    fn output_flag(&self) -> &'static str {
        if self.spec.structured_output {
            "-json"
        } else {
            "-no-color"
        }
    }

    fn parallelism_arg(&self) -> Option<OsString> {
        parallelism(self.spec).map(|n| format!("-parallelism={n}").into())
    }

    async fn plan(&mut self) -> Step<Report> {
        self.check_stop()?;
        let op = &self.spec.operation;
        let mut args: Vec<OsString> = Vec::new();
        let mut out = OsString::from("-out=");
        out.push(&self.dirs.plan);
        args.push(out);
        args.push(self.output_flag().into());
        if op.is_destroy {
            args.push("-destroy".into());
        }
        if op.refresh_only {
            args.push("-refresh-only".into());
        } else if !op.refresh {
            args.push("-refresh=false".into());
        }
        for target in &op.target_addrs {
            args.push(format!("-target={target}").into());
        }
        for replace in &op.replace_addrs {
            args.push(format!("-replace={replace}").into());
        }
        args.extend(self.parallelism_arg());
        args.extend(self.var_file_args.iter().cloned());
        let log = self.log;
        let mut ignore = |_: &str| {};
        let done = self
            .run(
                &["plan", "-input=false", "-detailed-exitcode"],
                args,
                Output::Log {
                    log,
                    scan: &mut ignore,
                },
            )
            .await?;
        let has_changes = match done.status.code() {
            Some(0) => false,
            Some(2) => true,
            _ => {
                self.check_stop()?;
                return Err(error(format!(
                    "terraform plan failed ({})",
                    describe_exit(&done.status)
                )));
            }
        };
        self.check_stop()?;

        let plan_arg = self.dirs.plan.clone().into_os_string();
        let plan_json = self.capture(&["show", "-json"], vec![plan_arg]).await?;
        let counts = summary::plan_counts(&plan_json).map_err(|e| error(e.to_string()))?;
        self.upload(artifacts::PLAN_JSON, plan_json).await?;
        let schemas = self
            .capture(&["providers", "schema", "-json"], vec![])
            .await?;
        self.upload(artifacts::PROVIDER_SCHEMAS, schemas).await?;
        // The plan file and the lock file are for the apply; a speculative plan has none, so
        // they (and the values a plan file holds) are not kept.
        if !self.spec.operation.plan_only {
            let plan = std::fs::read(&self.dirs.plan)
                .map_err(|e| error(format!("cannot read the plan file: {e}")))?;
            self.upload(artifacts::PLAN_FILE, plan).await?;
            if let Ok(lock) = std::fs::read(self.working_dir.join(LOCK_FILE)) {
                self.upload(artifacts::LOCK_FILE, lock).await?;
            }
        }
        Ok(Report {
            has_changes,
            counts,
        })
    }

    /// A terraform command's stdout (a JSON document); its stderr goes to the log if it fails.
    async fn capture(&mut self, args: &[&str], extra: Vec<OsString>) -> Step<Vec<u8>> {
        self.check_stop()?;
        let done = self.run(args, extra, Output::Split).await?;
        if done.status.success() {
            return Ok(done.stdout);
        }
        self.check_stop()?;
        self.log
            .note(String::from_utf8_lossy(&done.stderr).into_owned())
            .await;
        Err(error(format!(
            "terraform {} failed ({})",
            args.join(" "),
            describe_exit(&done.status)
        )))
    }

    async fn upload(&self, name: &str, data: Vec<u8>) -> Step<()> {
        self.client
            .put_artifact(name, Bytes::from(data))
            .await
            .map_err(|e| self.request_failed(&format!("cannot upload the {name}"), e))
    }

    async fn apply(&mut self) -> Step<Report> {
        self.check_stop()?;
        let mut args: Vec<OsString> = vec![self.output_flag().into()];
        args.extend(self.parallelism_arg());
        if self.apply_takes_var_files {
            args.extend(self.var_file_args.iter().cloned());
        }
        args.push(self.dirs.plan.clone().into_os_string());
        let json = self.spec.structured_output;
        let mut counts = None;
        let mut scan = |line: &str| {
            let found = if json {
                summary::change_summary(line)
            } else {
                summary::text_summary(line)
            };
            if found.is_some() {
                counts = found;
            }
        };
        let log = self.log;
        let done = self
            .run(
                &["apply", "-input=false"],
                args,
                Output::Log {
                    log,
                    scan: &mut scan,
                },
            )
            .await?;
        // Whatever happened, terraform may have changed resources: keep the state it wrote.
        let saved = self.save_state().await;
        if !done.status.success() {
            self.check_stop()?;
            return Err(error(format!(
                "terraform apply failed ({})",
                describe_exit(&done.status)
            )));
        }
        saved?;
        let counts = counts.unwrap_or_default();
        Ok(Report {
            has_changes: counts != Counts::default(),
            counts,
        })
    }

    /// Uploads `terraform.tfstate` if the apply changed it.
    async fn save_state(&self) -> Step<()> {
        if *self.stop.borrow() == Stop::Gone {
            return Err(Failure::Stopped);
        }
        let bytes = match std::fs::read(self.working_dir.join(STATE_FILE)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(error(format!("cannot read the new state: {e}"))),
        };
        let md5 = md5_hex(&bytes);
        if self.input_state_md5.as_deref() == Some(md5.as_str()) {
            return Ok(());
        }
        let new = new_state(&bytes, md5).map_err(error)?;
        let created = self
            .client
            .create_state_version(&new)
            .await
            .map_err(|e| self.request_failed("cannot save the new state", e))?;
        self.client
            .upload_state(&created.upload_url, Bytes::from(bytes))
            .await
            .map_err(|e| self.request_failed("cannot upload the new state", e))?;
        tracing::info!(state_version = %created.state_version_id, serial = new.serial, "new state saved");
        Ok(())
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Serial and lineage from a state file.
fn new_state(bytes: &[u8], md5: String) -> Result<NewState, String> {
    let state: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("terraform wrote an invalid state: {e}"))?;
    let serial = state
        .get("serial")
        .and_then(|v| v.as_i64())
        .ok_or("terraform wrote a state without a serial")?;
    let lineage = state
        .get("lineage")
        .and_then(|v| v.as_str())
        .ok_or("terraform wrote a state without a lineage")?
        .to_string();
    Ok(NewState {
        serial,
        lineage,
        md5,
    })
}

/// Writes a new file in place of whatever is there (never through a symlink).
fn replace_file(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    remove_if_present(path)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    // Not synced: the job's directory does not outlive the job, and terraform reads these
    // files through the page cache.
    file.write_all(data)
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Go's name for the architecture, as terraform prints it (`linux_amd64`).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_metadata() {
        let state = br#"{"version":4,"terraform_version":"1.11.4","serial":3,"lineage":"abc-123","outputs":{},"resources":[]}"#;
        let new = new_state(state, md5_hex(state)).unwrap();
        assert_eq!(new.serial, 3);
        assert_eq!(new.lineage, "abc-123");
        assert_eq!(new.md5.len(), 32);
        assert!(new_state(b"{}", String::new()).is_err());
        assert!(new_state(b"nope", String::new()).is_err());
    }

    #[test]
    fn files_are_replaced_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.path().join("terraform.tfstate");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        replace_file(&link, b"state", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "state");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&link).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
