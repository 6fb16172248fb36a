//! Why a plan waits. A queued plan that no connected listener can take would otherwise leave
//! `terraform plan` waiting in silence; instead a line saying why goes into its log, which the
//! CLI polls and prints while it waits. The run keeps waiting (a listener may connect: an agent
//! started, the server's built-in listener fixed and restarted); the runner later continues
//! the log behind these lines (`JobSpec::log_offset`).
//!
//! Apply logs get no such line: the CLI drops their first three lines.

use chrono::Duration;
use terrace_storage::clock;
use terrace_storage::model::{PhaseKind, RunPhase};

use crate::{DomainResult, Services};

/// A job claimed within this long never gets a line: listeners claim within a second.
const GRACE_SECONDS: i64 = 3;
/// A listener silent for longer (three missed heartbeats) does not count as connected.
const CONNECTED_SECONDS: i64 = 30;
/// Jobs looked at per pass.
const BATCH: i64 = 200;

impl Services {
    /// Writes into the log of each plan waiting for a listener that none is connected to
    /// take it (once per reason). `builtin_problem`: what is wrong with this server's built-in
    /// listener, if anything. Returns how many logs got a line.
    pub async fn explain_waiting_jobs(&self, builtin_problem: Option<&str>) -> DomainResult<usize> {
        let now = clock::now();
        let jobs = self
            .store
            .waiting_jobs(now - Duration::seconds(GRACE_SECONDS), BATCH)
            .await?;
        let mut explained = 0;
        for job in jobs.iter().filter(|j| j.kind == PhaseKind::Plan) {
            let listeners = self.store.list_listeners(job.pool_id.as_deref()).await?;
            let connected = now - Duration::seconds(CONNECTED_SECONDS);
            if listeners.iter().any(|l| l.last_heartbeat_at > connected) {
                continue;
            }
            let reason = self.no_listener(job, builtin_problem).await?;
            if self.explain(job, &reason).await? {
                explained += 1;
            }
        }
        Ok(explained)
    }

    async fn no_listener(
        &self,
        job: &RunPhase,
        builtin_problem: Option<&str>,
    ) -> DomainResult<String> {
        let waiting = match &job.pool_id {
            Some(pool_id) => {
                let name = match self.store.agent_pool_by_id(pool_id).await? {
                    Some(pool) => pool.name,
                    None => pool_id.clone(),
                };
                format!("no agent of the agent pool {name:?} is connected")
            }
            None => match builtin_problem {
                Some(problem) => {
                    format!("no runner listener of this server is connected ({problem})")
                }
                None => "no runner listener of this server is connected".to_string(),
            },
        };
        Ok(format!(
            "Waiting: {waiting}; the run starts once one connects.\n"
        ))
    }

    /// Appends `line` unless the log already says it; true if appended.
    async fn explain(&self, job: &RunPhase, line: &str) -> DomainResult<bool> {
        let so_far = self.log_content(job, 0, job.log_size as u64).await?;
        if String::from_utf8_lossy(&so_far).contains(line) {
            return Ok(false);
        }
        let ciphertext = self.blobs.keyring().encrypt(line.as_bytes());
        Ok(self
            .store
            .append_waiting_log(&job.id, line.len() as i64, &ciphertext)
            .await?)
    }
}
