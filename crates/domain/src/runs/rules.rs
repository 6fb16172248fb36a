//! What a run's status allows, as a pure function of the run and its phases: the run's
//! `actions` object says it, and the actions (apply, discard, cancel, force-cancel) check it.

use chrono::{DateTime, Utc};
use terrace_storage::model::{Run, RunPhase, RunStatus};

/// The four `actions` flags of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunActions {
    pub cancelable: bool,
    pub confirmable: bool,
    pub discardable: bool,
    pub force_cancelable: bool,
}

pub fn actions(run: &Run, plan: &RunPhase, apply: &RunPhase, now: DateTime<Utc>) -> RunActions {
    use RunStatus::*;
    let cancel_requested = plan.cancel_requested || apply.cancel_requested;
    RunActions {
        cancelable: !cancel_requested
            && matches!(
                run.status,
                Pending
                    | PrePlanRunning
                    | PrePlanCompleted
                    | PlanQueued
                    | Planning
                    | PostPlanRunning
                    | PostPlanCompleted
                    | Confirmed
                    | PreApplyRunning
                    | PreApplyCompleted
                    | ApplyQueued
                    | Applying
            ),
        confirmable: !run.plan_only
            && (run.has_changes || run.allow_empty_apply)
            && matches!(run.status, Planned | PlannedAndSaved),
        discardable: matches!(run.status, Pending | Planned | PlannedAndSaved),
        force_cancelable: !run.status.is_final()
            && run.force_cancel_available_at.is_some_and(|at| at <= now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use terrace_storage::model::{JsonText, PhaseKind};

    fn run(status: RunStatus) -> Run {
        let now = Utc::now();
        Run {
            id: "run-1".into(),
            workspace_id: "ws-1".into(),
            configuration_version_id: "cv-1".into(),
            status,
            status_timestamps: JsonText::default(),
            message: String::new(),
            source: "tfe-api".into(),
            trigger_reason: "manual".into(),
            is_destroy: false,
            refresh: true,
            refresh_only: false,
            plan_only: false,
            save_plan: false,
            auto_apply: false,
            allow_empty_apply: false,
            target_addrs: JsonText(None),
            replace_addrs: JsonText(None),
            variables_ciphertext: String::new(),
            terraform_version: "latest".into(),
            has_changes: true,
            created_by: None,
            confirmed_by: None,
            input_state_version_id: None,
            canceled_at: None,
            force_cancel_available_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn phase(kind: PhaseKind) -> RunPhase {
        crate::runs::new_phase("plan-1".into(), "run-1", kind)
    }

    fn of(run: &Run) -> RunActions {
        actions(
            run,
            &phase(PhaseKind::Plan),
            &phase(PhaseKind::Apply),
            Utc::now(),
        )
    }

    #[test]
    fn each_status_allows_its_actions() {
        use RunStatus::*;
        let table = [
            // status, cancelable, confirmable, discardable
            (Pending, true, false, true),
            (PlanQueued, true, false, false),
            (Planning, true, false, false),
            (Planned, false, true, true),
            (PlannedAndSaved, false, true, true),
            (Confirmed, true, false, false),
            (ApplyQueued, true, false, false),
            (Applying, true, false, false),
            (PrePlanRunning, true, false, false),
            (PostPlanRunning, true, false, false),
            (PreApplyRunning, true, false, false),
            (PlannedAndFinished, false, false, false),
            (Applied, false, false, false),
            (Discarded, false, false, false),
            (Errored, false, false, false),
            (Canceled, false, false, false),
        ];
        for (status, cancelable, confirmable, discardable) in table {
            let a = of(&run(status));
            assert_eq!(
                (
                    a.cancelable,
                    a.confirmable,
                    a.discardable,
                    a.force_cancelable
                ),
                (cancelable, confirmable, discardable, false),
                "{status:?}"
            );
        }
    }

    #[test]
    fn only_plans_with_something_to_apply_are_confirmable() {
        let mut planned = run(RunStatus::Planned);
        planned.plan_only = true;
        assert!(!of(&planned).confirmable);
        planned.plan_only = false;
        planned.has_changes = false;
        assert!(!of(&planned).confirmable);
        planned.allow_empty_apply = true;
        assert!(of(&planned).confirmable);
    }

    #[test]
    fn force_cancel_comes_after_a_cancel_and_its_cool_off() {
        let now = Utc::now();
        let mut planning = run(RunStatus::Planning);
        let mut plan = phase(PhaseKind::Plan);
        let apply = phase(PhaseKind::Apply);
        plan.cancel_requested = true;
        planning.force_cancel_available_at = Some(now + Duration::seconds(10));
        let a = actions(&planning, &plan, &apply, now);
        assert!(!a.cancelable, "a cancel was asked already");
        assert!(!a.force_cancelable, "not before the cool-off");
        let later = now + Duration::seconds(10);
        assert!(actions(&planning, &plan, &apply, later).force_cancelable);
        planning.status = RunStatus::Canceled;
        assert!(!actions(&planning, &plan, &apply, later).force_cancelable);
    }
}
