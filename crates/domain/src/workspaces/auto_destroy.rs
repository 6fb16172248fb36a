//! Auto-destroy, as HCP Terraform has it: a workspace's resources are destroyed by a run
//! queued on their own, either at a time someone scheduled (`auto-destroy-at`, cleared once
//! the run is queued) or after a period without a state change (`auto-destroy-activity-duration`,
//! the workspace's own or, while it inherits them, its project's). The destroy run applies
//! without confirmation. The rule is [`due`], a pure function of the workspace's record;
//! [`Services::sweep_auto_destroy`] enforces it, and the server runs that sweep every minute.

use chrono::{DateTime, Duration, Utc};
use terrace_storage::clock;
use terrace_storage::model::Workspace;

use crate::runs::NewRun;
use crate::{DomainError, DomainResult, Services};

/// An inactivity duration: 1 to 9999 hours (`24h`) or days (`14d`), as HCP Terraform accepts.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let refused =
        || format!("{text:?} is not a duration: use a number of hours or days, like 24h or 14d");
    let Some(unit) = text.chars().last() else {
        return Err(refused());
    };
    let number = &text[..text.len() - unit.len_utf8()];
    let valid_number = !number.is_empty()
        && number.len() <= 4
        && !number.starts_with('0')
        && number.bytes().all(|b| b.is_ascii_digit());
    if !valid_number {
        return Err(refused());
    }
    let n: i64 = number.parse().map_err(|_| refused())?;
    match unit {
        'h' => Ok(Duration::hours(n)),
        'd' => Ok(Duration::days(n)),
        _ => Err(refused()),
    }
}

/// The inactivity duration in effect: the project's while the workspace inherits it, else
/// its own.
pub fn activity_duration(ws: &Workspace) -> Option<&str> {
    if ws.inherits_project_auto_destroy {
        ws.project_auto_destroy_activity_duration.as_deref()
    } else {
        ws.auto_destroy_activity_duration.as_deref()
    }
}

/// When inactivity makes the resources go: the last state change (or the workspace's
/// creation, before it has state) plus the duration in effect.
fn inactivity_deadline(ws: &Workspace) -> Option<DateTime<Utc>> {
    let duration = parse_duration(activity_duration(ws)?).ok()?;
    Some(ws.state_updated_at.unwrap_or(ws.created_at) + duration)
}

/// `auto-destroy-at` as the API shows it: when the next destroy run will be queued, whichever
/// of the schedule and the inactivity deadline comes first.
pub fn next_destroy_at(ws: &Workspace) -> Option<DateTime<Utc>> {
    match (ws.auto_destroy_at, inactivity_deadline(ws)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Why a destroy run is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// The time someone scheduled has come.
    Scheduled(DateTime<Utc>),
    /// Nothing changed the state for this long.
    Inactive(String),
}

/// The rule: whether a destroy run is due for the workspace at `now`. A schedule that has
/// come is due once (queuing clears it). Inactivity is due when the deadline has passed, the
/// state still has resources, and no destroy was queued for this deadline already (a destroy
/// that failed is not retried until the state changes).
pub fn due(ws: &Workspace, now: DateTime<Utc>) -> Option<Due> {
    if let Some(at) = ws.auto_destroy_at.filter(|at| *at <= now) {
        return Some(Due::Scheduled(at));
    }
    let deadline = inactivity_deadline(ws).filter(|d| *d <= now)?;
    let queued_for_it = ws.auto_destroy_queued_at.is_some_and(|q| q >= deadline);
    (ws.resource_count > 0 && !queued_for_it)
        .then(|| Due::Inactive(activity_duration(ws).unwrap_or_default().to_string()))
}

/// The message of the destroy run queued for `due`.
fn message(due: &Due) -> String {
    match due {
        Due::Scheduled(at) => format!(
            "Queued by auto-destroy, scheduled for {}",
            at.format("%Y-%m-%dT%H:%M:%SZ")
        ),
        Due::Inactive(duration) => {
            format!("Queued by auto-destroy: the workspace had no activity for {duration}")
        }
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub queued: usize,
    /// Due, but the workspace takes no destroy run (local execution, destroy plans disabled,
    /// no configuration): logged, and not tried again for the same deadline.
    pub refused: usize,
}

impl Services {
    /// Queues a destroy run, applied without confirmation, in every workspace where one is
    /// due. Safe on several replicas at once: a workspace's deadline is claimed by one.
    pub async fn sweep_auto_destroy(&self) -> DomainResult<Swept> {
        let now = clock::now();
        let mut swept = Swept::default();
        for ws in self.store.auto_destroy_candidates(now).await? {
            let Some(due) = due(&ws, now) else { continue };
            if !self
                .store
                .claim_auto_destroy(&ws.id, ws.auto_destroy_queued_at, now)
                .await?
            {
                continue;
            }
            let Some(org) = self.store.organization_by_id(&ws.organization_id).await? else {
                continue;
            };
            let run = NewRun {
                workspace_id: ws.id.clone(),
                is_destroy: true,
                auto_apply: Some(true),
                message: Some(message(&due)),
                source: "tfe-api".into(),
                ..Default::default()
            };
            // Queued by no one: the workspace's own setting asked for it.
            match self.insert_run(&ws, &org, run, None).await {
                Ok(_) => {
                    tracing::info!(workspace = %ws.id, reason = ?due, "queued an auto-destroy run");
                    swept.queued += 1;
                }
                Err(DomainError::Storage(err)) => return Err(DomainError::Storage(err)),
                Err(refusal) => {
                    tracing::warn!(workspace = %ws.id, reason = %refusal, "auto-destroy is due but the workspace takes no destroy run");
                    swept.refused += 1;
                }
            }
        }
        Ok(swept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap() + Duration::hours(hours)
    }

    fn workspace() -> Workspace {
        let mut ws = super::super::workspace_with_defaults(
            "ws-1".into(),
            "org-1",
            "prj-1".into(),
            "app".into(),
            at(0),
        );
        ws.resource_count = 2;
        ws
    }

    #[test]
    fn durations_are_hours_or_days() {
        assert_eq!(parse_duration("24h"), Ok(Duration::hours(24)));
        assert_eq!(parse_duration("14d"), Ok(Duration::days(14)));
        assert_eq!(parse_duration("9999d"), Ok(Duration::days(9999)));
        for bad in [
            "", "h", "0d", "05d", "10000d", "3w", "1.5d", "-1d", "d1", "١d", "1é",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn an_inheriting_workspace_takes_its_projects_duration_only() {
        let mut ws = workspace();
        ws.auto_destroy_activity_duration = Some("1d".into());
        assert_eq!(activity_duration(&ws), None, "inherits, project has none");
        ws.project_auto_destroy_activity_duration = Some("3d".into());
        assert_eq!(activity_duration(&ws), Some("3d"));
        ws.inherits_project_auto_destroy = false;
        assert_eq!(activity_duration(&ws), Some("1d"));
    }

    #[test]
    fn the_deadline_counts_from_the_last_state_change() {
        let mut ws = workspace();
        ws.inherits_project_auto_destroy = false;
        ws.auto_destroy_activity_duration = Some("2h".into());
        assert_eq!(next_destroy_at(&ws), Some(at(2)), "from creation");
        ws.state_updated_at = Some(at(5));
        assert_eq!(next_destroy_at(&ws), Some(at(7)));
        ws.auto_destroy_at = Some(at(6));
        assert_eq!(next_destroy_at(&ws), Some(at(6)), "the earlier one");
        ws.auto_destroy_activity_duration = None;
        assert_eq!(next_destroy_at(&ws), Some(at(6)));
        ws.auto_destroy_at = None;
        assert_eq!(next_destroy_at(&ws), None);
    }

    #[test]
    fn a_schedule_is_due_once_it_comes_whatever_the_state() {
        let mut ws = workspace();
        ws.auto_destroy_at = Some(at(3));
        assert_eq!(due(&ws, at(2)), None);
        assert_eq!(due(&ws, at(3)), Some(Due::Scheduled(at(3))));
        ws.resource_count = 0;
        assert_eq!(due(&ws, at(4)), Some(Due::Scheduled(at(3))));
    }

    #[test]
    fn inactivity_is_due_once_per_deadline_and_only_with_resources() {
        let mut ws = workspace();
        ws.inherits_project_auto_destroy = false;
        ws.auto_destroy_activity_duration = Some("1d".into());
        ws.state_updated_at = Some(at(10));
        assert_eq!(due(&ws, at(33)), None, "23 hours of inactivity");
        assert_eq!(due(&ws, at(34)), Some(Due::Inactive("1d".into())));
        // Queued for this deadline: not again, even if the destroy failed.
        ws.auto_destroy_queued_at = Some(at(34));
        assert_eq!(due(&ws, at(50)), None);
        // The state changed since: a new deadline.
        ws.state_updated_at = Some(at(40));
        assert_eq!(due(&ws, at(63)), None);
        assert_eq!(due(&ws, at(64)), Some(Due::Inactive("1d".into())));
        // Nothing left to destroy.
        ws.resource_count = 0;
        assert_eq!(due(&ws, at(64)), None);
    }

    #[test]
    fn an_invalid_stored_duration_destroys_nothing() {
        let mut ws = workspace();
        ws.inherits_project_auto_destroy = false;
        ws.auto_destroy_activity_duration = Some("soon".into());
        assert_eq!(next_destroy_at(&ws), None);
        assert_eq!(due(&ws, at(100_000)), None);
    }
}
