//! How far a run has come: its status timeline (each status it reached, when, and how long
//! it stayed before the next), and, while it waits, how many runs are ahead of it in its
//! workspace's queue. Pure functions of the run records.

use chrono::{DateTime, Utc};
use serde::Serialize;
use terrace_storage::model::{Run, RunStatus};

#[derive(Debug, PartialEq, Serialize)]
pub struct Step {
    /// `plan queued`
    pub status: String,
    /// `2026-12-05 10:00:03 UTC`
    pub at: String,
    /// How long until the next status (`1m 05s`); none for the last.
    pub took: Option<String>,
}

/// The run's statuses in the order it reached them (the run's `status-timestamps`).
pub fn timeline(run: &Run) -> Vec<Step> {
    let mut stamps: Vec<(&String, &DateTime<Utc>)> = run.status_timestamps.0.iter().collect();
    stamps.sort_by_key(|(key, at)| (**at, key.as_str()));
    let next_times = stamps
        .iter()
        .skip(1)
        .map(|(_, at)| Some(**at))
        .chain([None]);
    stamps
        .iter()
        .zip(next_times)
        .map(|((key, at), next)| Step {
            status: key.trim_end_matches("-at").replace('-', " "),
            at: at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            took: next.map(|next| duration(next - **at)),
        })
        .collect()
}

/// `0.4s`, `42s`, `3m 05s`, `2h 01m`.
pub fn duration(span: chrono::TimeDelta) -> String {
    let millis = span.num_milliseconds().max(0);
    let seconds = millis / 1000;
    match seconds {
        0..10 => format!("{:.1}s", millis as f64 / 1000.0),
        10..60 => format!("{seconds}s"),
        60..3600 => format!("{}m {:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h {:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

/// How many runs must go before a pending `run` starts: those of its workspace that hold the
/// workspace now and the pending ones queued before it. `None` when it does not wait.
/// `others` are the workspace's runs that are not speculative (plan-only runs do not queue).
pub fn queue_ahead(run: &Run, others: &[Run]) -> Option<usize> {
    if run.status != RunStatus::Pending {
        return None;
    }
    let ahead = others
        .iter()
        .filter(|other| other.id != run.id && !other.plan_only)
        .filter(|other| match other.status {
            RunStatus::Pending => (other.created_at, &other.id) < (run.created_at, &run.id),
            status => !status.is_final() && status != RunStatus::PlannedAndSaved,
        })
        .count();
    Some(ahead)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use terrace_storage::model::JsonText;

    fn at(minute: u32, second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, 10, minute, second)
            .unwrap()
    }

    fn run(id: &str, status: RunStatus, created_minute: u32) -> Run {
        Run {
            id: id.into(),
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
            created_at: at(created_minute, 0),
            updated_at: at(created_minute, 0),
        }
    }

    #[test]
    fn the_timeline_follows_the_clock_and_says_how_long_each_status_lasted() {
        let mut applied = run("run-1", RunStatus::Applied, 0);
        for (key, time) in [
            ("applied-at", at(3, 10)),
            ("plan-queued-at", at(0, 1)),
            ("planning-at", at(0, 3)),
            ("planned-at", at(1, 8)),
            ("confirmed-at", at(3, 0)),
        ] {
            applied.status_timestamps.0.insert(key.into(), time);
        }
        let steps = timeline(&applied);
        let seen: Vec<_> = steps
            .iter()
            .map(|s| (s.status.as_str(), s.took.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("plan queued", Some("2.0s")),
                ("planning", Some("1m 05s")),
                ("planned", Some("1m 52s")),
                ("confirmed", Some("10s")),
                ("applied", None),
            ]
        );
        assert_eq!(steps[0].at, "2026-12-05 10:00:01 UTC");
        assert_eq!(duration(chrono::TimeDelta::seconds(7260)), "2h 01m");
        assert_eq!(duration(chrono::TimeDelta::milliseconds(420)), "0.4s");
    }

    #[test]
    fn a_pending_run_waits_for_the_active_run_and_the_pending_ones_before_it() {
        let active = run("run-a", RunStatus::Planning, 0);
        let earlier = run("run-b", RunStatus::Pending, 1);
        let this = run("run-c", RunStatus::Pending, 2);
        let later = run("run-d", RunStatus::Pending, 3);
        let done = run("run-e", RunStatus::Applied, 0);
        let mut speculative = run("run-f", RunStatus::Planning, 0);
        speculative.plan_only = true;
        let all = [active, earlier, this.clone(), later, done, speculative];
        assert_eq!(queue_ahead(&this, &all), Some(2));
        assert_eq!(queue_ahead(&all[1], &all), Some(1));
        assert_eq!(
            queue_ahead(&all[0], &all),
            None,
            "a started run waits for nobody"
        );
    }
}
