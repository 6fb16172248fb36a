//! Installation-wide figures for monitoring (`/metrics`): counts only, nothing of any
//! tenant's names or contents.

use terrace_storage::model::RunStatus;

use crate::{DomainResult, Services};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Runs by status (`plan_queued`, ...), those with any.
    pub runs_by_status: Vec<(String, i64)>,
    /// Runs waiting for a listener to take their plan or apply.
    pub queued_runs: i64,
    /// The server's own listeners (agent pools' are the tenants').
    pub listeners: i64,
    pub listener_capacity: i64,
}

/// Runs waiting for a listener, out of the counts by status.
pub fn queued(runs_by_status: &[(String, i64)]) -> i64 {
    let waiting = [RunStatus::PlanQueued, RunStatus::ApplyQueued].map(|s| s.as_str());
    runs_by_status
        .iter()
        .filter(|(status, _)| waiting.contains(&status.as_str()))
        .map(|(_, count)| count)
        .sum()
}

impl Services {
    pub async fn figures(&self) -> DomainResult<Figures> {
        let runs_by_status = self.store.run_counts_by_status().await?;
        let listeners = self.store.list_listeners(None).await?;
        Ok(Figures {
            queued_runs: queued(&runs_by_status),
            runs_by_status,
            listeners: listeners.len() as i64,
            listener_capacity: listeners.iter().map(|l| l.capacity).sum(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_runs_are_those_waiting_for_a_plan_or_an_apply() {
        let counts = [
            ("applied", 7),
            ("plan_queued", 2),
            ("apply_queued", 1),
            ("planning", 4),
        ]
        .map(|(s, n)| (s.to_string(), n));
        assert_eq!(queued(&counts), 3);
        assert_eq!(queued(&[]), 0);
    }
}
