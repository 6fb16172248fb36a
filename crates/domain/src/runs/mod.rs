//! Runs and their state machine.
//!
//! ```text
//! pending ─(its turn, workspace free)→ plan_queued ─(claimed)→ planning
//! planning → errored | canceled
//!          → planned_and_finished   (plan-only, or no changes)
//!          → planned_and_saved      (saved plan: waits for `apply`, then queues like a run)
//!          → planned → confirmed    (auto-apply, or `apply`) → apply_queued → applying
//! applying → applied | errored | canceled
//! pending / planned / planned_and_saved → discarded
//! ```
//!
//! A workspace runs its runs one at a time, oldest first. From the start of its plan to its
//! end, the current run holds the workspace lock, so users (and the CLI) cannot write state
//! meanwhile; while a user holds the lock, runs wait. Plan-only runs and the planning of saved
//! plans change nothing and skip both the queue and the lock.
//!
//! Every transition is a compare-and-set on the status the caller read: when two replicas
//! (or a runner and a user) race, one wins and the other reloads.

mod comments;
pub mod plan_json;
pub mod rules;
pub mod task_stages;

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use terrace_auth::policy::{run_permissions, Access, Action, RunPermissions};
use terrace_protocol::JobOutcome;
use terrace_storage::model::{
    ConfigurationStatus, JsonText, LockHolder, LockHolderKind, Organization, Page, PageRequest,
    PhaseKind, PhaseStatus, Run, RunEvent, RunOperation, RunPhase, RunStatus, TaskStageName,
    Workspace,
};
use terrace_storage::store::RunFilter;
use terrace_storage::{clock, ids};

use crate::access::check;
use crate::{Caller, DomainError, DomainResult, Services};

/// After a cancel, how long before a force-cancel is allowed.
const FORCE_CANCEL_COOL_OFF_SECONDS: i64 = 10;
pub const DEFAULT_MESSAGE: &str = "Queued manually via the Terraform Enterprise API";

/// A run variable as the CLI sends it: the value is an HCL literal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunVariable {
    pub key: String,
    pub value: String,
}

/// A create request.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    pub workspace_id: String,
    pub configuration_version_id: Option<String>,
    pub message: Option<String>,
    pub is_destroy: bool,
    pub refresh: Option<bool>,
    pub refresh_only: bool,
    pub plan_only: Option<bool>,
    pub save_plan: bool,
    pub auto_apply: Option<bool>,
    pub allow_empty_apply: bool,
    pub target_addrs: Option<Vec<String>>,
    pub replace_addrs: Option<Vec<String>>,
    pub variables: Vec<RunVariable>,
    pub terraform_version: Option<String>,
    /// `tfe-api`, or `terraform+cloud` for the CLI.
    pub source: String,
}

/// A run with everything its representation needs.
#[derive(Debug, Clone)]
pub struct RunView {
    pub run: Run,
    pub plan: RunPhase,
    pub apply: RunPhase,
    pub workspace: Workspace,
    pub organization: Organization,
    pub access: Access,
    pub variables: Vec<RunVariable>,
    /// The run's comments, oldest first.
    pub comment_ids: Vec<String>,
    /// The run's task stages, in run order.
    pub task_stage_ids: Vec<String>,
}

pub use comments::validate_comment;
pub use rules::RunActions;

impl RunView {
    /// The `actions` object: what the run's status allows.
    pub fn actions(&self) -> RunActions {
        actions(&self.run, &self.plan, &self.apply)
    }

    /// The `permissions` object: what the policy lets the caller ask of the run; applying also
    /// needs a workspace that runs anything (not local execution), as the apply action checks.
    pub fn permissions(&self) -> RunPermissions {
        let mut p = run_permissions(self.access);
        p.can_apply &=
            crate::workspaces::rules::accepts_runs(&self.workspace, &self.organization).is_ok();
        p
    }

    /// Run variables are shown, values included, to whoever may read the workspace's
    /// variables (they are variables of the run, with no sensitive flag); others see keys.
    pub fn variable_values_visible(&self) -> bool {
        crate::access::allows(self.access, Action::ReadVariables)
    }
}

fn actions(run: &Run, plan: &RunPhase, apply: &RunPhase) -> RunActions {
    rules::actions(run, plan, apply, clock::now())
}

/// Marks `key` (`planned-at`, ...) in a timestamps map.
fn stamp(
    map: &mut JsonText<std::collections::BTreeMap<String, DateTime<Utc>>>,
    key: &str,
    at: DateTime<Utc>,
) {
    map.0.insert(key.to_string(), at);
}

/// The timestamp key HCP Terraform uses for a run status (`plan_queued` → `plan-queued-at`).
fn run_stamp(status: RunStatus) -> String {
    format!("{}-at", status.as_str().replace('_', "-"))
}

pub(crate) fn phase_stamp(status: PhaseStatus) -> &'static str {
    match status {
        PhaseStatus::Pending => "pending-at",
        PhaseStatus::Queued => "queued-at",
        PhaseStatus::Running => "started-at",
        PhaseStatus::Finished => "finished-at",
        PhaseStatus::Errored => "errored-at",
        PhaseStatus::Canceled => "canceled-at",
        PhaseStatus::Unreachable => "unreachable-at",
    }
}

/// A phase of a new run: pending, with nothing done yet.
pub(crate) fn new_phase(id: String, run_id: &str, kind: PhaseKind) -> RunPhase {
    RunPhase {
        id,
        run_id: run_id.to_string(),
        kind,
        status: PhaseStatus::Pending,
        status_timestamps: JsonText::default(),
        has_changes: false,
        resource_additions: 0,
        resource_changes: 0,
        resource_destructions: 0,
        resource_imports: 0,
        pool_id: None,
        listener_id: None,
        claimed_at: None,
        heartbeat_at: None,
        cancel_requested: false,
        force_cancel: false,
        log_size: 0,
        log_archived: false,
        artifacts: JsonText(Vec::new()),
        error_message: None,
        queued_at: None,
    }
}

impl Services {
    pub async fn create_run(&self, caller: &Caller, new: NewRun) -> DomainResult<RunView> {
        let (ws, org, access) = self
            .workspace_id_for(caller, &new.workspace_id, Action::QueueRun)
            .await?;
        if new.is_destroy {
            check(access, Action::QueueDestroy, &org, "workspace")?;
        }
        let created_by = caller.user().map(|u| u.id.clone());
        let run = self.insert_run(&ws, &org, new, created_by).await?;
        let ws = self
            .store
            .workspace_by_id(&ws.id)
            .await?
            .ok_or(DomainError::NotFound("workspace"))?;
        self.run_view(run, ws, org, access).await
    }

    /// Validates and stores a run, then starts it or queues it.
    pub(crate) async fn insert_run(
        &self,
        ws: &Workspace,
        org: &Organization,
        new: NewRun,
        created_by: Option<String>,
    ) -> DomainResult<Run> {
        crate::workspaces::rules::accepts_runs(ws, org)?;
        if new.is_destroy {
            crate::workspaces::rules::accepts_destroy_plans(ws)?;
        }
        let cv = match &new.configuration_version_id {
            Some(id) => self.store.configuration_version_by_id(id).await?,
            None => self.latest_configuration(&ws.id).await?,
        };
        let Some(cv) = cv else {
            return Err(DomainError::Invalid {
                pointer: Some("/data/relationships/configuration-version".into()),
                detail:
                    "the workspace has no uploaded configuration version: upload one or name one"
                        .into(),
            });
        };
        let cv_ws = self.store.workspace_by_id(&cv.workspace_id).await?;
        if cv_ws.is_none_or(|w| w.organization_id != org.id) {
            return Err(DomainError::Invalid {
                pointer: Some("/data/relationships/configuration-version".into()),
                detail: format!("configuration version {} not found", cv.id),
            });
        }
        if cv.status != ConfigurationStatus::Uploaded {
            return Err(DomainError::Invalid {
                pointer: Some("/data/relationships/configuration-version".into()),
                detail: format!(
                    "configuration version {} is {}, not uploaded",
                    cv.id, cv.status
                ),
            });
        }
        let plan_only = new.plan_only.unwrap_or(false) || cv.speculative;
        if cv.speculative && (new.plan_only == Some(false) || new.save_plan) {
            return Err(DomainError::invalid(
                "plan-only",
                "a speculative configuration version only allows plan-only runs",
            ));
        }
        if new.is_destroy && new.refresh_only {
            return Err(DomainError::invalid(
                "refresh-only",
                "is-destroy and refresh-only cannot be combined",
            ));
        }
        if new.terraform_version.is_some() && !plan_only {
            return Err(DomainError::invalid(
                "terraform-version",
                "a terraform version can only be chosen for plan-only runs",
            ));
        }
        if let Some(version) = &new.terraform_version {
            crate::validate::terraform_version(version)?;
        }
        for (attribute, addrs) in [
            ("target-addrs", &new.target_addrs),
            ("replace-addrs", &new.replace_addrs),
        ] {
            if addrs.iter().flatten().any(|a| a.trim().is_empty()) {
                return Err(DomainError::invalid(
                    attribute,
                    "addresses must not be empty",
                ));
            }
        }
        for variable in &new.variables {
            if variable.key.trim().is_empty() {
                return Err(DomainError::invalid(
                    "variables",
                    "every run variable needs a key",
                ));
            }
        }
        let now = clock::now();
        let mut status_timestamps = JsonText::default();
        stamp(&mut status_timestamps, "plan-queueable-at", now);
        let run = Run {
            id: ids::new_id(ids::RUN),
            workspace_id: ws.id.clone(),
            configuration_version_id: cv.id.clone(),
            status: RunStatus::Pending,
            status_timestamps,
            message: new
                .message
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| DEFAULT_MESSAGE.to_string()),
            source: new.source.clone(),
            trigger_reason: if new.source == crate::run_triggers::RUN_TRIGGER_SOURCE {
                crate::run_triggers::RUN_TRIGGER_REASON.into()
            } else {
                "manual".into()
            },
            is_destroy: new.is_destroy,
            refresh: new.refresh.unwrap_or(true),
            refresh_only: new.refresh_only,
            plan_only,
            save_plan: new.save_plan,
            auto_apply: new.auto_apply.unwrap_or(ws.auto_apply),
            allow_empty_apply: new.allow_empty_apply,
            target_addrs: JsonText(new.target_addrs),
            replace_addrs: JsonText(new.replace_addrs),
            variables_ciphertext: self
                .blobs
                .keyring()
                .encrypt(&serde_json::to_vec(&new.variables).expect("variables serialize")),
            terraform_version: new
                .terraform_version
                .unwrap_or_else(|| ws.terraform_version.clone()),
            has_changes: false,
            created_by: created_by.clone(),
            confirmed_by: None,
            input_state_version_id: None,
            canceled_at: None,
            force_cancel_available_at: None,
            created_at: now,
            updated_at: now,
        };
        let (plan, apply) = (
            new_phase(ids::new_id(ids::PLAN), &run.id, PhaseKind::Plan),
            new_phase(ids::new_id(ids::APPLY), &run.id, PhaseKind::Apply),
        );
        let event = event(&run.id, "created", None, created_by);
        self.store
            .create_run(&run, &plan, &apply, &event)
            .await
            .map_err(|e| match e {
                // Its configuration lost its tarball meanwhile (soft-deleted, archived).
                terrace_storage::StorageError::Conflict(message) => DomainError::Conflict(message),
                other => other.into(),
            })?;
        // Before it starts: the CLI reads the run's stages right after creating it.
        self.create_task_stages(&run).await?;
        if run.plan_only || run.save_plan {
            // Nothing it does can change the infrastructure: no queue, no lock.
            self.start_plan(&run.id, ws).await?;
        } else {
            self.schedule(&ws.id).await?;
        }
        Ok(self.store.run_by_id(&run.id).await?.unwrap_or(run))
    }

    /// The newest uploaded configuration version runs use by default.
    async fn latest_configuration(
        &self,
        workspace_id: &str,
    ) -> DomainResult<Option<terrace_storage::model::ConfigurationVersion>> {
        let page = self
            .store
            .list_configuration_versions(
                workspace_id,
                PageRequest {
                    number: 1,
                    size: 50,
                },
            )
            .await?;
        Ok(page.items.into_iter().find(|cv| {
            cv.status == ConfigurationStatus::Uploaded && !cv.speculative && !cv.provisional
        }))
    }

    /// The run an uploaded configuration version queues by itself (`auto-queue-runs`).
    pub(crate) async fn queue_run_for_configuration(
        &self,
        cv: &terrace_storage::model::ConfigurationVersion,
    ) -> DomainResult<()> {
        let Some(ws) = self.store.workspace_by_id(&cv.workspace_id).await? else {
            return Ok(());
        };
        let Some(org) = self.store.organization_by_id(&ws.organization_id).await? else {
            return Ok(());
        };
        if crate::workspaces::rules::accepts_runs(&ws, &org).is_err() {
            return Ok(());
        }
        // The upload URL was the credential: the run is queued for the workspace, by no one.
        let new = NewRun {
            workspace_id: ws.id.clone(),
            configuration_version_id: Some(cv.id.clone()),
            plan_only: Some(cv.speculative),
            source: cv.source.clone(),
            ..Default::default()
        };
        self.insert_run(&ws, &org, new, None).await.map(|_| ())
    }

    /// A listed workspace's latest run, if the caller's access to it (`view.access`, as the
    /// listing found it) lets them read runs: one read, for lists that show a status each.
    pub async fn latest_run(
        &self,
        view: &crate::workspaces::WorkspaceView,
    ) -> DomainResult<Option<Run>> {
        match &view.workspace.latest_run_id {
            Some(id) if crate::access::allows(view.access, Action::ReadRuns) => {
                Ok(self.store.run_by_id(id).await?)
            }
            _ => Ok(None),
        }
    }

    pub async fn run(&self, caller: &Caller, id: &str) -> DomainResult<RunView> {
        let (run, ws, org, access) = self.run_for(caller, id, Action::ReadRuns).await?;
        self.run_view(run, ws, org, access).await
    }

    pub async fn list_runs(
        &self,
        caller: &Caller,
        scope: RunScope<'_>,
        wanted: RunFilter,
        page: PageRequest,
    ) -> DomainResult<Page<RunView>> {
        // The workspaces of the listed runs, with the caller's access to each.
        let mut workspaces: HashMap<String, (Workspace, Access)> = HashMap::new();
        let (filter, org, standing) = match scope {
            RunScope::Workspace(id) => {
                let (ws, org, access) = self.workspace_id_for(caller, id, Action::ReadRuns).await?;
                let filter = RunFilter {
                    workspace_id: Some(ws.id.clone()),
                    ..Default::default()
                };
                workspaces.insert(ws.id.clone(), (ws, access));
                (filter, org, None)
            }
            RunScope::Organization(name) => {
                let (org, _) = self
                    .organization_for(caller, name, Action::ReadOrganization)
                    .await?;
                let standing = self.standing(caller, &org).await?;
                let filter = RunFilter {
                    organization_id: Some(org.id.clone()),
                    visible_to_teams: standing.visible_to_teams(),
                    ..Default::default()
                };
                (filter, org, Some(standing))
            }
        };
        // The scope is the caller's; the rest is what the list asks for.
        let filter = RunFilter {
            workspace_id: filter.workspace_id,
            organization_id: filter.organization_id,
            visible_to_teams: filter.visible_to_teams,
            ..wanted
        };
        let found = self.store.list_runs(&filter, page).await?;
        let ids: Vec<String> = found.items.iter().map(|r| r.id.clone()).collect();
        let mut extras = self.run_extras(&ids).await?;
        let mut items = Vec::with_capacity(found.items.len());
        for run in found.items {
            if !workspaces.contains_key(&run.workspace_id) {
                let ws = self
                    .store
                    .workspace_by_id(&run.workspace_id)
                    .await?
                    .ok_or(DomainError::NotFound("workspace"))?;
                let standing = standing
                    .as_ref()
                    .ok_or(DomainError::NotFound("workspace"))?;
                let access = self.workspace_access(standing, &ws).await?;
                workspaces.insert(ws.id.clone(), (ws, access));
            }
            let (ws, access) = workspaces[&run.workspace_id].clone();
            items.push(self.run_view_with(run, ws, org.clone(), access, &mut extras)?);
        }
        Ok(Page {
            items,
            total: found.total,
        })
    }

    /// Runs of an organization waiting for or holding an executor, oldest first.
    pub async fn run_queue(&self, caller: &Caller, org_name: &str) -> DomainResult<Vec<RunView>> {
        let statuses = vec![
            RunStatus::PlanQueued,
            RunStatus::Planning,
            RunStatus::ApplyQueued,
            RunStatus::Applying,
        ];
        let page = self
            .list_runs(
                caller,
                RunScope::Organization(org_name),
                RunFilter {
                    statuses,
                    operations: RunOperation::ALL.to_vec(),
                    ..Default::default()
                },
                PageRequest {
                    number: 1,
                    size: 1000,
                },
            )
            .await?;
        let mut items = page.items;
        items.reverse();
        Ok(items)
    }

    pub async fn run_events(&self, caller: &Caller, id: &str) -> DomainResult<Vec<RunEvent>> {
        let (run, _, _, _) = self.run_for(caller, id, Action::ReadRuns).await?;
        Ok(self.store.run_events(&run.id).await?)
    }

    /// The plan or apply of a run, by its own ID.
    pub async fn phase(&self, caller: &Caller, id: &str) -> DomainResult<(RunPhase, RunView)> {
        let phase = self
            .store
            .phase_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(phase_name(id)))?;
        let view = self.run(caller, &phase.run_id).await.map_err(|e| match e {
            DomainError::NotFound(_) => DomainError::NotFound(phase_name(id)),
            other => other,
        })?;
        Ok((phase, view))
    }

    // Actions.

    /// Confirms a run that waits for it (`POST /runs/:id/actions/apply`).
    pub async fn apply_run(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let (run, ws, org, _) = self.run_for(caller, id, Action::QueueApply).await?;
        crate::workspaces::rules::accepts_runs(&ws, &org)?;
        let (plan, apply) = self.phases(&run).await?;
        if !actions(&run, &plan, &apply).confirmable {
            return Err(transition_refused(
                "Run was not paused for confirmation; apply not allowed",
                &run,
            ));
        }
        let saved = run.status == RunStatus::PlannedAndSaved;
        let mut confirmed = run.clone();
        self.set_status(&mut confirmed, RunStatus::Confirmed);
        confirmed.confirmed_by = caller.user().map(|u| u.id.clone());
        if !self.store.update_run_if(&confirmed, run.status).await? {
            return Err(transition_refused(
                "the run changed meanwhile; apply not allowed",
                &run,
            ));
        }
        self.record(&run.id, "confirmed", None, Some(caller))
            .await?;
        if saved {
            // A saved plan applies in its turn, like any run.
            self.schedule(&ws.id).await
        } else {
            self.start_apply(&confirmed).await
        }
    }

    pub async fn discard_run(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let (run, ws, _, _) = self.run_for(caller, id, Action::QueueApply).await?;
        let (plan, apply) = self.phases(&run).await?;
        if !actions(&run, &plan, &apply).discardable {
            return Err(transition_refused(
                "Run was not paused for confirmation or priority; discard not allowed",
                &run,
            ));
        }
        self.end_run(run, RunStatus::Discarded, &ws, Some(caller), None)
            .await
    }

    pub async fn cancel_run(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let (run, ws, _, _) = self.run_for(caller, id, Action::QueueApply).await?;
        self.cancel(run, &ws, caller).await
    }

    /// Runs a pending run now (`POST /runs/:id/actions/force-execute`): every unfinished run
    /// of the workspace ahead of it is discarded, or canceled if it is already at work, and
    /// it takes the workspace once they are out of the way.
    pub async fn force_execute_run(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let (run, ws, org, _) = self.run_for(caller, id, Action::QueueApply).await?;
        crate::workspaces::rules::accepts_runs(&ws, &org)?;
        if run.status != RunStatus::Pending {
            return Err(transition_refused(
                "only a pending run can be force-executed",
                &run,
            ));
        }
        // Force-execute moves runs out of the way, not people: a lock someone holds stays.
        if matches!(
            ws.lock_kind,
            Some(LockHolderKind::User | LockHolderKind::Team)
        ) {
            return Err(DomainError::Conflict(
                "the workspace is locked: unlock it before force-executing a run".into(),
            ));
        }
        let unfinished = RunFilter {
            workspace_id: Some(ws.id.clone()),
            statuses: RunStatus::ALL
                .iter()
                .copied()
                .filter(|s| !s.is_final())
                .collect(),
            operations: RunOperation::ALL.to_vec(),
            ..Default::default()
        };
        let ahead: Vec<Run> = self
            .store
            .list_runs(&unfinished, PageRequest::all())
            .await?
            .items
            .into_iter()
            .filter(|r| r.id != run.id && !r.plan_only && r.created_at <= run.created_at)
            .collect();
        // Newest first (the list's order): the workspace's current run goes last, so the
        // queue moves on to this run rather than to another one waiting ahead of it.
        for other in ahead {
            let (plan, apply) = self.phases(&other).await?;
            let allowed = actions(&other, &plan, &apply);
            if allowed.discardable {
                self.end_run(other, RunStatus::Discarded, &ws, Some(caller), None)
                    .await?;
            } else if allowed.cancelable {
                self.cancel(other, &ws, caller).await?;
            }
        }
        self.record(&run.id, "force_executed", None, Some(caller))
            .await?;
        self.schedule(&ws.id).await
    }

    async fn cancel(&self, run: Run, ws: &Workspace, caller: &Caller) -> DomainResult<()> {
        let (plan, apply) = self.phases(&run).await?;
        if !actions(&run, &plan, &apply).cancelable {
            return Err(transition_refused(
                "Run was not planning or applying; cancel not allowed",
                &run,
            ));
        }
        let now = clock::now();
        let running = match run.status {
            RunStatus::Planning => Some(plan),
            RunStatus::Applying => Some(apply),
            _ => None,
        };
        match running {
            // A runner is at work: ask it to stop (terraform gets an interrupt); the run
            // ends as canceled when the runner reports back.
            Some(mut phase) => {
                let expected = phase.status;
                phase.cancel_requested = true;
                self.store.update_phase_if(&phase, expected).await?;
                let mut marked = run.clone();
                marked.canceled_at = Some(now);
                marked.force_cancel_available_at =
                    Some(now + Duration::seconds(FORCE_CANCEL_COOL_OFF_SECONDS));
                marked.updated_at = now;
                self.store.update_run_if(&marked, run.status).await?;
                self.record(&run.id, "cancel_requested", None, Some(caller))
                    .await?;
                Ok(())
            }
            None => {
                let mut run = run;
                run.force_cancel_available_at =
                    Some(now + Duration::seconds(FORCE_CANCEL_COOL_OFF_SECONDS));
                self.end_run(run, RunStatus::Canceled, ws, Some(caller), None)
                    .await
            }
        }
    }

    /// Ends a run whose runner did not stop after a cancel: the job is abandoned (its runner
    /// is told to kill terraform) and the workspace released at once.
    pub async fn force_cancel_run(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let (run, ws, _, _) = self.run_for(caller, id, Action::QueueApply).await?;
        let (plan, apply) = self.phases(&run).await?;
        if !actions(&run, &plan, &apply).force_cancelable {
            return Err(transition_refused(
                "Run was not planning or applying, has not been canceled non-forcefully, or the cool-off period has not yet passed",
                &run,
            ));
        }
        self.force_cancel(run, plan, apply, &ws, caller).await
    }

    /// A site administrator ends any unfinished run at once (`POST
    /// /admin/runs/:id/actions/force-cancel`), without the cancel and cool-off first: the
    /// way out of a run that holds a workspace and whose runner is gone.
    pub async fn admin_force_cancel_run(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        self.site_admin(caller)?;
        let (run, ws, _, _) = self.run_for(caller, id, Action::QueueApply).await?;
        if run.status.is_final() {
            return Err(transition_refused(
                "the run is over; nothing to cancel",
                &run,
            ));
        }
        let (plan, apply) = self.phases(&run).await?;
        self.force_cancel(run, plan, apply, &ws, caller).await
    }

    async fn force_cancel(
        &self,
        run: Run,
        plan: RunPhase,
        apply: RunPhase,
        ws: &Workspace,
        caller: &Caller,
    ) -> DomainResult<()> {
        for mut phase in [plan, apply] {
            if phase.status == PhaseStatus::Running {
                let expected = phase.status;
                phase.force_cancel = true;
                phase.cancel_requested = true;
                self.store.update_phase_if(&phase, expected).await?;
            }
        }
        self.end_run(
            run,
            RunStatus::Canceled,
            ws,
            Some(caller),
            Some("force-canceled"),
        )
        .await
    }

    // The queue.

    /// Starts the workspace's next run if the workspace is free: no current run, no lock.
    /// (Boxed: ending a stale saved plan releases the workspace, which schedules again.)
    pub(crate) fn schedule<'a>(
        &'a self,
        workspace_id: &'a str,
    ) -> futures::future::BoxFuture<'a, DomainResult<()>> {
        Box::pin(async move { self.schedule_now(workspace_id).await })
    }

    async fn schedule_now(&self, workspace_id: &str) -> DomainResult<()> {
        loop {
            let Some(ws) = self.store.workspace_by_id(workspace_id).await? else {
                return Ok(());
            };
            if let Some(current) = &ws.current_run_id {
                match self.store.run_by_id(current).await? {
                    Some(run)
                        if !run.status.is_final() && run.status != RunStatus::PlannedAndSaved =>
                    {
                        return Ok(())
                    }
                    _ => self.store.set_current_run(&ws.id, None).await?,
                }
            }
            if ws.lock_kind.is_some() {
                // A user (or a finishing run) holds the workspace; runs wait.
                return Ok(());
            }
            let Some(next) = self.store.waiting_runs(&ws.id).await?.into_iter().next() else {
                return Ok(());
            };
            if next.status == RunStatus::Confirmed
                && next.input_state_version_id != ws.current_state_version_id
            {
                // A saved plan whose state moved on cannot apply any more.
                self.end_run(
                    next,
                    RunStatus::Discarded,
                    &ws,
                    None,
                    Some("state changed since the plan"),
                )
                .await?;
                continue;
            }
            let holder = LockHolder {
                kind: LockHolderKind::Run,
                id: next.id.clone(),
            };
            if !self
                .store
                .lock_workspace(&ws.id, &holder, Some("locked by run"), clock::now())
                .await?
            {
                return Ok(()); // someone took the workspace first; they schedule later
            }
            self.store.set_current_run(&ws.id, Some(&next.id)).await?;
            let started = match next.status {
                RunStatus::Confirmed => self.start_apply(&next).await,
                _ => self.start_plan(&next.id, &ws).await,
            };
            if let Err(err) = started {
                self.release(&ws.id, &next.id).await?;
                return Err(err);
            }
            return Ok(());
        }
    }

    /// Queues the run's plan job.
    async fn start_plan(&self, run_id: &str, ws: &Workspace) -> DomainResult<()> {
        let Some(run) = self.store.run_by_id(run_id).await? else {
            return Ok(());
        };
        if run.status == RunStatus::Pending {
            if let Some(stage) = self
                .pending_task_stage(&run.id, TaskStageName::PrePlan)
                .await?
            {
                // Pre-plan tasks first; the plan is queued when they pass.
                let mut waiting = run.clone();
                self.set_status(&mut waiting, RunStatus::PrePlanRunning);
                if self
                    .store
                    .update_run_if(&waiting, RunStatus::Pending)
                    .await?
                {
                    self.begin_task_stage(stage).await?;
                }
                return Ok(());
            }
        }
        if !matches!(run.status, RunStatus::Pending | RunStatus::PrePlanCompleted) {
            return Ok(()); // canceled or discarded meanwhile
        }
        let mut queued = run.clone();
        self.set_status(&mut queued, RunStatus::PlanQueued);
        if !self.store.update_run_if(&queued, run.status).await? {
            return Ok(()); // canceled or discarded meanwhile
        }
        let (plan, _) = self.phases(&queued).await?;
        self.queue_job(plan, ws).await
    }

    /// Queues the run's apply job (the run is confirmed).
    async fn start_apply(&self, run: &Run) -> DomainResult<()> {
        let Some(ws) = self.store.workspace_by_id(&run.workspace_id).await? else {
            return Ok(());
        };
        if run.status == RunStatus::Confirmed {
            if let Some(stage) = self
                .pending_task_stage(&run.id, TaskStageName::PreApply)
                .await?
            {
                // Pre-apply tasks first; the apply is queued when they pass.
                let mut waiting = run.clone();
                self.set_status(&mut waiting, RunStatus::PreApplyRunning);
                if self
                    .store
                    .update_run_if(&waiting, RunStatus::Confirmed)
                    .await?
                {
                    self.begin_task_stage(stage).await?;
                }
                return Ok(());
            }
        }
        if !matches!(
            run.status,
            RunStatus::Confirmed | RunStatus::PreApplyCompleted
        ) {
            return Ok(());
        }
        let mut queued = run.clone();
        self.set_status(&mut queued, RunStatus::ApplyQueued);
        if !self.store.update_run_if(&queued, run.status).await? {
            return Ok(());
        }
        let (_, apply) = self.phases(&queued).await?;
        self.queue_job(apply, &ws).await
    }

    async fn queue_job(&self, mut phase: RunPhase, ws: &Workspace) -> DomainResult<()> {
        let now = clock::now();
        phase.status = PhaseStatus::Queued;
        phase.queued_at = Some(now);
        let org = self
            .store
            .organization_by_id(&ws.organization_id)
            .await?
            .ok_or(DomainError::NotFound("organization"))?;
        phase.pool_id = crate::workspaces::agent_pool_in_effect(ws, &org).map(str::to_string);
        stamp(
            &mut phase.status_timestamps,
            phase_stamp(PhaseStatus::Queued),
            now,
        );
        self.store
            .update_phase_if(&phase, PhaseStatus::Pending)
            .await?;
        self.signal(crate::replicas::Signal::JobQueued);
        Ok(())
    }

    /// Moves a run to a final status, ends its phases that have not run, releases the
    /// workspace if the run held it, and lets the next run start.
    pub(crate) async fn end_run(
        &self,
        run: Run,
        status: RunStatus,
        ws: &Workspace,
        caller: Option<&Caller>,
        reason: Option<&str>,
    ) -> DomainResult<()> {
        let mut ended = run.clone();
        self.set_status(&mut ended, status);
        if status == RunStatus::Canceled {
            ended.canceled_at.get_or_insert(ended.updated_at);
        }
        if !self.store.update_run_if(&ended, run.status).await? {
            return Err(transition_refused("the run changed meanwhile", &run));
        }
        self.close_task_stages(&ended).await?;
        let (plan, apply) = self.phases(&ended).await?;
        for phase in [plan, apply] {
            if phase.status.is_final() {
                continue;
            }
            let to = match (phase.status, status) {
                (PhaseStatus::Queued | PhaseStatus::Running, RunStatus::Canceled) => {
                    PhaseStatus::Canceled
                }
                (PhaseStatus::Running, _) => PhaseStatus::Errored,
                _ => PhaseStatus::Unreachable,
            };
            self.end_phase(phase, to, reason.map(str::to_string))
                .await?;
        }
        let action = match status {
            RunStatus::Discarded => "discarded",
            RunStatus::Canceled => "canceled",
            RunStatus::Errored => "errored",
            RunStatus::Applied => "applied",
            _ => "finished",
        };
        self.record(&run.id, action, reason, caller).await?;
        self.release(&ws.id, &run.id).await
    }

    /// Frees the workspace if `run_id` holds it, then starts the next run.
    pub(crate) async fn release(&self, workspace_id: &str, run_id: &str) -> DomainResult<()> {
        let holder = LockHolder {
            kind: LockHolderKind::Run,
            id: run_id.to_string(),
        };
        let Some(ws) = self.store.workspace_by_id(workspace_id).await? else {
            return Ok(());
        };
        if ws.current_run_id.as_deref() == Some(run_id) {
            self.store.set_current_run(workspace_id, None).await?;
        }
        if ws.lock_holder().as_ref() == Some(&holder) {
            self.store
                .unlock_workspace(workspace_id, Some(&holder))
                .await?;
        }
        self.schedule(workspace_id).await
    }

    pub(crate) async fn end_phase(
        &self,
        mut phase: RunPhase,
        to: PhaseStatus,
        error: Option<String>,
    ) -> DomainResult<bool> {
        let expected = phase.status;
        phase.status = to;
        stamp(&mut phase.status_timestamps, phase_stamp(to), clock::now());
        if error.is_some() {
            phase.error_message = error;
        }
        if !self.store.update_phase_if(&phase, expected).await? {
            return Ok(false);
        }
        if let Some(claimed) = phase.claimed_at {
            self.observer.job_ended(
                phase.kind.as_str(),
                to.as_str(),
                crate::observe::elapsed(claimed),
            );
        }
        if let (PhaseStatus::Errored, Some(error)) = (to, phase.error_message.clone()) {
            self.log_error(&mut phase, &error).await;
        }
        self.archive_log(&phase).await;
        Ok(true)
    }

    /// Applies a runner's report on its job to the run.
    pub(crate) async fn finish_job(&self, job: RunPhase, outcome: &JobOutcome) -> DomainResult<()> {
        let status = match outcome.status.as_str() {
            "finished" => PhaseStatus::Finished,
            "errored" => PhaseStatus::Errored,
            "canceled" => PhaseStatus::Canceled,
            other => {
                return Err(DomainError::invalid(
                    "status",
                    format!("a job ends finished, errored or canceled, not {other}"),
                ))
            }
        };
        let Some(run) = self.store.run_by_id(&job.run_id).await? else {
            return Ok(());
        };
        let Some(ws) = self.store.workspace_by_id(&run.workspace_id).await? else {
            return Ok(());
        };
        let mut phase = job.clone();
        phase.has_changes = outcome.has_changes;
        phase.resource_additions = outcome.additions;
        phase.resource_changes = outcome.changes;
        phase.resource_destructions = outcome.destructions;
        phase.resource_imports = outcome.imports;
        if !self.end_phase(phase, status, outcome.error.clone()).await? {
            return Ok(()); // the job was ended already (canceled, reaped)
        }
        match (job.kind, status) {
            (_, PhaseStatus::Errored) => {
                self.end_run(run, RunStatus::Errored, &ws, None, outcome.error.as_deref())
                    .await
            }
            (_, PhaseStatus::Canceled) => {
                self.end_run(run, RunStatus::Canceled, &ws, None, None)
                    .await
            }
            (PhaseKind::Apply, _) => {
                self.end_run(run.clone(), RunStatus::Applied, &ws, None, None)
                    .await?;
                // Only the report that moved the run to applied gets here (end_run's
                // compare-and-set), so each apply fires its triggers once.
                self.fire_run_triggers(&run, &ws).await?;
                // Post-apply tasks run after: the run stays applied whatever they say.
                match self
                    .pending_task_stage(&run.id, TaskStageName::PostApply)
                    .await?
                {
                    Some(stage) => self.begin_task_stage(stage).await,
                    None => Ok(()),
                }
            }
            (PhaseKind::Plan, _) => self.plan_finished(run, outcome.has_changes, &ws).await,
        }
    }

    async fn plan_finished(&self, run: Run, has_changes: bool, ws: &Workspace) -> DomainResult<()> {
        let mut planned = run.clone();
        planned.has_changes = has_changes;
        self.set_status(&mut planned, RunStatus::Planned);
        if let Some(stage) = self
            .pending_task_stage(&run.id, TaskStageName::PostPlan)
            .await?
        {
            // Post-plan tasks first; the run goes where its plan leads when they pass.
            self.set_status(&mut planned, RunStatus::PostPlanRunning);
            if !self.store.update_run_if(&planned, run.status).await? {
                return Ok(());
            }
            self.record(&run.id, "planned", None, None).await?;
            return self.begin_task_stage(stage).await;
        }
        self.decide_after_plan(planned, run.status, ws).await
    }

    /// Moves a planned run (`expected`: its status now) where its plan leads: finished,
    /// saved, confirmed (and applying) or waiting for confirmation.
    async fn decide_after_plan(
        &self,
        run: Run,
        expected: RunStatus,
        ws: &Workspace,
    ) -> DomainResult<()> {
        let has_changes = run.has_changes;
        let mut planned = run.clone();
        if planned.status != RunStatus::Planned {
            self.set_status(&mut planned, RunStatus::Planned);
        }
        let next = if run.plan_only || (!has_changes && !run.allow_empty_apply) {
            RunStatus::PlannedAndFinished
        } else if run.save_plan {
            RunStatus::PlannedAndSaved
        } else if run.auto_apply {
            RunStatus::Confirmed
        } else {
            RunStatus::Planned
        };
        if next != RunStatus::Planned {
            self.set_status(&mut planned, next);
        }
        if !self.store.update_run_if(&planned, expected).await? {
            return Ok(());
        }
        if expected != RunStatus::PostPlanCompleted {
            self.record(&run.id, "planned", None, None).await?; // recorded before the tasks
        }
        match next {
            RunStatus::PlannedAndFinished => {
                let (_, apply) = self.phases(&planned).await?;
                self.end_phase(apply, PhaseStatus::Unreachable, None)
                    .await?;
                self.release(&ws.id, &run.id).await
            }
            RunStatus::Confirmed => self.start_apply(&planned).await,
            _ => Ok(()),
        }
    }

    /// A saved plan is only valid against the state it was made from: when the workspace's
    /// state changes, waiting saved plans are discarded.
    pub(crate) async fn discard_stale_saved_plans(&self, workspace_id: &str) -> DomainResult<()> {
        let Some(ws) = self.store.workspace_by_id(workspace_id).await? else {
            return Ok(());
        };
        for run in self.store.active_runs(workspace_id).await? {
            let waiting = run.status == RunStatus::PlannedAndSaved
                || (run.status == RunStatus::Confirmed
                    && run.save_plan
                    && ws.current_run_id.as_deref() != Some(&run.id));
            if waiting && run.input_state_version_id != ws.current_state_version_id {
                let _ = self
                    .end_run(
                        run,
                        RunStatus::Discarded,
                        &ws,
                        None,
                        Some("state changed since the plan"),
                    )
                    .await;
            }
        }
        Ok(())
    }

    // Helpers.

    fn set_status(&self, run: &mut Run, status: RunStatus) {
        let now = clock::now();
        run.status = status;
        run.updated_at = now;
        stamp(&mut run.status_timestamps, &run_stamp(status), now);
    }

    pub(crate) async fn phases(&self, run: &Run) -> DomainResult<(RunPhase, RunPhase)> {
        plan_and_apply(self.store.phases_of_run(&run.id).await?)
    }

    async fn run_for(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> DomainResult<(Run, Workspace, Organization, Access)> {
        let run = self
            .store
            .run_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("run"))?;
        let (ws, org, access) = self
            .workspace_id_for(caller, &run.workspace_id, action)
            .await
            .map_err(|e| match e {
                DomainError::NotFound(_) => DomainError::NotFound("run"),
                other => other,
            })?;
        Ok((run, ws, org, access))
    }

    async fn run_view(
        &self,
        run: Run,
        workspace: Workspace,
        organization: Organization,
        access: Access,
    ) -> DomainResult<RunView> {
        let mut extras = self.run_extras(std::slice::from_ref(&run.id)).await?;
        self.run_view_with(run, workspace, organization, access, &mut extras)
    }

    /// What the views of the runs `ids` show beyond their records, in three statements
    /// whatever their number (a page of runs would otherwise cost three per run).
    async fn run_extras(&self, ids: &[String]) -> DomainResult<RunExtras> {
        let mut extras = RunExtras::default();
        for phase in self.store.phases_of_runs(ids).await? {
            extras
                .phases
                .entry(phase.run_id.clone())
                .or_default()
                .push(phase);
        }
        for comment in self.store.comments_of_runs(ids).await? {
            extras
                .comment_ids
                .entry(comment.run_id)
                .or_default()
                .push(comment.id);
        }
        for stage in self.store.task_stages_of_runs(ids).await? {
            extras
                .task_stage_ids
                .entry(stage.run_id)
                .or_default()
                .push(stage.id);
        }
        Ok(extras)
    }

    fn run_view_with(
        &self,
        run: Run,
        workspace: Workspace,
        organization: Organization,
        access: Access,
        extras: &mut RunExtras,
    ) -> DomainResult<RunView> {
        let phases = extras.phases.remove(&run.id).unwrap_or_default();
        let (plan, apply) = plan_and_apply(phases)?;
        Ok(RunView {
            variables: self.run_variables(&run)?,
            comment_ids: extras.comment_ids.remove(&run.id).unwrap_or_default(),
            task_stage_ids: extras.task_stage_ids.remove(&run.id).unwrap_or_default(),
            run,
            plan,
            apply,
            workspace,
            organization,
            access,
        })
    }

    pub(crate) fn run_variables(&self, run: &Run) -> DomainResult<Vec<RunVariable>> {
        let plaintext = self.blobs.keyring().decrypt(&run.variables_ciphertext)?;
        Ok(serde_json::from_slice(&plaintext).unwrap_or_default())
    }

    /// Records an event of the run; `actor` is the user behind it, if any.
    async fn record(
        &self,
        run_id: &str,
        action: &str,
        description: Option<&str>,
        actor: Option<&Caller>,
    ) -> DomainResult<()> {
        let actor = actor.and_then(Caller::user).map(|u| u.id.clone());
        Ok(self
            .store
            .add_run_event(&event(run_id, action, description, actor))
            .await?)
    }
}

fn event(
    run_id: &str,
    action: &str,
    description: Option<&str>,
    actor_id: Option<String>,
) -> RunEvent {
    RunEvent {
        id: ids::new_id(ids::RUN_EVENT),
        run_id: run_id.to_string(),
        action: action.to_string(),
        description: description.map(str::to_string),
        actor_id,
        created_at: clock::now(),
        comment_id: None,
    }
}

/// Where runs are listed.
#[derive(Debug, Clone, Copy)]
pub enum RunScope<'a> {
    Workspace(&'a str),
    Organization(&'a str),
}

fn phase_name(id: &str) -> &'static str {
    if id.starts_with("apply-") {
        "apply"
    } else {
        "plan"
    }
}

fn transition_refused(detail: &str, run: &Run) -> DomainError {
    DomainError::Conflict(format!(
        "transition not allowed: {detail} (run {} is {})",
        run.id, run.status
    ))
}

/// The phases, comment IDs and task stage IDs of several runs, by run ID.
#[derive(Default)]
struct RunExtras {
    phases: HashMap<String, Vec<RunPhase>>,
    comment_ids: HashMap<String, Vec<String>>,
    task_stage_ids: HashMap<String, Vec<String>>,
}

/// A run's plan and apply phase among its phases.
fn plan_and_apply(phases: Vec<RunPhase>) -> DomainResult<(RunPhase, RunPhase)> {
    let mut plan = None;
    let mut apply = None;
    for phase in phases {
        match phase.kind {
            PhaseKind::Plan => plan = Some(phase),
            PhaseKind::Apply => apply = Some(phase),
        }
    }
    Ok((
        plan.ok_or(DomainError::NotFound("run phase"))?,
        apply.ok_or(DomainError::NotFound("run phase"))?,
    ))
}
