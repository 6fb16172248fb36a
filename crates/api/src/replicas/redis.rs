//! Redis: pub/sub for signals, and a GCRA bucket per rate limit key that every replica
//! counts in. The connection is made in the background and remade after losing it; until
//! it is there, rate limits fall back to this replica's own count.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use terrace_auth::throttle::{Quota, Verdict};
use terrace_domain::Services;

use super::{assume_missed, deliver, ReplicaId, RETRY};
use crate::limits::{Key, LocalRateLimiter, RateLimiter};

/// A request waits at most this long for Redis before it is counted here instead.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the log says that Redis cannot be reached while it cannot.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// GCRA (the rule of `terrace_auth::throttle::gcra`, which `the_script_counts_as_gcra` holds
/// it to) on one key, atomically, in microseconds of Redis's clock so that every replica
/// counts on one clock. KEYS[1]: the key; ARGV: interval, capacity, and optionally `now`
/// (tests). Returns allowed (0/1), remaining, reset and retry-after (µs).
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next = tat + interval
if next - now > capacity then
  return {0, 0, tat - now, next - capacity - now}
end
redis.call('SET', KEYS[1], next, 'PX', math.ceil((next - now) / 1000))
return {1, math.floor((capacity - (next - now)) / interval), next - now, 0}
";

/// A Redis server, connected to in the background.
pub struct Redis {
    client: redis::Client,
    connection: OnceLock<ConnectionManager>,
    gcra: redis::Script,
    last_warning: Mutex<Option<Instant>>,
}

impl Redis {
    /// Checks the URL and starts connecting; never waits for Redis.
    pub fn open(url: &str) -> Result<Redis> {
        let client = redis::Client::open(url).context("--redis-url")?;
        Ok(Redis {
            client,
            connection: OnceLock::new(),
            gcra: redis::Script::new(GCRA),
            last_warning: Mutex::new(None),
        })
    }

    /// Connects (once; the connection manager reconnects by itself afterwards).
    pub async fn connect(self: &Arc<Self>) {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1);
        loop {
            match self
                .client
                .get_connection_manager_with_config(config.clone())
                .await
            {
                Ok(connection) => {
                    let _ = self.connection.set(connection);
                    tracing::info!("connected to Redis");
                    return;
                }
                Err(err) => {
                    self.warn(&err);
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }

    fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
        self.connection.get().cloned().ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Io, "not connected to Redis yet"))
        })
    }

    /// Logs that Redis cannot be reached, at most every [`WARN_EVERY`].
    fn warn(&self, err: &dyn std::fmt::Display) {
        let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                error = %err,
                "Redis cannot be reached: rate limits count this replica's requests only, and \
                 other replicas hear of queued jobs within a second instead of at once"
            );
        }
    }

    pub async fn publish(&self, channel: &str, message: &str) -> Result<()> {
        let mut connection = self.connection()?;
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(message)
            .query_async::<()>(&mut connection)
            .await?;
        Ok(())
    }

    /// Subscribes to `channel` and hands its messages to `services`; resubscribes after a
    /// lost connection.
    pub async fn follow(self: Arc<Self>, channel: &str, services: Services, replica: ReplicaId) {
        loop {
            let subscribed = async {
                let mut pubsub = self.client.get_async_pubsub().await?;
                pubsub.subscribe(channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            let pubsub = match tokio::time::timeout(CONNECT_TIMEOUT, subscribed).await {
                Ok(Ok(pubsub)) => pubsub,
                Ok(Err(err)) => {
                    self.warn(&err);
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
                Err(_) => {
                    self.warn(&"subscribing timed out");
                    continue;
                }
            };
            // Subscribed now: whatever was sent before is lost.
            assume_missed(&services);
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                if let Ok(text) = message.get_payload::<String>() {
                    deliver(&services, &replica, &text);
                }
            }
            tracing::warn!("lost the Redis subscription; subscribing again");
            tokio::time::sleep(RETRY).await;
        }
    }

    /// Counts one request of `key` in Redis.
    async fn count(&self, key: &str, quota: Quota, now: Option<u64>) -> Result<Verdict> {
        let mut connection = self.connection()?;
        let mut invocation = self.gcra.prepare_invoke();
        invocation
            .key(key)
            .arg(micros(quota.interval()))
            .arg(micros(quota.capacity()));
        if let Some(now) = now {
            invocation.arg(now);
        }
        let answer: Vec<u64> = invocation.invoke_async(&mut connection).await?;
        let [allowed, remaining, reset, retry_after] = answer[..] else {
            anyhow::bail!("the rate limit script answered {answer:?}");
        };
        Ok(Verdict {
            allowed: allowed == 1,
            remaining: remaining.min(u64::from(u32::MAX)) as u32,
            reset: Duration::from_micros(reset),
            retry_after: Duration::from_micros(retry_after),
        })
    }
}

fn micros(duration: Duration) -> u64 {
    duration.as_micros().min(u128::from(u64::MAX)) as u64
}

/// Rate limits counted in Redis, by every replica alike; here while Redis cannot answer.
pub struct RedisRateLimiter {
    redis: Arc<Redis>,
    fallback: LocalRateLimiter,
}

impl RedisRateLimiter {
    pub fn new(redis: Arc<Redis>) -> RedisRateLimiter {
        RedisRateLimiter {
            redis,
            fallback: LocalRateLimiter::new(),
        }
    }
}

impl RateLimiter for RedisRateLimiter {
    fn acquire<'a>(&'a self, key: &'a Key, quota: Quota) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            let name = format!("terrace:rate:{}:{}", key.class.label(), key.id);
            match self.redis.count(&name, quota, None).await {
                Ok(verdict) => verdict,
                Err(err) => {
                    self.redis.warn(&err);
                    self.fallback.acquire(key, quota).await
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command, Stdio};
    use terrace_auth::throttle::gcra;

    /// A real `redis-server` on a free loopback port, stopped when dropped. The test
    /// command installs it (scripts/install-test-deps.sh); without it the test fails.
    struct RedisServer {
        child: Child,
        url: String,
    }

    impl RedisServer {
        fn start() -> RedisServer {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server runs (scripts/install-test-deps.sh installs it)");
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "redis-server did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            RedisServer {
                child,
                url: format!("redis://127.0.0.1:{port}"),
            }
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[tokio::test]
    async fn the_script_counts_as_gcra() {
        let server = RedisServer::start();
        let redis = Arc::new(Redis::open(&server.url).unwrap());
        redis.connect().await;
        let quota = Quota::new(10, 3).unwrap();
        // Bursts, waits shorter and longer than an interval, a long pause.
        let times_ms = [
            0, 0, 0, 0, 0, 50, 99, 100, 100, 150, 400, 400, 400, 400, 5000,
        ];
        let start = 1_700_000_000_000_000u64;
        let mut tat = None;
        for at in times_ms {
            let now = Duration::from_micros(start) + Duration::from_millis(at);
            let (expected, next) = gcra(quota, tat, now);
            tat = Some(next);
            let counted = redis
                .count("terrace:test", quota, Some(micros(now)))
                .await
                .unwrap();
            assert_eq!(counted, expected, "at {at} ms");
        }
    }

    #[tokio::test]
    async fn without_redis_requests_are_counted_here() {
        // Nothing listens on the port: connecting never succeeds.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let redis = Arc::new(Redis::open(&format!("redis://127.0.0.1:{port}")).unwrap());
        let limiter = RedisRateLimiter::new(redis);
        let key = Key {
            class: crate::limits::Class::Token,
            id: "at-1".into(),
        };
        let quota = Quota::new(1, 2).unwrap();
        assert!(limiter.acquire(&key, quota).await.allowed);
        assert!(limiter.acquire(&key, quota).await.allowed);
        assert!(
            !limiter.acquire(&key, quota).await.allowed,
            "the local count limits"
        );
    }
}
