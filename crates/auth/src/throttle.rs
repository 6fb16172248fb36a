//! Throttling rules and the in-process state behind them, free of HTTP:
//! - [`gcra`]: the rate limit rule (the generic cell rate algorithm, a token bucket kept as
//!   one timestamp per key) as a pure function;
//! - [`Backoff`]: exponential backoff after failed attempts (sign-in) as a pure function;
//! - [`BoundedMap`]: per-key state in a map of bounded size that forgets idle keys, so a
//!   flood of distinct keys cannot grow memory without bound;
//! - [`LocalLimiter`]: [`gcra`] over a [`BoundedMap`], the in-process rate limiter.
//!
//! Time is a [`Duration`] since an arbitrary epoch (a [`Clock`]), so the rules are tested
//! without sleeping.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys a [`BoundedMap`] holds by default (per map): some megabytes at most.
pub const DEFAULT_MAX_KEYS: usize = 100_000;
/// How often a map drops its idle keys even when it is not full.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How often a full map may look for idle keys (each look is a pass over the map).
const FULL_SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Monotonic time as a [`Duration`] since the clock was made.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    pub fn new() -> Clock {
        Clock(Instant::now())
    }

    pub fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// A rate limit: `rate` requests per second on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    rate: u32,
    burst: u32,
}

impl Quota {
    /// `None` when `rate` is 0 (no limit). A burst below 1 is 1.
    pub fn new(rate: u32, burst: u32) -> Option<Quota> {
        (rate > 0).then(|| Quota {
            rate,
            burst: burst.max(1),
        })
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The time one request costs.
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(1_000_000_000 / u64::from(self.rate))
    }

    /// The time a full bucket holds.
    pub fn capacity(&self) -> Duration {
        self.interval() * self.burst
    }
}

/// What [`gcra`] decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// Requests that would still be allowed at once after this one.
    pub remaining: u32,
    /// Until the whole burst is available again.
    pub reset: Duration,
    /// Until the next request will be allowed (zero when this one was).
    pub retry_after: Duration,
}

/// The rate limit rule. `tat` is the key's theoretical arrival time (when its bucket will
/// be full again; `None` for a key never seen, or forgotten). Returns the verdict and the
/// new `tat` to keep. A denied request costs nothing.
pub fn gcra(quota: Quota, tat: Option<Duration>, now: Duration) -> (Verdict, Duration) {
    let interval = quota.interval();
    let capacity = quota.capacity();
    let tat = tat.map_or(now, |tat| tat.max(now));
    let next = tat + interval;
    if next - now > capacity {
        let verdict = Verdict {
            allowed: false,
            remaining: 0,
            reset: tat - now,
            retry_after: next - capacity - now,
        };
        return (verdict, tat);
    }
    let left = capacity - (next - now);
    let verdict = Verdict {
        allowed: true,
        remaining: (left.as_nanos() / interval.as_nanos()) as u32,
        reset: next - now,
        retry_after: Duration::ZERO,
    };
    (verdict, next)
}

/// Exponential backoff after failures: `free` failures cost nothing, then each further
/// attempt must wait `base` after the previous one, doubling with every failure, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub free: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// How long after the last failure the next attempt must wait, once `failures` failed.
    pub fn wait(&self, failures: u32) -> Duration {
        if failures < self.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free).min(31);
        self.base.saturating_mul(1 << doublings).min(self.max)
    }

    /// After this long without failures a key's count is forgotten.
    pub fn forget_after(&self) -> Duration {
        (self.max * 2).max(Duration::from_secs(3600))
    }

    /// How long an attempt must still wait, given the key's failures and when the last one
    /// happened (zero: it may go ahead).
    pub fn retry_after(&self, failures: &Failures, now: Duration) -> Duration {
        if self.forgotten(failures, now) {
            return Duration::ZERO;
        }
        (failures.last + self.wait(failures.count)).saturating_sub(now)
    }

    /// Whether a key's state is as good as none (and may be dropped).
    pub fn idle(&self, failures: &Failures, now: Duration) -> bool {
        failures.count == 0 || self.forgotten(failures, now)
    }

    fn forgotten(&self, failures: &Failures, now: Duration) -> bool {
        now.saturating_sub(failures.last) >= self.forget_after()
    }

    /// Counts one failure (or one attempt not yet known to have succeeded).
    pub fn fail(&self, failures: &mut Failures, now: Duration) {
        if self.forgotten(failures, now) {
            failures.count = 0;
        }
        failures.count = failures.count.saturating_add(1);
        failures.last = now;
    }
}

/// Failed attempts of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    /// When the last one happened.
    pub last: Duration,
}

/// Per-key state, at most `max_keys` keys. Idle keys (whose state is as good as new) are
/// dropped every minute, and whenever the map is full (at most once a second); a new key
/// that finds the map full of active keys shares one overflow entry with every other such
/// key, so memory stays bounded and the overflow is still limited.
#[derive(Debug)]
pub struct BoundedMap<V> {
    map: HashMap<String, V>,
    overflow: Option<V>,
    max_keys: usize,
    last_sweep: Duration,
    last_full_sweep: Option<Duration>,
}

impl<V> BoundedMap<V> {
    pub fn new(max_keys: usize) -> BoundedMap<V> {
        BoundedMap {
            map: HashMap::new(),
            overflow: None,
            max_keys: max_keys.max(1),
            last_sweep: Duration::ZERO,
            last_full_sweep: None,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The state of `key` (made with `new` if absent). `idle` says whether a state is as
    /// good as new at `now` and may be forgotten.
    pub fn entry(
        &mut self,
        key: &str,
        now: Duration,
        idle: impl Fn(&V, Duration) -> bool,
        new: impl FnOnce() -> V,
    ) -> &mut V {
        if now.saturating_sub(self.last_sweep) >= SWEEP_EVERY {
            self.sweep(now, &idle);
        }
        if !self.map.contains_key(key) && self.map.len() >= self.max_keys {
            let may_sweep = self
                .last_full_sweep
                .is_none_or(|at| now.saturating_sub(at) >= FULL_SWEEP_EVERY);
            if may_sweep {
                self.last_full_sweep = Some(now);
                self.sweep(now, &idle);
            }
            if self.map.len() >= self.max_keys {
                return self.overflow.get_or_insert_with(new);
            }
        }
        self.map.entry(key.to_string()).or_insert_with(new)
    }

    /// The state of `key` if it has one (the overflow's for a key that went there).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        if self.map.contains_key(key) {
            return self.map.get_mut(key);
        }
        self.overflow.as_mut()
    }

    pub fn remove(&mut self, key: &str) {
        self.map.remove(key);
    }

    fn sweep(&mut self, now: Duration, idle: &impl Fn(&V, Duration) -> bool) {
        self.last_sweep = now;
        self.map.retain(|_, state| !idle(state, now));
        if self.overflow.as_ref().is_some_and(|state| idle(state, now)) {
            self.overflow = None;
        }
    }
}

/// The in-process rate limiter: [`gcra`] per key over a [`BoundedMap`]. A key is idle once
/// its bucket is full again, so forgetting it changes nothing.
#[derive(Debug)]
pub struct LocalLimiter {
    clock: Clock,
    tats: Mutex<BoundedMap<Duration>>,
}

impl LocalLimiter {
    pub fn new(max_keys: usize) -> LocalLimiter {
        LocalLimiter {
            clock: Clock::new(),
            tats: Mutex::new(BoundedMap::new(max_keys)),
        }
    }

    /// Counts one request of `key` against `quota`.
    pub fn check(&self, key: &str, quota: Quota) -> Verdict {
        self.check_at(key, quota, self.clock.now())
    }

    fn check_at(&self, key: &str, quota: Quota, now: Duration) -> Verdict {
        let mut tats = self.tats.lock().unwrap_or_else(|e| e.into_inner());
        let tat = tats.entry(key, now, |tat, now| *tat <= now, || Duration::ZERO);
        let (verdict, next) = gcra(quota, Some(*tat), now);
        *tat = next;
        verdict
    }

    pub fn keys(&self) -> usize {
        self.tats.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn quota(rate: u32, burst: u32) -> Quota {
        Quota::new(rate, burst).unwrap()
    }

    /// Runs `count` requests at `now` through the rule, keeping the state in `tat`.
    fn burst(q: Quota, tat: &mut Option<Duration>, now: Duration, count: u32) -> Vec<Verdict> {
        (0..count)
            .map(|_| {
                let (verdict, next) = gcra(q, *tat, now);
                *tat = Some(next);
                verdict
            })
            .collect()
    }

    #[test]
    fn a_burst_is_allowed_then_refused_until_a_request_is_paid_back() {
        let q = quota(10, 3); // one request per 100 ms, three at once
        let mut tat = None;
        let t0 = Duration::from_secs(100);
        let verdicts = burst(q, &mut tat, t0, 4);
        assert!(verdicts[..3].iter().all(|v| v.allowed));
        assert_eq!(
            verdicts.iter().map(|v| v.remaining).collect::<Vec<_>>(),
            [2, 1, 0, 0]
        );
        let refused = verdicts[3];
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 100 * MS);
        assert_eq!(
            refused.reset,
            300 * MS,
            "the whole burst is back after 300 ms"
        );
        // A refused request costs nothing: the next one is allowed as soon as it was told.
        assert!(!gcra(q, tat, t0 + 99 * MS).0.allowed);
        let (verdict, _) = gcra(q, tat, t0 + 100 * MS);
        assert!(verdict.allowed);
        assert_eq!(verdict.remaining, 0);
        // After the reset the whole burst is there again.
        let verdicts = burst(q, &mut tat, t0 + 300 * MS, 3);
        assert!(verdicts.iter().all(|v| v.allowed), "{verdicts:?}");
    }

    #[test]
    fn a_steady_client_at_the_rate_is_never_refused() {
        let q = quota(30, 1);
        let mut tat = None;
        let step = Duration::from_nanos(1_000_000_000 / 30);
        for i in 0..1000u32 {
            let (verdict, next) = gcra(q, tat, Duration::from_secs(5) + step * i);
            assert!(verdict.allowed, "request {i}");
            tat = Some(next);
        }
        // One request faster than the rate, with no burst to spare, is refused.
        let (verdict, _) = gcra(q, tat, Duration::from_secs(5) + step * 999 + step / 2);
        assert!(!verdict.allowed);
    }

    #[test]
    fn no_quota_without_a_rate_and_at_least_a_burst_of_one() {
        assert_eq!(Quota::new(0, 10), None);
        assert_eq!(quota(5, 0).burst(), 1);
        let (verdict, _) = gcra(quota(5, 0), None, Duration::ZERO);
        assert!(verdict.allowed);
    }

    #[test]
    fn backoff_is_free_then_doubles_up_to_the_cap() {
        let rule = Backoff {
            free: 5,
            base: Duration::from_secs(30),
            max: Duration::from_secs(300),
        };
        let waits: Vec<u64> = (0..10).map(|n| rule.wait(n).as_secs()).collect();
        assert_eq!(waits, [0, 0, 0, 0, 0, 30, 60, 120, 240, 300]);
        assert_eq!(rule.wait(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn failures_wait_from_the_last_one_and_are_forgotten_after_a_while() {
        let rule = Backoff {
            free: 2,
            base: Duration::from_secs(1),
            max: Duration::from_secs(8),
        };
        let mut failures = Failures::default();
        let t0 = Duration::from_secs(10);
        rule.fail(&mut failures, t0);
        assert_eq!(rule.retry_after(&failures, t0), Duration::ZERO);
        rule.fail(&mut failures, t0);
        assert_eq!(rule.retry_after(&failures, t0), Duration::from_secs(1));
        assert_eq!(
            rule.retry_after(&failures, t0 + 400 * MS),
            600 * MS,
            "the wait counts from the last failure"
        );
        assert_eq!(
            rule.retry_after(&failures, t0 + Duration::from_secs(1)),
            Duration::ZERO
        );
        rule.fail(&mut failures, t0 + Duration::from_secs(1));
        assert_eq!(
            rule.retry_after(&failures, t0 + Duration::from_secs(1)),
            Duration::from_secs(2)
        );
        // An hour without failures forgets them.
        let later = t0 + Duration::from_secs(1) + rule.forget_after();
        assert_eq!(rule.retry_after(&failures, later), Duration::ZERO);
        rule.fail(&mut failures, later);
        assert_eq!(failures.count, 1);
    }

    #[test]
    fn a_flood_of_keys_stays_bounded_and_shares_the_overflow() {
        let limiter = LocalLimiter::new(100);
        let q = quota(1, 1);
        let now = Duration::from_secs(1000);
        for i in 0..1000 {
            limiter.check_at(&format!("key-{i}"), q, now);
        }
        assert_eq!(limiter.keys(), 100);
        // The 101st and later keys share one bucket: one request, then refused.
        assert!(!limiter.check_at("another", q, now).allowed);
        // Keys of the map are their own.
        assert!(!limiter.check_at("key-5", q, now).allowed);
        // Once the buckets are full again the keys are idle and give way to new ones.
        let later = now + Duration::from_secs(2);
        assert!(limiter.check_at("newcomer", q, later).allowed);
        assert_eq!(limiter.keys(), 1, "idle keys were dropped");
    }

    #[test]
    fn idle_keys_are_dropped_every_minute_even_below_the_bound() {
        let mut map: BoundedMap<u32> = BoundedMap::new(10);
        let idle = |v: &u32, _: Duration| *v == 0;
        *map.entry("busy", Duration::from_secs(1), idle, || 0) = 1;
        map.entry("idle", Duration::from_secs(1), idle, || 0);
        assert_eq!(map.len(), 2);
        map.entry("busy", Duration::from_secs(120), idle, || 0);
        assert_eq!(map.len(), 1);
        assert!(map.get_mut("idle").is_none());
        map.remove("busy");
        assert!(map.is_empty());
    }
}
