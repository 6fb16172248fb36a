//! Several replicas of `terrace serve` on one database and one object store. They share
//! everything through those, except what must travel at once:
//!
//! - **signals** (a queued job wakes the claims waiting on every replica, so a listener
//!   long-polling any of them takes it within milliseconds): through Redis pub/sub when
//!   `--redis-url` is set, PostgreSQL's LISTEN/NOTIFY otherwise; SQLite is one process.
//! - **rate limits**: counted in Redis when it is set, so a token over its limit on one
//!   replica is over it on all. Without Redis each replica counts its own requests.
//!
//! Live logs need nothing here: runners append them to the database, which every replica
//! reads. Nothing here is needed for correctness: a lost signal costs a claim a second at
//! most (it looks again), and while Redis cannot be reached each replica counts its own
//! requests again, and says so in its log.

mod redis;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use terrace_domain::replicas::{Fanout, Signal};
use terrace_domain::Services;
use terrace_storage::SqlStore;
use tokio::sync::mpsc;

use crate::limits::{LocalRateLimiter, RateLimiter};

pub use self::redis::{Redis, RedisRateLimiter};

/// The channel signals travel on (a Redis channel, a PostgreSQL notification channel).
const CHANNEL: &str = "terrace_signals";
/// Signals waiting to be sent; more are dropped (one waiting job signal wakes everyone).
const BACKLOG: usize = 64;
/// How long a lost connection waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// How this replica reaches the others.
#[derive(Clone)]
pub enum Transport {
    /// The embedded shape: nobody else.
    Alone,
    Postgres(Arc<SqlStore>),
    Redis(Arc<Redis>),
}

impl Transport {
    /// Redis when configured; PostgreSQL's notifications when the database is PostgreSQL.
    pub fn choose(redis_url: Option<&str>, store: Arc<SqlStore>) -> Result<Transport> {
        if let Some(url) = redis_url {
            return Ok(Transport::Redis(Arc::new(Redis::open(url)?)));
        }
        Ok(match store.backend() {
            terrace_storage::sql::Backend::Postgres => Transport::Postgres(store),
            terrace_storage::sql::Backend::Sqlite => Transport::Alone,
        })
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Transport::Alone => "none (one process)",
            Transport::Postgres(_) => "PostgreSQL LISTEN/NOTIFY",
            Transport::Redis(_) => "Redis",
        }
    }

    /// Who counts requests: Redis, shared, when configured; this replica otherwise.
    pub fn rate_limiter(&self) -> Arc<dyn RateLimiter> {
        match self {
            Transport::Redis(redis) => Arc::new(RedisRateLimiter::new(redis.clone())),
            _ => Arc::new(LocalRateLimiter::new()),
        }
    }

    /// The fanout to plug into the services; its sender runs as a task.
    pub fn fanout(&self, replica: &ReplicaId) -> Arc<dyn Fanout> {
        let (sender, mut queue) = mpsc::channel::<Signal>(BACKLOG);
        let transport = self.clone();
        let me = replica.clone();
        tokio::spawn(async move {
            while let Some(signal) = queue.recv().await {
                let message = me.message(signal);
                let sent = match &transport {
                    Transport::Alone => Ok(()),
                    Transport::Postgres(store) => store
                        .notify(CHANNEL, &message)
                        .await
                        .map_err(anyhow::Error::from),
                    Transport::Redis(redis) => redis.publish(CHANNEL, &message).await,
                };
                if let Err(err) = sent {
                    tracing::warn!(error = %err, "could not tell the other replicas");
                }
            }
        });
        Arc::new(Queued(sender))
    }

    /// Hands what the other replicas send to `services`, for as long as the server runs.
    pub fn follow(&self, services: Services, replica: ReplicaId) {
        match self.clone() {
            Transport::Alone => {}
            Transport::Postgres(store) => {
                tokio::spawn(follow_postgres(store, services, replica));
            }
            Transport::Redis(redis) => {
                tokio::spawn(async move { redis.follow(CHANNEL, services, replica).await });
            }
        }
    }
}

/// Hands signals to the sending task without waiting.
struct Queued(mpsc::Sender<Signal>);

impl Fanout for Queued {
    fn publish(&self, signal: Signal) {
        let _ = self.0.try_send(signal);
    }
}

/// This process among the replicas, so it ignores its own messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaId(String);

impl ReplicaId {
    pub fn random() -> ReplicaId {
        let bytes: [u8; 8] = rand_bytes();
        ReplicaId(hex::encode(bytes))
    }

    /// `SIGNAL REPLICA`.
    fn message(&self, signal: Signal) -> String {
        format!("{} {}", signal.as_str(), self.0)
    }

    /// The signal of another replica's message; `None` for this replica's own and for
    /// anything that is not a message.
    fn heard(&self, message: &str) -> Option<Signal> {
        let (signal, from) = message.split_once(' ')?;
        (from != self.0).then(|| Signal::parse(signal)).flatten()
    }
}

fn rand_bytes() -> [u8; 8] {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish().to_be_bytes()
}

/// Acts on one message from the transport.
fn deliver(services: &Services, replica: &ReplicaId, message: &str) {
    if let Some(signal) = replica.heard(message) {
        services.receive(signal);
    }
}

/// After a lost connection: whatever was sent meanwhile is lost, so act as if it all came.
fn assume_missed(services: &Services) {
    for signal in Signal::ALL {
        services.receive(signal);
    }
}

async fn follow_postgres(store: Arc<SqlStore>, services: Services, replica: ReplicaId) {
    loop {
        let mut notifications = match store.listen(CHANNEL).await {
            Ok(Some(notifications)) => notifications,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for the other replicas' signals");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            match notifications.next().await {
                Ok(Some(message)) => deliver(&services, &replica, &message),
                Ok(None) => assume_missed(&services),
                Err(err) => {
                    tracing::warn!(error = %err, "lost the other replicas' signals; reconnecting");
                    assume_missed(&services);
                    tokio::time::sleep(RETRY).await;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_hears_the_others_messages_and_not_its_own() {
        let me = ReplicaId::random();
        let other = ReplicaId::random();
        assert_ne!(me, other);
        assert_eq!(
            me.heard(&other.message(Signal::JobQueued)),
            Some(Signal::JobQueued)
        );
        assert_eq!(me.heard(&me.message(Signal::JobQueued)), None);
        assert_eq!(me.heard("job-queued"), None, "no sender: not a message");
        assert_eq!(me.heard("jobs-queued abc"), None, "unknown signal");
    }
}
