//! Run tasks during a run: a run gets a task stage per stage its workspace's enabled tasks
//! are attached to, and a task result per task there, when it is created (the CLI reads
//! them right away). At its stage the run waits (`pre_plan_running`, ...), each result's
//! service gets a request (HCP's payload, signed), and answers through the result's
//! callback with a token made for that result alone. A stage passes unless a mandatory
//! result failed, errored or timed out; a failed stage errors the run. Post-apply tasks run
//! after the run is applied and leave it applied.
//!
//! ```text
//! pending → pre_plan_running → pre_plan_completed → plan_queued → ... planning
//! planning → post_plan_running → post_plan_completed → planned | confirmed | planned_and_...
//! confirmed → pre_apply_running → pre_apply_completed → apply_queued → applying → applied
//! any *_running → errored (a mandatory task failed) | canceled
//! ```

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use terrace_storage::model::{
    JsonText, PhaseStatus, Run, RunStatus, RunTask, TaskEnforcement, TaskResult, TaskResultStatus,
    TaskStage, TaskStageName, TaskStageStatus, TokenKind, WorkspaceRunTask,
};
use terrace_storage::{clock, ids};

use crate::caller::Principal;
use crate::notifications::delivery::{backoff, in_parallel, Unsent};
use crate::{Caller, DomainError, DomainResult, Services};

use super::stamp;

/// Attempts at a request before its result is errored.
pub const MAX_ATTEMPTS: i32 = 4;
/// How long a claim holds a request: longer than one can take.
const LEASE_SECONDS: i64 = 60;

// The rules, as pure functions.

/// How a stage stands, from its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageOutcome {
    /// Some result still waits for its service.
    Running,
    /// Every result is in, and no mandatory one failed (advisory failures only warn).
    Passed,
    /// A mandatory result failed, errored or was unreachable.
    Failed,
}

pub fn stage_outcome(results: &[TaskResult]) -> StageOutcome {
    use TaskResultStatus::*;
    if results
        .iter()
        .any(|r| matches!(r.status, Pending | Running))
    {
        return StageOutcome::Running;
    }
    let mandatory_failed = results.iter().any(|r| {
        r.enforcement_level == TaskEnforcement::Mandatory
            && matches!(r.status, Failed | Errored | Unreachable)
    });
    if mandatory_failed {
        StageOutcome::Failed
    } else {
        StageOutcome::Passed
    }
}

/// The run's status while a stage runs, and once it passed (`None`: the run does not wait,
/// as after its apply).
pub fn run_statuses(stage: TaskStageName) -> Option<(RunStatus, RunStatus)> {
    match stage {
        TaskStageName::PrePlan => Some((RunStatus::PrePlanRunning, RunStatus::PrePlanCompleted)),
        TaskStageName::PostPlan => Some((RunStatus::PostPlanRunning, RunStatus::PostPlanCompleted)),
        TaskStageName::PreApply => Some((RunStatus::PreApplyRunning, RunStatus::PreApplyCompleted)),
        TaskStageName::PostApply => None,
    }
}

/// What a stage not over becomes when its run ends with `run_status` (`None`: it stays; the
/// post-apply stage of an applied run is still to come).
pub fn closed_stage(run_status: RunStatus, stage: TaskStageStatus) -> Option<TaskStageStatus> {
    use TaskStageStatus::*;
    if run_status == RunStatus::Applied || !matches!(stage, Pending | Running) {
        return None;
    }
    Some(match (stage, run_status) {
        (Running, RunStatus::Canceled | RunStatus::Discarded) => Canceled,
        (Running, _) => Errored,
        _ => Unreachable,
    })
}

/// The stages and results of a new run: one stage per stage an enabled task is attached to
/// (in run order), one result per task attached there, copying the task's name and URL and
/// the attachment's enforcement level.
pub fn new_stages(
    run_id: &str,
    attached: &[(WorkspaceRunTask, RunTask)],
    now: DateTime<Utc>,
) -> (Vec<TaskStage>, Vec<TaskResult>) {
    let order = [
        TaskStageName::PrePlan,
        TaskStageName::PostPlan,
        TaskStageName::PreApply,
        TaskStageName::PostApply,
    ];
    let (mut stages, mut results) = (Vec::new(), Vec::new());
    for (i, name) in order.into_iter().enumerate() {
        let here: Vec<_> = attached
            .iter()
            .filter(|(a, t)| t.enabled && a.stages.0.contains(&name))
            .collect();
        if here.is_empty() {
            continue;
        }
        // Created in run order: listed by creation time, then ID.
        let created = now + Duration::microseconds(i as i64);
        let mut stamps = JsonText::default();
        stamp(&mut stamps, "pending-at", now);
        let stage = TaskStage {
            id: ids::new_id(ids::TASK_STAGE),
            run_id: run_id.to_string(),
            stage: name,
            status: TaskStageStatus::Pending,
            status_timestamps: stamps.clone(),
            created_at: created,
            updated_at: created,
        };
        for (j, (attachment, task)) in here.into_iter().enumerate() {
            let created = now + Duration::microseconds(j as i64);
            results.push(TaskResult {
                id: ids::new_id(ids::TASK_RESULT),
                task_stage_id: stage.id.clone(),
                run_id: run_id.to_string(),
                task_id: task.id.clone(),
                task_name: task.name.clone(),
                task_url: task.url.clone(),
                workspace_task_id: attachment.id.clone(),
                enforcement_level: attachment.enforcement_level,
                status: TaskResultStatus::Pending,
                message: String::new(),
                url: String::new(),
                outcomes: JsonText(Vec::new()),
                status_timestamps: stamps.clone(),
                request_attempts: 0,
                next_request_at: None,
                lease_owner: None,
                lease_until: None,
                deadline_at: None,
                created_at: created,
                updated_at: created,
            });
        }
        stages.push(stage);
    }
    (stages, results)
}

/// What a request tells the task service (HCP's payload, version 1).
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    pub base_url: String,
    pub stage: String,
    pub access_token: String,
    pub result_id: String,
    pub enforcement_level: String,
    pub run_id: String,
    pub run_message: String,
    pub run_created_at: String,
    pub run_created_by: Option<String>,
    pub is_speculative: bool,
    pub workspace_id: String,
    pub workspace_name: String,
    pub workspace_working_directory: String,
    pub organization_name: String,
    pub configuration_version_id: String,
    /// The plan's ID, for post-plan stages and later.
    pub plan_id: Option<String>,
}

pub fn request_payload(f: &RequestFacts) -> Value {
    let base = f.base_url.trim_end_matches('/');
    let workspace_app_url = format!(
        "{base}/app/{}/workspaces/{}",
        f.organization_name, f.workspace_name
    );
    json!({
        "payload_version": 1,
        "stage": f.stage,
        "access_token": f.access_token,
        "capabilities": {"outcomes": true},
        "configuration_version_download_url": format!(
            "{base}/api/v2/configuration-versions/{}/download", f.configuration_version_id),
        "configuration_version_id": f.configuration_version_id,
        "is_speculative": f.is_speculative,
        "organization_name": f.organization_name,
        "plan_json_api_url": f.plan_id.as_ref()
            .map(|id| format!("{base}/api/v2/plans/{id}/json-output")),
        "run_app_url": format!("{workspace_app_url}/runs/{}", f.run_id),
        "run_created_at": f.run_created_at,
        "run_created_by": f.run_created_by,
        "run_id": f.run_id,
        "run_message": f.run_message,
        "task_result_callback_url": format!("{base}/api/v2/task-results/{}/callback", f.result_id),
        "task_result_enforcement_level": f.enforcement_level,
        "task_result_id": f.result_id,
        "vcs_branch": Value::Null,
        "vcs_commit_url": Value::Null,
        "vcs_pull_request_url": Value::Null,
        "vcs_repo_url": Value::Null,
        "workspace_app_url": workspace_app_url,
        "workspace_id": f.workspace_id,
        "workspace_name": f.workspace_name,
        "workspace_working_directory": f.workspace_working_directory,
    })
}

/// A service's callback (go-tfe's `TaskResultCallbackRequestOptions`).
#[derive(Debug, Clone, Default)]
pub struct TaskCallback {
    pub status: String,
    pub message: Option<String>,
    pub url: Option<String>,
    pub outcomes: Option<Vec<Value>>,
}

/// The status a callback asks for: `running`, `passed` or `failed`.
pub fn callback_status(status: &str) -> DomainResult<TaskResultStatus> {
    match status {
        "running" => Ok(TaskResultStatus::Running),
        "passed" => Ok(TaskResultStatus::Passed),
        "failed" => Ok(TaskResultStatus::Failed),
        other => Err(DomainError::invalid(
            "status",
            format!("a task result's callback sets running, passed or failed, not {other:?}"),
        )),
    }
}

fn is_final(status: TaskResultStatus) -> bool {
    !matches!(
        status,
        TaskResultStatus::Pending | TaskResultStatus::Running
    )
}

fn result_stamp(status: impl std::fmt::Display) -> String {
    format!("{}-at", status.to_string().replace('_', "-"))
}

impl Services {
    /// Stores the stages and results of a new run (nothing without attached tasks).
    pub(crate) async fn create_task_stages(&self, run: &Run) -> DomainResult<()> {
        let attached = self.store.attached_run_tasks(&run.workspace_id).await?;
        if attached.is_empty() {
            return Ok(());
        }
        let (stages, results) = new_stages(&run.id, &attached, run.created_at);
        self.store.create_task_stages(&stages, &results).await?;
        Ok(())
    }

    /// The run's stage of this name if it has not started.
    pub(crate) async fn pending_task_stage(
        &self,
        run_id: &str,
        name: TaskStageName,
    ) -> DomainResult<Option<TaskStage>> {
        Ok(self
            .store
            .task_stages_of_run(run_id)
            .await?
            .into_iter()
            .find(|s| s.stage == name && s.status == TaskStageStatus::Pending))
    }

    /// Starts a stage (its run already moved to the stage's running status): its results'
    /// requests are due now and must be answered by the deadline.
    pub(crate) async fn begin_task_stage(&self, mut stage: TaskStage) -> DomainResult<()> {
        let now = clock::now();
        stage.status = TaskStageStatus::Running;
        stage.updated_at = now;
        stamp(&mut stage.status_timestamps, "running-at", now);
        if !self
            .store
            .update_task_stage_if(&stage, TaskStageStatus::Pending)
            .await?
        {
            return Ok(());
        }
        let deadline = now + self.settings.run_task_timeout;
        for mut result in self.store.task_results_of_stage(&stage.id).await? {
            if result.status != TaskResultStatus::Pending {
                continue;
            }
            result.next_request_at = Some(now);
            result.deadline_at = Some(deadline);
            result.updated_at = now;
            self.store
                .update_task_result_if(&result, TaskResultStatus::Pending)
                .await?;
        }
        Ok(())
    }

    /// Ends a running stage whose results are all in, and moves its run on.
    async fn settle_task_stage(&self, stage_id: &str) -> DomainResult<()> {
        let Some(mut stage) = self.store.task_stage_by_id(stage_id).await? else {
            return Ok(());
        };
        if stage.status != TaskStageStatus::Running {
            return Ok(());
        }
        let results = self.store.task_results_of_stage(stage_id).await?;
        let to = match stage_outcome(&results) {
            StageOutcome::Running => return Ok(()),
            StageOutcome::Passed => TaskStageStatus::Passed,
            StageOutcome::Failed => TaskStageStatus::Failed,
        };
        let now = clock::now();
        stage.status = to;
        stage.updated_at = now;
        stamp(&mut stage.status_timestamps, &result_stamp(to), now);
        if !self
            .store
            .update_task_stage_if(&stage, TaskStageStatus::Running)
            .await?
        {
            return Ok(()); // another replica settled it
        }
        let Some(run) = self.store.run_by_id(&stage.run_id).await? else {
            return Ok(());
        };
        let Some((running, completed)) = run_statuses(stage.stage) else {
            return Ok(()); // post-apply: the run stays applied
        };
        if run.status != running {
            return Ok(()); // canceled meanwhile
        }
        let Some(ws) = self.store.workspace_by_id(&run.workspace_id).await? else {
            return Ok(());
        };
        if to == TaskStageStatus::Failed {
            let reason = format!(
                "a mandatory {} task failed",
                stage.stage.as_str().replace('_', "-")
            );
            return self
                .end_run(run, RunStatus::Errored, &ws, None, Some(&reason))
                .await;
        }
        let mut done = run.clone();
        self.set_status(&mut done, completed);
        if !self.store.update_run_if(&done, running).await? {
            return Ok(());
        }
        match stage.stage {
            TaskStageName::PrePlan => self.start_plan(&done.id, &ws).await,
            TaskStageName::PostPlan => self.decide_after_plan(done, completed, &ws).await,
            TaskStageName::PreApply => self.start_apply(&done).await,
            TaskStageName::PostApply => Ok(()),
        }
    }

    /// When a run ends (but applied), its stages still to come or under way end with it and
    /// their results' requests stop.
    pub(crate) async fn close_task_stages(&self, run: &Run) -> DomainResult<()> {
        for mut stage in self.store.task_stages_of_run(&run.id).await? {
            let Some(to) = closed_stage(run.status, stage.status) else {
                continue;
            };
            let expected = stage.status;
            let now = clock::now();
            stage.status = to;
            stage.updated_at = now;
            stamp(&mut stage.status_timestamps, &result_stamp(to), now);
            if !self.store.update_task_stage_if(&stage, expected).await? {
                continue;
            }
            for mut result in self.store.task_results_of_stage(&stage.id).await? {
                if is_final(result.status) {
                    continue;
                }
                let expected = result.status;
                result.next_request_at = None;
                result.deadline_at = None;
                result.updated_at = now;
                self.store.update_task_result_if(&result, expected).await?;
                self.store
                    .delete_tokens_of(TokenKind::TaskResult, &result.id)
                    .await?;
            }
        }
        Ok(())
    }

    /// Ends a result without its service's word (given up, timed out), then its stage.
    async fn error_task_result(&self, mut result: TaskResult, why: &str) -> DomainResult<()> {
        let expected = result.status;
        if is_final(expected) {
            return Ok(());
        }
        let now = clock::now();
        result.status = TaskResultStatus::Errored;
        result.message = why.to_string();
        result.next_request_at = None;
        result.deadline_at = None;
        result.updated_at = now;
        stamp(&mut result.status_timestamps, "errored-at", now);
        if self.store.update_task_result_if(&result, expected).await? {
            self.store
                .delete_tokens_of(TokenKind::TaskResult, &result.id)
                .await?;
            self.settle_task_stage(&result.task_stage_id).await?;
        }
        Ok(())
    }

    /// Errors results past their deadline, then sends the due requests, several at a time
    /// (`in_parallel`: one tenant's slow service does not hold up everyone else's); `owner`
    /// names this replica's leases. Returns how many requests were attempted.
    pub async fn run_task_requests(&self, owner: &str) -> DomainResult<usize> {
        for result in self.store.overdue_task_results(clock::now()).await? {
            self.error_task_result(
                result,
                "the task service did not answer before the deadline",
            )
            .await?;
        }
        in_parallel(
            50,
            || async move {
                let now = clock::now();
                Ok(self
                    .store
                    .claim_task_result_request(owner, now, now + Duration::seconds(LEASE_SECONDS))
                    .await?)
            },
            |result| {
                let (this, owner) = (self.clone(), owner.to_string());
                async move { this.attempt_task_request(result, &owner).await }
            },
        )
        .await
    }

    /// One claimed request, settled: sent, due again after its backoff, or given up (the
    /// result errored).
    async fn attempt_task_request(&self, result: TaskResult, owner: &str) -> DomainResult<()> {
        let number = result.request_attempts + 1;
        let sent = self.send_task_request(&result).await;
        let retry = match &sent {
            Ok(()) => None,
            Err((true, _)) if number < MAX_ATTEMPTS => Some(clock::now() + backoff(number)),
            Err(_) => None,
        };
        self.store
            .settle_task_result_request(&result.id, owner, retry, clock::now())
            .await?;
        if let (Err((_, why)), None) = (&sent, retry) {
            tracing::warn!(result = %result.id, run = %result.run_id, %why,
                "a run task's request was given up");
            if let Some(current) = self.store.task_result_by_id(&result.id).await? {
                self.error_task_result(current, &format!("the request failed: {why}"))
                    .await?;
            }
        }
        Ok(())
    }

    /// One request to a result's service, with a fresh token for its callback. Err: why,
    /// and whether it is worth trying again.
    async fn send_task_request(&self, result: &TaskResult) -> Result<(), (bool, String)> {
        let fail = |e: DomainError| (true, e.to_string());
        let stage = self
            .store
            .task_stage_by_id(&result.task_stage_id)
            .await
            .map_err(|e| fail(e.into()))?
            .ok_or((false, "the stage is gone".to_string()))?;
        let run = self
            .store
            .run_by_id(&result.run_id)
            .await
            .map_err(|e| fail(e.into()))?
            .ok_or((false, "the run is gone".to_string()))?;
        let ws = self
            .store
            .workspace_by_id(&run.workspace_id)
            .await
            .map_err(|e| fail(e.into()))?
            .ok_or((false, "the workspace is gone".to_string()))?;
        let org = self
            .store
            .organization_by_id(&ws.organization_id)
            .await
            .map_err(|e| fail(e.into()))?
            .ok_or((false, "the organization is gone".to_string()))?;
        // The key is the task's as it is now; a task deleted since gets no request (it
        // would go unsigned to a URL nobody vouches for any more).
        let task = self
            .store
            .run_task_by_id(&result.task_id)
            .await
            .map_err(|e| fail(e.into()))?
            .ok_or((false, "the task was deleted".to_string()))?;
        let key = match task.hmac_key_ciphertext.as_ref() {
            Some(sealed) if !sealed.is_empty() => Some(
                self.blobs
                    .keyring()
                    .decrypt(sealed)
                    .map_err(|e| fail(e.into()))?,
            ),
            _ => None,
        };
        let created_by = match &run.created_by {
            Some(id) => self
                .store
                .user_by_id(id)
                .await
                .ok()
                .flatten()
                .map(|u| u.username),
            None => None,
        };
        let plan_id = if stage.stage == TaskStageName::PrePlan {
            None
        } else {
            let (plan, _) = self.phases(&run).await.map_err(fail)?;
            Some(plan.id)
        };
        // One valid token per result: the last request's.
        self.store
            .delete_tokens_of(TokenKind::TaskResult, &result.id)
            .await
            .map_err(|e| fail(e.into()))?;
        let (_, secret) = self
            .issue_token(
                TokenKind::TaskResult,
                &result.id,
                Some(format!("task result {}", result.id)),
                Some(
                    result
                        .deadline_at
                        .unwrap_or_else(|| clock::now() + self.settings.run_task_timeout),
                ),
                None,
            )
            .await
            .map_err(fail)?;
        let facts = RequestFacts {
            base_url: self
                .notifier
                .as_ref()
                .map(|n| n.base_url.clone())
                .unwrap_or_default(),
            stage: stage.stage.to_string(),
            access_token: secret,
            result_id: result.id.clone(),
            enforcement_level: result.enforcement_level.to_string(),
            run_id: run.id.clone(),
            run_message: run.message.clone(),
            run_created_at: run
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            run_created_by: created_by,
            is_speculative: run.plan_only,
            workspace_id: ws.id.clone(),
            workspace_name: ws.name.clone(),
            workspace_working_directory: ws.working_directory.clone(),
            organization_name: org.name.clone(),
            configuration_version_id: run.configuration_version_id.clone(),
            plan_id,
        };
        let body = serde_json::to_vec(&request_payload(&facts)).expect("JSON serializes");
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        if let Some(key) = key {
            headers.push((
                "X-TFC-Task-Signature".into(),
                crate::notifications::payload::signature(&key, &body),
            ));
        }
        match self.post_checked(&result.task_url, headers, body).await {
            Ok(answer) if answer.status == 200 => Ok(()),
            Ok(answer) => Err((true, format!("the service answered {}", answer.status))),
            Err(Unsent::Refused(why)) => Err((false, why)),
            Err(Unsent::Failed(why)) => Err((true, why)),
        }
    }

    /// A service's callback on its result (`PATCH /task-results/:id/callback`), with the
    /// token its request carried: that token answers that result only.
    pub async fn task_result_callback(
        &self,
        caller: &Caller,
        id: &str,
        callback: TaskCallback,
    ) -> DomainResult<TaskResult> {
        let Principal::TaskResult { result_id, .. } = &caller.principal else {
            return Err(DomainError::NotFound("task result"));
        };
        if result_id != id {
            return Err(DomainError::NotFound("task result"));
        }
        let status = callback_status(&callback.status)?;
        let result = self
            .store
            .task_result_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("task result"))?;
        if is_final(result.status) {
            return Err(DomainError::Conflict(format!(
                "the task result is {} already",
                result.status
            )));
        }
        let stage = self
            .store
            .task_stage_by_id(&result.task_stage_id)
            .await?
            .ok_or(DomainError::NotFound("task result"))?;
        if stage.status != TaskStageStatus::Running {
            return Err(DomainError::Conflict(format!(
                "the task stage is {}, no longer waiting for results",
                stage.status
            )));
        }
        let now = clock::now();
        let mut next = result.clone();
        next.status = status;
        if let Some(message) = callback.message {
            next.message = message;
        }
        if let Some(url) = callback.url {
            next.url = url;
        }
        if let Some(outcomes) = callback.outcomes {
            next.outcomes = JsonText(outcomes);
        }
        next.next_request_at = None;
        next.lease_owner = None;
        next.lease_until = None;
        next.updated_at = now;
        stamp(&mut next.status_timestamps, &result_stamp(status), now);
        if is_final(status) {
            next.deadline_at = None;
        }
        if !self
            .store
            .update_task_result_if(&next, result.status)
            .await?
        {
            return Err(DomainError::Conflict(
                "the task result changed meanwhile".into(),
            ));
        }
        if is_final(status) {
            self.store
                .delete_tokens_of(TokenKind::TaskResult, &next.id)
                .await?;
            self.settle_task_stage(&next.task_stage_id).await?;
        }
        Ok(next)
    }

    /// The plan JSON a task result's service may read: its run's plan only.
    pub(crate) async fn task_plan_json(
        &self,
        run_id: &str,
        plan_id: &str,
    ) -> DomainResult<Option<Vec<u8>>> {
        let plan = self
            .store
            .phase_by_id(plan_id)
            .await?
            .filter(|p| p.run_id == run_id && p.kind == terrace_storage::model::PhaseKind::Plan)
            .ok_or(DomainError::NotFound("plan"))?;
        if plan.status != PhaseStatus::Finished
            || !plan
                .artifacts
                .0
                .iter()
                .any(|a| a == terrace_protocol::artifacts::PLAN_JSON)
        {
            return Ok(None);
        }
        let run = self
            .store
            .run_by_id(run_id)
            .await?
            .ok_or(DomainError::NotFound("plan"))?;
        let key = crate::jobs::artifact_key(
            &run.workspace_id,
            run_id,
            terrace_protocol::artifacts::PLAN_JSON,
        );
        Ok(Some(self.blobs.get(&key).await?))
    }

    /// A run's stages with their results (who may read the run).
    pub async fn run_task_stages(
        &self,
        caller: &Caller,
        run_id: &str,
    ) -> DomainResult<Vec<(TaskStage, Vec<TaskResult>)>> {
        let (run, _, _, _) = self
            .run_for(caller, run_id, terrace_auth::policy::Action::ReadRuns)
            .await?;
        let mut out = Vec::new();
        for stage in self.store.task_stages_of_run(&run.id).await? {
            let results = self.store.task_results_of_stage(&stage.id).await?;
            out.push((stage, results));
        }
        Ok(out)
    }

    pub async fn task_stage(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<(TaskStage, Vec<TaskResult>)> {
        let stage = self
            .store
            .task_stage_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("task stage"))?;
        self.run_for(
            caller,
            &stage.run_id,
            terrace_auth::policy::Action::ReadRuns,
        )
        .await
        .map_err(|e| match e {
            DomainError::NotFound(_) => DomainError::NotFound("task stage"),
            other => other,
        })?;
        let results = self.store.task_results_of_stage(&stage.id).await?;
        Ok((stage, results))
    }

    pub async fn task_result(&self, caller: &Caller, id: &str) -> DomainResult<TaskResult> {
        let result = self
            .store
            .task_result_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("task result"))?;
        self.run_for(
            caller,
            &result.run_id,
            terrace_auth::policy::Action::ReadRuns,
        )
        .await
        .map_err(|e| match e {
            DomainError::NotFound(_) => DomainError::NotFound("task result"),
            other => other,
        })?;
        Ok(result)
    }

    /// `POST /task-stages/:id/actions/override`: only a stage awaiting an override can be
    /// overridden, and run tasks never leave one so (policy evaluations would).
    pub async fn override_task_stage(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let stage = self
            .store
            .task_stage_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("task stage"))?;
        self.run_for(
            caller,
            &stage.run_id,
            terrace_auth::policy::Action::QueueApply,
        )
        .await
        .map_err(|e| match e {
            DomainError::NotFound(_) => DomainError::NotFound("task stage"),
            other => other,
        })?;
        Err(DomainError::Conflict(format!(
            "the task stage is {}: only a stage awaiting an override can be overridden",
            stage.status
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(level: TaskEnforcement, status: TaskResultStatus) -> TaskResult {
        let now = Utc::now();
        TaskResult {
            id: "taskrs-1".into(),
            task_stage_id: "ts-1".into(),
            run_id: "run-1".into(),
            task_id: "task-1".into(),
            task_name: "t".into(),
            task_url: "http://x".into(),
            workspace_task_id: "wstask-1".into(),
            enforcement_level: level,
            status,
            message: String::new(),
            url: String::new(),
            outcomes: JsonText(Vec::new()),
            status_timestamps: JsonText::default(),
            request_attempts: 0,
            next_request_at: None,
            lease_owner: None,
            lease_until: None,
            deadline_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_stage_fails_only_on_a_mandatory_failure() {
        use TaskEnforcement::*;
        use TaskResultStatus::*;
        let outcome = |rs: &[(TaskEnforcement, TaskResultStatus)]| {
            stage_outcome(&rs.iter().map(|(l, s)| result(*l, *s)).collect::<Vec<_>>())
        };
        assert_eq!(outcome(&[(Mandatory, Passed)]), StageOutcome::Passed);
        assert_eq!(outcome(&[(Advisory, Failed)]), StageOutcome::Passed);
        assert_eq!(outcome(&[(Advisory, Errored)]), StageOutcome::Passed);
        assert_eq!(outcome(&[(Mandatory, Failed)]), StageOutcome::Failed);
        assert_eq!(outcome(&[(Mandatory, Errored)]), StageOutcome::Failed);
        assert_eq!(
            outcome(&[(Mandatory, Failed), (Advisory, Running)]),
            StageOutcome::Running,
            "a stage ends when every result is in"
        );
        assert_eq!(
            outcome(&[(Advisory, Failed), (Mandatory, Pending)]),
            StageOutcome::Running
        );
    }

    #[test]
    fn each_stage_has_its_run_statuses_but_post_apply() {
        assert_eq!(
            run_statuses(TaskStageName::PrePlan),
            Some((RunStatus::PrePlanRunning, RunStatus::PrePlanCompleted))
        );
        assert_eq!(
            run_statuses(TaskStageName::PostPlan),
            Some((RunStatus::PostPlanRunning, RunStatus::PostPlanCompleted))
        );
        assert_eq!(
            run_statuses(TaskStageName::PreApply),
            Some((RunStatus::PreApplyRunning, RunStatus::PreApplyCompleted))
        );
        assert_eq!(run_statuses(TaskStageName::PostApply), None);
    }

    #[test]
    fn an_ending_run_closes_the_stages_not_over() {
        use TaskStageStatus::*;
        assert_eq!(closed_stage(RunStatus::Canceled, Running), Some(Canceled));
        assert_eq!(closed_stage(RunStatus::Errored, Running), Some(Errored));
        assert_eq!(closed_stage(RunStatus::Errored, Pending), Some(Unreachable));
        assert_eq!(closed_stage(RunStatus::Errored, Failed), None);
        assert_eq!(
            closed_stage(RunStatus::Applied, Pending),
            None,
            "post-apply tasks come after"
        );
    }

    #[test]
    fn stages_follow_enabled_attachments_in_run_order() {
        let now = Utc::now();
        let task = |id: &str, enabled: bool| RunTask {
            id: id.into(),
            organization_id: "org-1".into(),
            name: format!("name-{id}"),
            url: format!("http://{id}"),
            description: String::new(),
            category: "task".into(),
            hmac_key_ciphertext: None,
            enabled,
            created_at: now,
            updated_at: now,
        };
        let attach = |id: &str, task: &str, level, stages: Vec<TaskStageName>| WorkspaceRunTask {
            id: id.into(),
            workspace_id: "ws-1".into(),
            task_id: task.into(),
            enforcement_level: level,
            stages: JsonText(stages),
            created_at: now,
            updated_at: now,
        };
        let attached = vec![
            (
                attach(
                    "wstask-a",
                    "task-a",
                    TaskEnforcement::Mandatory,
                    vec![TaskStageName::PreApply, TaskStageName::PostPlan],
                ),
                task("task-a", true),
            ),
            (
                attach(
                    "wstask-b",
                    "task-b",
                    TaskEnforcement::Advisory,
                    vec![TaskStageName::PrePlan],
                ),
                task("task-b", false),
            ),
        ];
        let (stages, results) = new_stages("run-1", &attached, now);
        let names: Vec<_> = stages.iter().map(|s| s.stage).collect();
        assert_eq!(
            names,
            vec![TaskStageName::PostPlan, TaskStageName::PreApply],
            "the disabled task's pre-plan stage is not made"
        );
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(|r| r.task_name == "name-task-a"
            && r.enforcement_level == TaskEnforcement::Mandatory
            && r.workspace_task_id == "wstask-a"
            && r.status == TaskResultStatus::Pending));
        assert!(stages.iter().all(|s| s.status == TaskStageStatus::Pending));
    }

    #[test]
    fn the_payload_names_the_callback_and_the_plan() {
        let facts = RequestFacts {
            base_url: "https://terrace.example/".into(),
            stage: "post_plan".into(),
            result_id: "taskrs-1".into(),
            run_id: "run-1".into(),
            organization_name: "acme".into(),
            workspace_name: "app".into(),
            plan_id: Some("plan-1".into()),
            ..Default::default()
        };
        let p = request_payload(&facts);
        assert_eq!(p["payload_version"], 1);
        assert_eq!(
            p["task_result_callback_url"],
            "https://terrace.example/api/v2/task-results/taskrs-1/callback"
        );
        assert_eq!(
            p["plan_json_api_url"],
            "https://terrace.example/api/v2/plans/plan-1/json-output"
        );
        assert_eq!(
            p["run_app_url"],
            "https://terrace.example/app/acme/workspaces/app/runs/run-1"
        );
        assert_eq!(p["capabilities"]["outcomes"], true);
        let pre = request_payload(&RequestFacts {
            plan_id: None,
            ..facts
        });
        assert!(pre["plan_json_api_url"].is_null());
    }

    #[test]
    fn callbacks_set_running_passed_or_failed() {
        assert_eq!(
            callback_status("running").unwrap(),
            TaskResultStatus::Running
        );
        assert_eq!(callback_status("passed").unwrap(), TaskResultStatus::Passed);
        assert_eq!(callback_status("failed").unwrap(), TaskResultStatus::Failed);
        assert!(callback_status("errored").is_err());
        assert!(callback_status("").is_err());
    }
}
