//! What the domain tells whoever watches it as it works (the server's metrics): jobs started
//! and ended, state bytes received and sent. The domain knows nothing of Prometheus: the
//! server plugs in an [`Observer`] with [`Services::with_observer`].

use std::sync::Arc;
use std::time::Duration;

use crate::Services;

/// Which way state bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Uploaded and stored.
    In,
    /// Sent to a client or a runner.
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

pub trait Observer: Send + Sync {
    /// A job (`plan`, `apply`) was claimed after `waited` in its queue.
    fn job_started(&self, kind: &str, waited: Duration);
    /// A job that ran ended (`finished`, `errored`, `canceled`, ...) after `took`.
    fn job_ended(&self, kind: &str, status: &str, took: Duration);
    /// State bytes went in or out.
    fn state_bytes(&self, direction: Direction, bytes: u64);
}

/// Nobody watching (the default, and commands that serve nothing).
pub struct Unobserved;

impl Observer for Unobserved {
    fn job_started(&self, _: &str, _: Duration) {}
    fn job_ended(&self, _: &str, _: &str, _: Duration) {}
    fn state_bytes(&self, _: Direction, _: u64) {}
}

impl Services {
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Services {
        self.observer = observer;
        self
    }
}

/// The time from `since` to now, none if `since` is in the future (clocks of replicas).
pub(crate) fn elapsed(since: chrono::DateTime<chrono::Utc>) -> Duration {
    (terrace_storage::clock::now() - since)
        .to_std()
        .unwrap_or_default()
}
