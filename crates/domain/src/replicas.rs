//! What one replica tells the others at once. Replicas of `terrace serve` share a database,
//! so each would find out what the others did by looking; what cannot wait for that (a
//! queued job, which a listener long-polling another replica should claim at once) goes to
//! every replica through the [`Fanout`] the server plugs in with [`Services::with_fanout`]
//! (Redis, or PostgreSQL's LISTEN/NOTIFY). The embedded shape is one process: nothing to
//! tell.

use std::sync::Arc;

use crate::Services;

/// What replicas tell each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A job was queued: waiting claims should look.
    JobQueued,
}

impl Signal {
    pub const ALL: [Signal; 1] = [Signal::JobQueued];

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::JobQueued => "job-queued",
        }
    }

    pub fn parse(text: &str) -> Option<Signal> {
        match text {
            "job-queued" => Some(Signal::JobQueued),
            _ => None,
        }
    }
}

/// Carries signals to the other replicas. Delivery is best effort: a replica that misses
/// one still finds the job when its claim looks again (every second).
pub trait Fanout: Send + Sync {
    fn publish(&self, signal: Signal);
}

/// No other replicas (the default, and the embedded shape).
pub struct ThisProcessOnly;

impl Fanout for ThisProcessOnly {
    fn publish(&self, _: Signal) {}
}

impl Services {
    pub fn with_fanout(mut self, fanout: Arc<dyn Fanout>) -> Services {
        self.fanout = fanout;
        self
    }

    /// Acts on a signal, from another replica or from this one.
    pub fn receive(&self, signal: Signal) {
        match signal {
            Signal::JobQueued => self.jobs_available.notify_waiters(),
        }
    }

    /// Acts on `signal` here and tells the other replicas.
    pub(crate) fn signal(&self, signal: Signal) {
        self.receive(signal);
        self.fanout.publish(signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_read_back_as_themselves_and_nothing_else_reads_as_one() {
        for signal in Signal::ALL {
            assert_eq!(Signal::parse(signal.as_str()), Some(signal));
        }
        assert_eq!(Signal::parse("job_queued"), None);
        assert_eq!(Signal::parse(""), None);
    }
}
