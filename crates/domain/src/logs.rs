//! Plan and apply logs. While a job runs, its runner appends chunks (encrypted, in the
//! database, so every replica serves them); when the job ends the log moves to the blob
//! store. Clients read it through a capability URL, as the CLI does: the log framed by STX
//! and ETX, where ETX is only sent once the phase is final, so the phase's status is
//! terminal no later than its log ends.

use chrono::Duration;
use futures::StreamExt;
use terrace_auth::policy::Action;
use terrace_storage::clock;
use terrace_storage::model::{PhaseKind, RunPhase};

use crate::jobs::artifact_key;
use crate::runs::plan_json;
use crate::{Caller, DomainError, DomainResult, Services};

pub const LOG_READ: &str = "log-read";
const STX: u8 = 0x02;
const ETX: u8 = 0x03;

fn log_name(phase: &RunPhase) -> &'static str {
    match phase.kind {
        PhaseKind::Plan => "plan.log",
        PhaseKind::Apply => "apply.log",
    }
}

impl Services {
    /// The capability for a phase's log; it outlives any run.
    pub fn log_token(&self, phase_id: &str) -> String {
        self.issue(LOG_READ, phase_id, Duration::hours(25))
    }

    /// Up to `limit` bytes of the framed log from `offset`.
    pub async fn read_log(&self, token: &str, offset: u64, limit: u64) -> DomainResult<Vec<u8>> {
        let id = self.redeem(token, LOG_READ)?;
        let phase = self
            .store
            .phase_by_id(&id)
            .await?
            .ok_or(DomainError::NotFound("log"))?;
        let size = phase.log_size as u64;
        let mut out = Vec::new();
        let mut position = offset;
        let mut remaining = limit;
        if position == 0 && remaining > 0 {
            out.push(STX);
            position = 1;
            remaining -= 1;
        }
        let from = position.saturating_sub(1);
        if remaining > 0 && from < size {
            let len = remaining.min(size - from);
            let content = self.log_content(&phase, from, len).await?;
            position += content.len() as u64;
            remaining -= content.len() as u64;
            out.extend_from_slice(&content);
        }
        // ETX once the phase has ended and everything before it was delivered.
        let delivered_all = position.saturating_sub(1) >= size;
        if phase.status.is_final() && delivered_all && remaining > 0 && position == size + 1 {
            out.push(ETX);
        }
        Ok(out)
    }

    /// `len` bytes of the log's content from `from` (fewer if they are not there yet).
    pub(crate) async fn log_content(
        &self,
        phase: &RunPhase,
        from: u64,
        len: u64,
    ) -> DomainResult<Vec<u8>> {
        let mut out = Vec::with_capacity(len as usize);
        if phase.log_archived {
            let key = self.log_key(phase).await?;
            let mut stream = self.blobs.read(&key).await?;
            let mut skipped = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                let start = from.saturating_sub(skipped).min(chunk.len() as u64) as usize;
                skipped += chunk.len() as u64;
                let take = (len as usize - out.len()).min(chunk.len() - start);
                out.extend_from_slice(&chunk[start..start + take]);
                if out.len() as u64 >= len {
                    break;
                }
            }
            return Ok(out);
        }
        for (offset, ciphertext) in self.store.log_chunks(&phase.id, from as i64).await? {
            let data = self.blobs.keyring().decrypt(&ciphertext)?;
            let start = (from as i64 - offset).max(0) as usize;
            if start >= data.len() {
                continue;
            }
            let take = (len as usize - out.len()).min(data.len() - start);
            out.extend_from_slice(&data[start..start + take]);
            if out.len() as u64 >= len {
                break;
            }
        }
        Ok(out)
    }

    async fn log_key(&self, phase: &RunPhase) -> DomainResult<String> {
        let run = self
            .store
            .run_by_id(&phase.run_id)
            .await?
            .ok_or(DomainError::NotFound("run"))?;
        Ok(artifact_key(&run.workspace_id, &run.id, log_name(phase)))
    }

    /// Makes sure the log of a phase that ended errored says why. The runner writes its own
    /// errors there, but a runner that died, or a job the server gave up on, cannot: then the
    /// reason its listener or the server gave is appended. Called once the phase has ended
    /// (so no runner writes any more) and before its log is archived.
    pub(crate) async fn log_error(&self, phase: &mut RunPhase, error: &str) {
        let size = phase.log_size as u64;
        let tail = (error.len() as u64 + 256).min(size);
        if let Ok(tail) = self.log_content(phase, size - tail, tail).await {
            if String::from_utf8_lossy(&tail).contains(error) {
                return;
            }
        }
        let text = format!("{}Error: {error}\n", if size == 0 { "" } else { "\n" });
        let ciphertext = self.blobs.keyring().encrypt(text.as_bytes());
        let len = text.len() as i64;
        match (self.store)
            .append_log(&phase.id, phase.log_size, len, &ciphertext, clock::now())
            .await
        {
            Ok(_) => phase.log_size += len,
            Err(err) => {
                tracing::warn!(phase = %phase.id, error = %err, "could not log why a job errored")
            }
        }
    }

    /// Moves an ended phase's log to the blob store. On failure the chunks stay and the log
    /// is still served from them.
    pub(crate) async fn archive_log(&self, phase: &RunPhase) {
        let archived: DomainResult<()> = async {
            let content = self.log_content(phase, 0, phase.log_size as u64).await?;
            self.blobs
                .put(&self.log_key(phase).await?, &content)
                .await?;
            Ok(self.store.mark_log_archived(&phase.id).await?)
        }
        .await;
        if let Err(err) = archived {
            tracing::warn!(phase = %phase.id, error = %err, "could not archive a log");
        }
    }

    /// The plan as JSON: redacted (sensitive values replaced, for rendering) for anyone who
    /// reads runs; as Terraform wrote it only for workspace administrators.
    pub async fn plan_json(
        &self,
        caller: &Caller,
        plan_id: &str,
        redacted: bool,
    ) -> DomainResult<Option<Vec<u8>>> {
        let (plan, view) = self.phase(caller, plan_id).await?;
        if plan.kind != PhaseKind::Plan {
            return Err(DomainError::NotFound("plan"));
        }
        if !redacted {
            self.authorize(caller, &view.organization, Action::UpdateWorkspace, "plan")
                .await?;
        }
        let has = |name: &str| plan.artifacts.0.iter().any(|a| a == name);
        if !has(terrace_protocol::artifacts::PLAN_JSON) {
            return Ok(None);
        }
        let key = |name| artifact_key(&view.workspace.id, &view.run.id, name);
        let json = self
            .blobs
            .get(&key(terrace_protocol::artifacts::PLAN_JSON))
            .await?;
        if !redacted {
            return Ok(Some(json));
        }
        let schemas = if has(terrace_protocol::artifacts::PROVIDER_SCHEMAS) {
            self.blobs
                .get(&key(terrace_protocol::artifacts::PROVIDER_SCHEMAS))
                .await?
        } else {
            br#"{"format_version":"1.0","provider_schemas":{}}"#.to_vec()
        };
        plan_json::redacted(&json, &schemas)
            .map(Some)
            .map_err(DomainError::bad_request)
    }
}
