//! Plan and apply logs. While a job runs, its runner appends chunks (encrypted, in the
//! database, so every replica serves them); when the job ends the log moves to the blob
//! store. Clients read it through a capability URL, as the CLI does: the log framed by STX
//! and ETX, where ETX is only sent once the phase is final, so the phase's status is
//! terminal no later than its log ends.
//!
//! A log URL is issued to the caller who read the phase and re-checks, at every read, that
//! this caller may still read the run. It is short-lived, but the CLI keeps one URL for the
//! whole stream of a phase, so it stays valid while the phase runs and for as long again
//! after it ended.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use terrace_auth::capability::Capability;
use terrace_auth::policy::Action;
use terrace_storage::clock;
use terrace_storage::model::{PhaseKind, RunPhase};

use crate::jobs::artifact_key;
use crate::runs::plan_json;
use crate::{Caller, DomainError, DomainResult, Principal, Services};

pub const LOG_READ: &str = "log-read";
const STX: u8 = 0x02;
const ETX: u8 = 0x03;

fn log_name(phase: &RunPhase) -> &'static str {
    match phase.kind {
        PhaseKind::Plan => "plan.log",
        PhaseKind::Apply => "apply.log",
    }
}

/// Whom a log URL is bound to: the API token used (so revoking it ends the URL), or the
/// user of a browser session.
fn holder(caller: &Caller) -> Option<String> {
    match (&caller.token_id, caller.user()) {
        (Some(token), _) => Some(format!("token:{token}")),
        (None, Some(user)) => Some(format!("user:{}", user.id)),
        (None, None) => None,
    }
}

/// Whether a log URL valid until `expires` may still be read at `now`: before it expires,
/// while its phase runs (`ended` is `None`), and for `ttl` after the phase ended.
fn url_live(
    expires: DateTime<Utc>,
    ended: Option<DateTime<Utc>>,
    ttl: chrono::Duration,
    now: DateTime<Utc>,
) -> bool {
    now <= expires || ended.is_none_or(|at| now <= at + ttl)
}

/// When a phase ended; `None` while it has not. A final phase without its timestamp counts
/// as long ended.
fn ended_at(phase: &RunPhase) -> Option<DateTime<Utc>> {
    phase.status.is_final().then(|| {
        let stamp = crate::runs::phase_stamp(phase.status);
        (phase.status_timestamps.0.get(stamp).copied()).unwrap_or(DateTime::<Utc>::MIN_UTC)
    })
}

impl Services {
    /// A fresh capability for a phase's log, bound to `caller` (who just read the phase).
    pub fn log_token(&self, caller: &Caller, phase_id: &str) -> String {
        self.signer.sign(&Capability {
            purpose: LOG_READ.to_string(),
            resource: phase_id.to_string(),
            expires: (Utc::now() + self.settings.log_url_ttl).timestamp(),
            holder: holder(caller),
        })
    }

    /// The phase a log URL names, if its holder may still read the run and the URL is live.
    async fn log_phase(&self, token: &str) -> DomainResult<RunPhase> {
        let capability = self.open_capability(token, LOG_READ)?;
        // Whatever keeps the holder from the run, the URL is then as good as unknown.
        let gone = |e| match e {
            DomainError::NotFound(_) | DomainError::Forbidden(_) | DomainError::Unauthorized => {
                DomainError::NotFound("log")
            }
            other => other,
        };
        let caller = match capability.holder.as_deref().and_then(|h| h.split_once(':')) {
            Some(("token", id)) => {
                let token =
                    (self.store.token_by_id(id).await?).ok_or(DomainError::NotFound("log"))?;
                self.caller_for_token(token).await.map_err(gone)?
            }
            Some(("user", id)) => Caller {
                principal: Principal::User(
                    (self.store.user_by_id(id).await?).ok_or(DomainError::NotFound("log"))?,
                ),
                token_id: None,
                // A log URL shown in a browser session: the strictest provenance.
                signed_in_with: crate::org_sso::SignedInWith::Password,
                credentials_epoch: None,
            },
            _ => {
                return Err(DomainError::BadCapability(
                    "this URL names no holder".into(),
                ))
            }
        };
        let (phase, _) = self
            .phase(&caller, &capability.resource)
            .await
            .map_err(gone)?;
        let expires = DateTime::from_timestamp(capability.expires, 0).unwrap_or_default();
        if !url_live(
            expires,
            ended_at(&phase),
            self.settings.log_url_ttl,
            Utc::now(),
        ) {
            return Err(DomainError::Expired(
                "this log URL expired; read the plan or apply again for a fresh one".into(),
            ));
        }
        Ok(phase)
    }

    /// Up to `limit` bytes of the framed log from `offset`.
    pub async fn read_log(&self, token: &str, offset: u64, limit: u64) -> DomainResult<Vec<u8>> {
        let phase = self.log_phase(token).await?;
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
        // A run task's service reads its run's plan, unredacted as HCP sends it, nothing else.
        if let crate::caller::Principal::TaskResult { run_id, .. } = &caller.principal {
            if redacted {
                return Err(DomainError::NotFound("plan"));
            }
            return self.task_plan_json(run_id, plan_id).await;
        }
        let (plan, view) = self.phase(caller, plan_id).await?;
        if plan.kind != PhaseKind::Plan {
            return Err(DomainError::NotFound("plan"));
        }
        if !redacted {
            crate::access::check(
                view.access,
                Action::UpdateWorkspace,
                &view.organization,
                "plan",
            )?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_log_url_lives_while_its_phase_runs_and_a_ttl_after() {
        let ttl = Duration::minutes(10);
        let issued = Utc::now();
        let expires = issued + ttl;
        let later = |minutes| issued + Duration::minutes(minutes);
        // Fresh: fine whatever the phase does.
        assert!(url_live(expires, None, ttl, later(5)));
        assert!(url_live(
            expires,
            Some(issued - Duration::days(1)),
            ttl,
            later(5)
        ));
        // A long-running phase keeps its stream open past the TTL.
        assert!(url_live(expires, None, ttl, later(120)));
        // Once it ended: a grace of one TTL, then refused.
        assert!(url_live(expires, Some(later(115)), ttl, later(120)));
        assert!(!url_live(expires, Some(later(100)), ttl, later(120)));
        // A URL for a phase long over, issued long ago.
        assert!(!url_live(expires, Some(issued), ttl, later(11)));
    }
}
