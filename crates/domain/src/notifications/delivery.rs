//! Delivering notifications: the outbox's rows are claimed one at a time with a lease (a
//! replica that dies mid-delivery leaves its row to another once the lease ends; two
//! replicas never hold the same row), each configuration's in order; a failure is retried
//! with exponential backoff until [`MAX_ATTEMPTS`]; every answer is recorded in the
//! configuration's `delivery-responses`. The HTTP request itself is the API crate's
//! ([`Deliverer`]), sent to the one address checked here.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{Duration, SecondsFormat, Utc};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use terrace_storage::clock;
use terrace_storage::model::{NotificationConfiguration, OutboxNotification, RunStatus};

use super::payload::{self, Notice, VERIFICATION};
use super::ssrf::{self, Destinations};
use crate::{DomainResult, Services};

/// Attempts before a notification is given up.
pub const MAX_ATTEMPTS: i32 = 6;
/// How many delivery responses a configuration keeps.
pub const KEEP_RESPONSES: usize = 10;
/// How many deliveries (and run task requests) one replica has under way at once.
const PARALLEL: usize = 8;
/// How long a claim holds a row: longer than a delivery can take.
const LEASE: Duration = Duration::seconds(60);
/// The most of a receiver's answer kept.
const BODY_EXCERPT: usize = 1024;

/// One POST, to be sent to `addr` only (with `host` as the URL's host, for TLS and `Host`).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub url: String,
    pub host: String,
    pub addr: SocketAddr,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A receiver's answer.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: u16,
    pub headers: BTreeMap<String, Vec<String>>,
    pub body: String,
}

/// What sends notifications (the API crate's HTTP client, redirects not followed).
pub trait Deliverer: Send + Sync {
    fn post(&self, outgoing: Outgoing) -> BoxFuture<'_, Result<Answer, String>>;

    /// Sends one mail through `server` (the API crate's SMTP client).
    fn mail(
        &self,
        _server: super::email::SmtpServer,
        _mail: super::email::Mail,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Err("this server sends no e-mail".to_string()) })
    }
}

/// Everything delivery needs from the server: the sender, where notifications may go, and
/// the server's external URL (for `run_url`).
pub struct Notifier {
    pub deliverer: Arc<dyn Deliverer>,
    pub destinations: Destinations,
    pub base_url: String,
}

/// How often a worker with slow work under way looks for work that became due meanwhile.
const POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Works through due items [`PARALLEL`] at a time until none is due or `limit` were taken:
/// `claim` leases the next due item, `attempt` works on it (and settles it) in a task of its
/// own, so a claim never waits on an attempt nobody polls (SQLite's one writer). While some
/// are under way and nothing else is due, it looks again every [`POLL`]: what becomes due
/// meanwhile (another tenant's notification, run task request) does not wait for a slow
/// receiver. The first error stops the claims; what is under way finishes. Returns how many
/// were taken.
pub(crate) async fn in_parallel<T, C, F>(
    limit: usize,
    claim: impl Fn() -> C,
    attempt: impl Fn(T) -> F,
) -> DomainResult<usize>
where
    C: std::future::Future<Output = DomainResult<Option<T>>>,
    F: std::future::Future<Output = DomainResult<()>> + Send + 'static,
{
    let mut taken = 0;
    let mut running = tokio::task::JoinSet::new();
    let mut failure = None;
    loop {
        let mut exhausted = false;
        while failure.is_none() && running.len() < PARALLEL && taken < limit {
            match claim().await {
                Ok(Some(item)) => {
                    taken += 1;
                    running.spawn(attempt(item));
                }
                Ok(None) => {
                    exhausted = true;
                    break;
                }
                Err(err) => failure = Some(err),
            }
        }
        if running.is_empty() {
            return failure.map_or(Ok(taken), Err);
        }
        let settled = if exhausted && failure.is_none() {
            tokio::select! {
                settled = running.join_next() => settled,
                _ = tokio::time::sleep(POLL) => None,
            }
        } else {
            running.join_next().await
        };
        match settled {
            Some(Ok(Err(err))) => {
                failure.get_or_insert(err);
            }
            Some(Err(panicked)) => {
                tracing::error!(error = %panicked, "a delivery task failed");
            }
            Some(Ok(Ok(()))) | None => {}
        }
    }
}

/// The retry after the `attempt`th failure (1-based): 2, 4, 8 ... seconds, at most 5 minutes.
pub fn backoff(attempt: i32) -> Duration {
    Duration::seconds(1i64 << attempt.clamp(1, 9)).min(Duration::minutes(5))
}

/// Why [`Services::post_checked`] got no answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Unsent {
    /// Never sendable as given (not an http(s) URL, an address the site refuses).
    Refused(String),
    /// Worth trying again (does not resolve, unreachable, timed out).
    Failed(String),
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Delivered,
    /// Worth trying again (unreachable, 5xx, ...).
    Failed(String),
    /// Never deliverable as configured (refused address, no e-mail).
    Refused(String),
}

impl Services {
    /// Installs what notifications are delivered with (none: they stay in the outbox).
    pub fn with_notifier(mut self, notifier: Notifier) -> Services {
        self.notifier = Some(Arc::new(notifier));
        self
    }

    pub(crate) fn destinations(&self) -> Destinations {
        self.notifier
            .as_ref()
            .map(|n| n.destinations.clone())
            .unwrap_or_default()
    }

    /// Sends the verification request of `config` and records its response.
    pub(crate) async fn verify(&self, config: &NotificationConfiguration) -> DomainResult<Attempt> {
        let notice = Notice {
            configuration_id: config.id.clone(),
            configuration_name: config.name.clone(),
            trigger: VERIFICATION.into(),
            ..Default::default()
        };
        self.send(config, &notice).await
    }

    /// Delivers due notifications until none is left, [`PARALLEL`] at a time (one slow
    /// receiver does not hold up everyone else's); `owner` names this replica's leases.
    /// Returns how many were attempted.
    pub async fn deliver_notifications(&self, owner: &str) -> DomainResult<usize> {
        in_parallel(
            100,
            || async move {
                let now = clock::now();
                Ok(self
                    .store
                    .claim_notification(owner, now, now + LEASE)
                    .await?)
            },
            |row| {
                let (this, owner) = (self.clone(), owner.to_string());
                async move { this.attempt(row, &owner).await }
            },
        )
        .await
    }

    /// One attempt at a claimed row, settled: done, or due again after its backoff.
    async fn attempt(&self, row: OutboxNotification, owner: &str) -> DomainResult<()> {
        let attempt = self.deliver_row(&row).await;
        let number = row.attempts + 1;
        let (outcome, retry_at) = match &attempt {
            Ok(Attempt::Delivered) => ("delivered".to_string(), None),
            Ok(Attempt::Refused(why)) => (format!("given up: {why}"), None),
            Ok(Attempt::Failed(why)) | Err(crate::DomainError::Upstream(why))
                if number < MAX_ATTEMPTS =>
            {
                (why.clone(), Some(clock::now() + backoff(number)))
            }
            Ok(Attempt::Failed(why)) => (format!("given up after {number} attempts: {why}"), None),
            Err(err) if number < MAX_ATTEMPTS => {
                (err.to_string(), Some(clock::now() + backoff(number)))
            }
            Err(err) => (format!("given up after {number} attempts: {err}"), None),
        };
        if retry_at.is_none() && outcome != "delivered" {
            tracing::warn!(seq = row.seq, configuration = %row.configuration_id,
                run = %row.run_id, %outcome, "a notification was not delivered");
        }
        self.store
            .settle_notification(row.seq, owner, &outcome, retry_at, clock::now())
            .await?;
        Ok(())
    }

    async fn deliver_row(&self, row: &OutboxNotification) -> DomainResult<Attempt> {
        let Some(config) = self
            .store
            .notification_configuration_by_id(&row.configuration_id)
            .await?
        else {
            return Ok(Attempt::Refused("the configuration is gone".into()));
        };
        if !config.enabled {
            return Ok(Attempt::Refused("the configuration is disabled".into()));
        }
        let notice = self.run_notice(&config, row).await?;
        self.send(&config, &notice).await
    }

    /// What a run's notification tells, from the run as it is now and the status recorded.
    async fn run_notice(
        &self,
        config: &NotificationConfiguration,
        row: &OutboxNotification,
    ) -> DomainResult<Notice> {
        let run = self.store.run_by_id(&row.run_id).await?;
        let ws = self.store.workspace_by_id(&config.workspace_id).await?;
        let org = match &ws {
            Some(ws) => self.store.organization_by_id(&ws.organization_id).await?,
            None => None,
        };
        let username = |id: Option<String>| async move {
            match id {
                Some(id) => self
                    .store
                    .user_by_id(&id)
                    .await
                    .ok()
                    .flatten()
                    .map(|u| u.username),
                None => None,
            }
        };
        let created_by = username(run.as_ref().and_then(|r| r.created_by.clone())).await;
        // Who moved the run on: whoever confirmed it, from the apply on.
        let confirmed = matches!(
            row.run_status.parse::<RunStatus>().ok(),
            Some(RunStatus::Applying | RunStatus::Applied)
        );
        let updated_by = match run.as_ref().and_then(|r| r.confirmed_by.clone()) {
            Some(id) if confirmed => username(Some(id)).await,
            _ => created_by.clone(),
        };
        let base = self
            .notifier
            .as_ref()
            .map(|n| n.base_url.trim_end_matches('/').to_string())
            .unwrap_or_default();
        let run_url = match (&org, &ws) {
            (Some(org), Some(ws)) => Some(format!(
                "{base}/app/{}/workspaces/{}/runs/{}",
                org.name, ws.name, row.run_id
            )),
            _ => None,
        };
        Ok(Notice {
            configuration_id: config.id.clone(),
            configuration_name: config.name.clone(),
            run_url,
            run_id: Some(row.run_id.clone()),
            run_message: run.as_ref().map(|r| r.message.clone()),
            run_created_at: run.as_ref().map(|r| r.created_at),
            run_created_by: created_by,
            workspace_id: ws.as_ref().map(|w| w.id.clone()),
            workspace_name: ws.as_ref().map(|w| w.name.clone()),
            organization_name: org.as_ref().map(|o| o.name.clone()),
            trigger: row.trigger_name.clone(),
            run_status: Some(row.run_status.clone()),
            run_updated_at: Some(row.run_updated_at),
            run_updated_by: updated_by,
        })
    }

    /// One attempt: resolves and checks the destination, sends the payload of the
    /// configuration's type, records the answer.
    async fn send(
        &self,
        config: &NotificationConfiguration,
        notice: &Notice,
    ) -> DomainResult<Attempt> {
        if self.notifier.is_none() {
            return Ok(Attempt::Failed(
                "this server delivers no notifications".into(),
            ));
        }
        let body = match config.destination_type.as_str() {
            "slack" => payload::slack(notice),
            "microsoft-teams" => payload::teams(notice),
            "email" => {
                // One mail per recipient; a refusal (SMTP off, nobody to send to) is final,
                // a failed mail is retried (for every recipient: mail has no idempotency).
                return Ok(match self.send_email(config, notice).await? {
                    Ok(sent) => {
                        let answer = Answer {
                            status: 250,
                            body: format!("sent to {sent} recipient(s)"),
                            ..Default::default()
                        };
                        self.record_delivery(config, answer, None).await?;
                        Attempt::Delivered
                    }
                    Err((retry, why)) => {
                        self.record_delivery(config, Answer::default(), Some(&why))
                            .await?;
                        if retry {
                            Attempt::Failed(why)
                        } else {
                            Attempt::Refused(why)
                        }
                    }
                });
            }
            _ => payload::generic(notice),
        };
        let body = serde_json::to_vec(&body).expect("JSON serializes");
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        if let Some(sealed) = &config.token_ciphertext {
            let token = self.blobs.keyring().decrypt(sealed)?;
            headers.push((
                "X-TFE-Notification-Signature".into(),
                payload::signature(&token, &body),
            ));
        }
        match self.post_checked(&config.url, headers, body).await {
            Ok(answer) => {
                let ok = (200..300).contains(&answer.status);
                let status = answer.status;
                self.record_delivery(config, answer, None).await?;
                Ok(if ok {
                    Attempt::Delivered
                } else {
                    Attempt::Failed(format!("the receiver answered {status}"))
                })
            }
            Err(Unsent::Refused(why)) => {
                self.record_delivery(config, Answer::default(), Some(&why))
                    .await?;
                Ok(Attempt::Refused(why))
            }
            Err(Unsent::Failed(why)) => {
                self.record_delivery(config, Answer::default(), Some(&why))
                    .await?;
                Ok(Attempt::Failed(why))
            }
        }
    }

    /// POSTs `body` to an outside URL chosen by a tenant (notification and run task
    /// receivers): the host resolved, its address checked against the site's destinations,
    /// and the request sent to that address only (redirects not followed).
    pub(crate) async fn post_checked(
        &self,
        url: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Answer, Unsent> {
        let Some(notifier) = self.notifier.clone() else {
            return Err(Unsent::Failed(
                "this server sends no outbound requests".into(),
            ));
        };
        let Some((host, port)) = ssrf::host_and_port(url) else {
            return Err(Unsent::Refused(
                "the url is not an http or https URL".into(),
            ));
        };
        let Some(addr) = ssrf::resolve(&host, port).await.into_iter().next() else {
            return Err(Unsent::Failed(format!("{host} does not resolve")));
        };
        if let Some(why) = ssrf::refused(addr.ip(), &notifier.destinations) {
            return Err(Unsent::Refused(format!(
                "{host} resolves to {}: {why}",
                addr.ip()
            )));
        }
        let outgoing = Outgoing {
            url: url.to_string(),
            host,
            addr,
            headers,
            body,
        };
        notifier
            .deliverer
            .post(outgoing)
            .await
            .map_err(Unsent::Failed)
    }

    /// Adds a delivery response (HCP's shape: code and successful are strings).
    async fn record_delivery(
        &self,
        config: &NotificationConfiguration,
        answer: Answer,
        failure: Option<&str>,
    ) -> DomainResult<()> {
        let successful = failure.is_none() && (200..300).contains(&answer.status);
        let mut body = failure.map(str::to_string).unwrap_or(answer.body);
        if body.len() > BODY_EXCERPT {
            let mut cut = BODY_EXCERPT;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
        }
        let response = json!({
            "url": config.url,
            "body": body,
            "code": if answer.status == 0 { String::new() } else { answer.status.to_string() },
            "headers": answer.headers,
            "sent-at": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            "successful": successful.to_string(),
        });
        self.store
            .record_delivery_response(&config.id, &response, KEEP_RESPONSES)
            .await?;
        Ok(())
    }
}

/// The `Value` of a recorded response (for readers of the API).
pub fn responses(config: &NotificationConfiguration) -> &[Value] {
    &config.delivery_responses.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff(1), Duration::seconds(2));
        assert_eq!(backoff(2), Duration::seconds(4));
        assert_eq!(backoff(5), Duration::seconds(32));
        assert_eq!(backoff(30), Duration::minutes(5));
    }
}
