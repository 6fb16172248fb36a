//! The server side of the job protocol (see the `terrace-protocol` crate): listeners register,
//! heartbeat and claim jobs with an agent token; runners execute a claimed job with its job
//! token, which reaches that job's run and nothing else and dies with the job.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use futures::Stream;
use terrace_protocol::{
    artifacts, EnvVar, HeartbeatResponse, JobAssignment, JobKind, JobOutcome, JobSpec, LogAck,
    NewState, Operation, RegisterRequest, TerraformVar, ToolBinary, ToolSource, VarFile,
};
use terrace_storage::blob::BlobStream;
use terrace_storage::model::{
    Engine, Listener, PageRequest, PhaseKind, PhaseStatus, Run, RunPhase, TokenKind, Variable,
    VariableCategory, Workspace,
};
use terrace_storage::{clock, ids};

use crate::caller::JobIdentity;
use crate::runs::phase_stamp;
use crate::state::{workspace_prefix, NewStateVersion};
use crate::{Caller, DomainError, DomainResult, Principal, Services};

/// A job token outlives any reasonable job; it is deleted when the job ends.
const JOB_TOKEN_HOURS: i64 = 24;
/// A running job whose runner and listener sent nothing for this long is considered dead.
pub const JOB_HEARTBEAT_TIMEOUT_SECONDS: i64 = 60;
/// How long the runner of a job that ended without being force-canceled has to exit by
/// itself before its listener is told to kill it.
const RUNNER_EXIT_GRACE_SECONDS: i64 = 30;
/// A listener that sent nothing for this long is gone.
pub const LISTENER_TIMEOUT_SECONDS: i64 = 90;

pub(crate) fn artifact_key(ws_id: &str, run_id: &str, name: &str) -> String {
    format!("{}runs/{run_id}/{name}", workspace_prefix(ws_id))
}

/// The description of the built-in listeners' tokens.
const BUILTIN_LISTENER: &str = "built-in listener";

impl Services {
    /// The pool an agent caller belongs to (`None`: the built-in listener's).
    fn agent_pool(caller: &Caller) -> DomainResult<Option<String>> {
        match &caller.principal {
            Principal::Agent { pool_id } => Ok(pool_id.clone()),
            _ => Err(DomainError::Forbidden(
                "this endpoint is for runner listeners (agent tokens)".into(),
            )),
        }
    }

    /// A fresh agent token for the server's own (built-in) listener. It does not expire: a
    /// server runs for months. Instead each start removes the built-in tokens of listeners
    /// that have been silent for a day (earlier starts, replicas gone), while every replica
    /// that runs keeps its own alive by heartbeating with it.
    pub async fn issue_server_agent_token(&self) -> DomainResult<String> {
        let stale = clock::now() - Duration::days(1);
        let mut page = PageRequest {
            number: 1,
            size: 100,
        };
        let mut silent = Vec::new();
        loop {
            let found = self
                .store
                .list_tokens(TokenKind::Agent, crate::tokens::SERVER_POOL, page)
                .await?;
            silent.extend(
                found
                    .items
                    .iter()
                    .filter(|t| t.description.as_deref() == Some(BUILTIN_LISTENER))
                    .filter(|t| t.last_used_at.unwrap_or(t.created_at) < stale)
                    .map(|t| t.id.clone()),
            );
            if u64::from(page.number) * u64::from(page.size) >= found.total {
                break;
            }
            page.number += 1;
        }
        for id in silent {
            self.store.delete_token(&id).await?;
        }
        self.issue_listener_token(BUILTIN_LISTENER).await
    }

    /// An agent token for listeners of the server's own pool (`terrace listener` next to the
    /// servers, e.g. in the same cluster). Like the built-in one it does not expire.
    pub async fn issue_listener_token(&self, description: &str) -> DomainResult<String> {
        let (_, secret) = self
            .issue_token(
                TokenKind::Agent,
                crate::tokens::SERVER_POOL,
                Some(description.into()),
                None,
                None,
            )
            .await?;
        Ok(secret)
    }

    /// Registers a listener of the caller's pool; `ip_address` is where it connected from.
    pub async fn register_listener(
        &self,
        caller: &Caller,
        request: RegisterRequest,
        ip_address: Option<String>,
    ) -> DomainResult<String> {
        let pool_id = Self::agent_pool(caller)?;
        if request.capacity == 0 || request.capacity > 256 {
            return Err(DomainError::invalid("capacity", "capacity must be 1-256"));
        }
        let now = clock::now();
        let listener = Listener {
            id: ids::new_id(ids::LISTENER),
            pool_id,
            name: request.name,
            hostname: request.hostname,
            version: request.version,
            executor: request.executor,
            capacity: i64::from(request.capacity),
            last_heartbeat_at: now,
            created_at: now,
            ip_address,
        };
        self.store.upsert_listener(&listener).await?;
        Ok(listener.id)
    }

    async fn own_listener(&self, caller: &Caller, listener_id: &str) -> DomainResult<Listener> {
        let pool_id = Self::agent_pool(caller)?;
        match self.store.listener_by_id(listener_id).await? {
            Some(l) if l.pool_id == pool_id => Ok(l),
            _ => Err(DomainError::NotFound("listener")),
        }
    }

    /// Keeps the listener and its running jobs alive; answers which of them must stop.
    pub async fn listener_heartbeat(
        &self,
        caller: &Caller,
        listener_id: &str,
        running: &[String],
    ) -> DomainResult<HeartbeatResponse> {
        let listener = self.own_listener(caller, listener_id).await?;
        self.store
            .heartbeat_jobs(&listener.id, running, clock::now())
            .await?;
        let mut response = HeartbeatResponse::default();
        for job in self.store.canceled_jobs(&listener.id).await? {
            if job.force_cancel {
                response.force_cancel.push(job.id);
            } else {
                response.cancel.push(job.id);
            }
        }
        // Jobs it still runs that ended here (force-canceled, reaped) must stop too.
        let now = clock::now();
        for id in running {
            let job = self.store.phase_by_id(id).await?;
            let own = job.filter(|job| job.listener_id.as_deref() == Some(&listener.id));
            if must_kill_runner(own.as_ref(), now) && !response.force_cancel.contains(id) {
                response.force_cancel.push(id.clone());
            }
        }
        Ok(response)
    }

    /// Claims a job for the listener, waiting up to `wait` for one to be queued.
    pub async fn claim_job(
        &self,
        caller: &Caller,
        listener_id: &str,
        wait: StdDuration,
    ) -> DomainResult<Option<JobAssignment>> {
        let listener = self.own_listener(caller, listener_id).await?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Ask to be woken before looking, so a job queued in between is not missed.
            let woken = self.jobs_available.notified();
            if let Some(assignment) = self.try_claim(&listener).await? {
                return Ok(Some(assignment));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            // A replica's signal can be lost (a dropped connection): look again every second.
            let _ =
                tokio::time::timeout((deadline - now).min(StdDuration::from_secs(1)), woken).await;
        }
    }

    async fn try_claim(&self, listener: &Listener) -> DomainResult<Option<JobAssignment>> {
        loop {
            let now = clock::now();
            let Some(job) = self
                .store
                .claim_job(listener.pool_id.as_deref(), &listener.id, now)
                .await?
            else {
                return Ok(None);
            };
            if let Some(assignment) = self.start_job(job).await? {
                return Ok(Some(assignment));
            }
        }
    }

    /// Moves the run of a freshly claimed job on and issues the job's token; `None` if the
    /// run went away in between (the job is then ended and another one claimed).
    async fn start_job(&self, mut job: RunPhase) -> DomainResult<Option<JobAssignment>> {
        let run = self.store.run_by_id(&job.run_id).await?;
        let ws = match &run {
            Some(run) => self.store.workspace_by_id(&run.workspace_id).await?,
            None => None,
        };
        let (Some(run), Some(ws)) = (run, ws) else {
            self.end_phase(
                job,
                PhaseStatus::Canceled,
                Some("the run was deleted".into()),
            )
            .await?;
            return Ok(None);
        };
        let (expected, running) = match job.kind {
            PhaseKind::Plan => (
                terrace_storage::model::RunStatus::PlanQueued,
                terrace_storage::model::RunStatus::Planning,
            ),
            PhaseKind::Apply => (
                terrace_storage::model::RunStatus::ApplyQueued,
                terrace_storage::model::RunStatus::Applying,
            ),
        };
        let mut started = run.clone();
        started.status = running;
        started.updated_at = clock::now();
        started
            .status_timestamps
            .0
            .insert(format!("{}-at", running.as_str()), started.updated_at);
        if job.kind == PhaseKind::Plan {
            // The plan is made against the state of this moment; the apply uses the same.
            started.input_state_version_id = ws.current_state_version_id.clone();
        }
        if run.status != expected || !self.store.update_run_if(&started, expected).await? {
            self.end_phase(
                job,
                PhaseStatus::Canceled,
                Some("the run is no longer waiting for this job".into()),
            )
            .await?;
            return Ok(None);
        }
        let expected = job.status;
        job.status_timestamps
            .0
            .insert("started-at".into(), clock::now());
        self.store.update_phase_if(&job, expected).await?;
        let (_, token) = self
            .issue_token(
                TokenKind::Job,
                &job.id,
                Some(format!("job {}", job.id)),
                Some(clock::now() + Duration::hours(JOB_TOKEN_HOURS)),
                None,
            )
            .await?;
        if let Some(queued) = job.queued_at {
            self.observer
                .job_started(job.kind.as_str(), crate::observe::elapsed(queued));
        }
        let kind = match job.kind {
            PhaseKind::Plan => JobKind::Plan,
            PhaseKind::Apply => JobKind::Apply,
        };
        Ok(Some(JobAssignment {
            job_id: job.id,
            kind,
            run_id: run.id,
            token,
        }))
    }

    /// The identity behind a job token (used when the token is presented), with the job and
    /// its run as they are now.
    pub(crate) async fn job_identity(&self, job_id: &str) -> DomainResult<JobIdentity> {
        let job = self
            .store
            .phase_by_id(job_id)
            .await?
            .ok_or(DomainError::Unauthorized)?;
        let run = self
            .store
            .run_by_id(&job.run_id)
            .await?
            .ok_or(DomainError::Unauthorized)?;
        Ok(JobIdentity {
            job_id: job.id.clone(),
            run_id: run.id.clone(),
            workspace_id: run.workspace_id.clone(),
            job,
            run,
        })
    }

    /// The caller's job, its run and workspace; refused once the job has ended.
    pub(crate) async fn current_job(
        &self,
        caller: &Caller,
    ) -> DomainResult<(RunPhase, Run, Workspace)> {
        let identity = running_job(caller)?;
        // Deleted since the token was checked (with its organization): the token no longer
        // holds, as if it had been checked now (401, which runners take as "gone").
        let ws = self
            .store
            .workspace_by_id(&identity.run.workspace_id)
            .await?
            .ok_or(DomainError::Unauthorized)?;
        Ok((identity.job.clone(), identity.run.clone(), ws))
    }

    pub async fn job_spec(&self, caller: &Caller) -> DomainResult<JobSpec> {
        let (job, run, ws) = self.current_job(caller).await?;
        let org = self
            .store
            .organization_by_id(&ws.organization_id)
            .await?
            .ok_or(DomainError::NotFound("organization"))?;
        let (var_files, env) = self.run_inputs(&run, &ws).await?;
        let (tool, tool_error) = self.job_tool(ws.engine, &run.terraform_version).await?;
        Ok(JobSpec {
            job_id: job.id.clone(),
            kind: match job.kind {
                PhaseKind::Plan => JobKind::Plan,
                PhaseKind::Apply => JobKind::Apply,
            },
            run_id: run.id.clone(),
            workspace_id: ws.id.clone(),
            workspace_name: ws.name.clone(),
            organization: org.name,
            working_directory: ws.working_directory.clone(),
            terraform_version: run.terraform_version.clone(),
            operation: Operation {
                is_destroy: run.is_destroy,
                refresh: run.refresh,
                refresh_only: run.refresh_only,
                plan_only: run.plan_only,
                save_plan: run.save_plan,
                allow_empty_apply: run.allow_empty_apply,
                target_addrs: run.target_addrs.0.clone().unwrap_or_default(),
                replace_addrs: run.replace_addrs.0.clone().unwrap_or_default(),
            },
            structured_output: ws.structured_run_output_enabled,
            var_files,
            env,
            has_state: run.input_state_version_id.is_some(),
            has_ssh_key: ws.ssh_key_id.is_some(),
            log_offset: job.log_size as u64,
            engine: ws.engine.as_str().to_string(),
            tool,
            tool_error,
        })
    }

    /// The binary a job runs, resolved in the engine's catalogue, or why there is none.
    async fn job_tool(
        &self,
        engine: Engine,
        requested: &str,
    ) -> DomainResult<(Option<ToolSource>, Option<String>)> {
        Ok(match self.resolve_tool_version(engine, requested).await? {
            Ok(None) => (None, None),
            Ok(Some(v)) => {
                let mut binaries = Vec::with_capacity(v.archs.0.len());
                for a in &v.archs.0 {
                    // Served from the binary cache (pulled through on first use) unless the
                    // URL is a path on the runner's own node.
                    let from_server = self.served_here(&v, a).await?;
                    binaries.push(ToolBinary {
                        url: match from_server {
                            true => self.archive_download_path(&v.id, &a.os, &a.arch),
                            false => a.url.clone(),
                        },
                        sha256: a.sha.clone(),
                        os: a.os.clone(),
                        arch: a.arch.clone(),
                        from_server,
                    });
                }
                (
                    Some(ToolSource {
                        engine: engine.as_str().to_string(),
                        version: v.version,
                        binaries,
                    }),
                    None,
                )
            }
            Err(refusal) => (
                None,
                Some(crate::engines::unavailable_message(
                    engine, requested, &refusal,
                )),
            ),
        })
    }

    /// Variable files and environment in HCP Terraform's precedence (see
    /// [`Services::variable_layers`]), run variables between the normal and the priority ones.
    async fn run_inputs(
        &self,
        run: &Run,
        ws: &Workspace,
    ) -> DomainResult<(Vec<VarFile>, Vec<EnvVar>)> {
        let layers = self.variable_layers(ws).await?;
        let mut normal: BTreeMap<String, TerraformVar> = BTreeMap::new();
        let mut priority: BTreeMap<String, TerraformVar> = BTreeMap::new();
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        let take = |target: &mut BTreeMap<String, TerraformVar>,
                    env: &mut BTreeMap<String, String>,
                    v: &Variable|
         -> DomainResult<()> {
            let value = self.variable_value(v)?;
            match v.category {
                VariableCategory::Env => {
                    env.insert(v.key.clone(), value);
                }
                VariableCategory::Terraform => {
                    target.insert(
                        v.key.clone(),
                        TerraformVar {
                            key: v.key.clone(),
                            value,
                            hcl: v.hcl,
                        },
                    );
                }
            }
            Ok(())
        };
        for v in &layers.normal {
            take(&mut normal, &mut env, v)?;
        }
        for v in &layers.priority {
            take(&mut priority, &mut env, v)?;
        }
        let run_vars = self
            .run_variables(run)?
            .into_iter()
            .map(|v| TerraformVar {
                key: v.key,
                value: v.value,
                hcl: true,
            })
            .collect();
        let files = vec![
            VarFile {
                name: "workspace.tfvars".into(),
                variables: normal.into_values().collect(),
            },
            VarFile {
                name: "run.tfvars".into(),
                variables: run_vars,
            },
            VarFile {
                name: "priority.tfvars".into(),
                variables: priority.into_values().collect(),
            },
        ];
        let env = env
            .into_iter()
            .map(|(key, value)| EnvVar { key, value })
            .collect();
        Ok((files, env))
    }

    pub async fn job_configuration(&self, caller: &Caller) -> DomainResult<BlobStream> {
        let (_, run, _) = self.current_job(caller).await?;
        let cv = self
            .store
            .configuration_version_by_id(&run.configuration_version_id)
            .await?
            .ok_or(DomainError::NotFound("configuration version"))?;
        self.configuration_tarball(&cv).await
    }

    /// The state the run's plan started from (none for a new workspace).
    pub async fn job_state(&self, caller: &Caller) -> DomainResult<Option<BlobStream>> {
        let (_, run, _) = self.current_job(caller).await?;
        match &run.input_state_version_id {
            Some(id) => Ok(Some(self.counted_out(self.state_blob(id).await?))),
            None => Ok(None),
        }
    }

    pub async fn put_job_artifact<S, E>(
        &self,
        caller: &Caller,
        name: &str,
        body: S,
    ) -> DomainResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let (job, run, ws) = self.current_job(caller).await?;
        if job.kind != PhaseKind::Plan || !artifacts::ALL.contains(&name) {
            return Err(DomainError::NotFound("artifact"));
        }
        self.write_blob(
            &artifact_key(&ws.id, &run.id, name),
            body,
            self.settings.max_state_bytes,
        )
        .await?;
        let mut marked = job.clone();
        if !marked.artifacts.0.iter().any(|a| a == name) {
            marked.artifacts.0.push(name.to_string());
            self.store.update_phase_if(&marked, job.status).await?;
        }
        Ok(())
    }

    /// An artifact of the run's plan (for the apply job).
    pub async fn job_artifact(&self, caller: &Caller, name: &str) -> DomainResult<BlobStream> {
        let (_, run, ws) = self.current_job(caller).await?;
        let (plan, _) = self.phases(&run).await?;
        if !plan.artifacts.0.iter().any(|a| a == name) {
            return Err(DomainError::NotFound("artifact"));
        }
        Ok(self
            .blobs
            .read(&artifact_key(&ws.id, &run.id, name))
            .await?)
    }

    pub async fn append_job_log(
        &self,
        caller: &Caller,
        offset: i64,
        data: &[u8],
    ) -> DomainResult<LogAck> {
        let job = &running_job(caller)?.job;
        if !data.is_empty() {
            let ciphertext = self.blobs.keyring().encrypt(data);
            self.store
                .append_log(
                    &job.id,
                    offset,
                    data.len() as i64,
                    &ciphertext,
                    clock::now(),
                )
                .await
                .map_err(|e| match e {
                    terrace_storage::StorageError::Conflict(message) => {
                        DomainError::Conflict(message)
                    }
                    other => other.into(),
                })?;
        } else {
            // An empty chunk is a runner polling for cancels: alive, even when no listener
            // heartbeats for it (a runner pod).
            self.store.touch_job(&job.id, clock::now()).await?;
        }
        Ok(LogAck {
            cancel: job.cancel_requested,
            force_cancel: job.force_cancel,
        })
    }

    /// Announces the state an apply produced; the runner then uploads it through the
    /// returned capability, as the CLI does. The run holds the workspace lock, so the write
    /// is the run's. Returns the state version's ID and the upload capability.
    pub async fn create_job_state(
        &self,
        caller: &Caller,
        new: NewState,
    ) -> DomainResult<(String, String)> {
        let (job, run, ws) = self.current_job(caller).await?;
        if job.kind != PhaseKind::Apply {
            return Err(DomainError::Conflict("only an apply writes state".into()));
        }
        let view = self
            .insert_state_version(
                caller,
                &ws,
                NewStateVersion {
                    serial: new.serial,
                    md5: new.md5,
                    lineage: Some(new.lineage),
                    force: false,
                    run_id: Some(run.id.clone()),
                    ..Default::default()
                },
            )
            .await?;
        let upload = view
            .upload
            .ok_or_else(|| DomainError::Conflict("the state version is not pending".into()))?;
        Ok((view.state_version.id, upload.state))
    }

    /// The runner's report that its job ended. Once started, it is carried to its end even if
    /// the request is dropped: ending the job and moving its run on are separate steps, and a
    /// report stopped between them left the run in `planning` for good, its job over and the
    /// job's token alive. (A runner killed or cut off while its report is answered drops the
    /// request.)
    pub async fn finish_job_report(
        &self,
        caller: &Caller,
        outcome: JobOutcome,
    ) -> DomainResult<()> {
        let job = running_job(caller)?.job.clone();
        let services = self.clone();
        let report = tokio::spawn(async move {
            let job_id = job.id.clone();
            services.finish_job(job, &outcome).await?;
            services.revoke_job_tokens(&job_id).await
        });
        match report.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(DomainError::Busy("the server is shutting down".into())),
        }
    }

    async fn revoke_job_tokens(&self, job_id: &str) -> DomainResult<()> {
        self.store.delete_tokens_of(TokenKind::Job, job_id).await?;
        Ok(())
    }

    /// Errors running jobs nobody has heard from (their runner or listener died) and forgets
    /// listeners gone silent. Returns how many jobs it ended.
    pub async fn reap_stale_jobs(&self) -> DomainResult<usize> {
        let now = clock::now();
        let stale = self
            .store
            .stale_jobs(now - Duration::seconds(JOB_HEARTBEAT_TIMEOUT_SECONDS))
            .await?;
        let mut reaped = 0;
        for job in stale {
            let outcome = JobOutcome {
                status: "errored".into(),
                error: Some(format!(
                    "the runner stopped responding: nothing heard from it for {JOB_HEARTBEAT_TIMEOUT_SECONDS} seconds (its listener or process died)"
                )),
                ..Default::default()
            };
            let job_id = job.id.clone();
            self.finish_job(job, &outcome).await?;
            self.revoke_job_tokens(&job_id).await?;
            reaped += 1;
        }
        self.store
            .delete_stale_listeners(now - Duration::seconds(LISTENER_TIMEOUT_SECONDS))
            .await?;
        Ok(reaped)
    }
}

/// Whether a listener that says it still runs `job` (`None`: no job of this listener) must
/// kill its runner. At once if the job was force-canceled or is not the listener's; if it
/// ended otherwise, only after the runner had `RUNNER_EXIT_GRACE_SECONDS` to exit by itself:
/// most jobs end by their runner's own report, and killing the runner as it is answered cut
/// the report short.
fn must_kill_runner(job: Option<&RunPhase>, now: DateTime<Utc>) -> bool {
    let Some(job) = job else {
        return true;
    };
    if !job.status.is_final() {
        return false;
    }
    if job.force_cancel {
        return true;
    }
    match job.status_timestamps.0.get(phase_stamp(job.status)) {
        Some(ended) => now - *ended >= Duration::seconds(RUNNER_EXIT_GRACE_SECONDS),
        None => true,
    }
}

/// The caller's job as read when its token was checked (in this request); refused once it
/// has ended.
fn running_job(caller: &Caller) -> DomainResult<&JobIdentity> {
    let Principal::Job(identity) = &caller.principal else {
        return Err(DomainError::Forbidden(
            "this endpoint is for runners (job tokens)".into(),
        ));
    };
    if identity.job.status != PhaseStatus::Running {
        return Err(DomainError::Conflict(format!(
            "job {} is {}: it is over",
            identity.job_id, identity.job.status
        )));
    }
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::new_phase;

    fn ended(status: PhaseStatus, at: DateTime<Utc>) -> RunPhase {
        let mut job = new_phase("plan-1".into(), "run-1", PhaseKind::Plan);
        job.status = status;
        job.status_timestamps
            .0
            .insert(phase_stamp(status).into(), at);
        job
    }

    #[test]
    fn a_runner_that_reported_its_end_has_time_to_exit() {
        let now = clock::now();
        for status in [
            PhaseStatus::Finished,
            PhaseStatus::Errored,
            PhaseStatus::Canceled,
        ] {
            let just_now = ended(status, now - Duration::seconds(1));
            assert!(!must_kill_runner(Some(&just_now), now), "{status}");
            let long_ago = ended(status, now - Duration::seconds(RUNNER_EXIT_GRACE_SECONDS));
            assert!(must_kill_runner(Some(&long_ago), now), "{status}");
        }
    }

    #[test]
    fn a_force_canceled_or_unknown_job_stops_at_once() {
        let now = clock::now();
        let mut forced = ended(PhaseStatus::Canceled, now);
        forced.force_cancel = true;
        assert!(must_kill_runner(Some(&forced), now));
        assert!(must_kill_runner(None, now));
        let mut no_stamp = ended(PhaseStatus::Errored, now);
        no_stamp.status_timestamps.0.clear();
        assert!(must_kill_runner(Some(&no_stamp), now));
    }

    #[test]
    fn a_running_job_keeps_its_runner() {
        let now = clock::now();
        let mut running = ended(PhaseStatus::Running, now - Duration::hours(1));
        assert!(!must_kill_runner(Some(&running), now));
        // A cancel asked of a running job reaches its runner as a cancel, not through this rule.
        running.cancel_requested = true;
        assert!(!must_kill_runner(Some(&running), now));
    }
}
