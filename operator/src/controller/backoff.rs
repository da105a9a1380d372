//! Per-object exponential backoff for the controllers' `error_policy`: each failure of an
//! object doubles its retry delay (from `base` up to `max`); a success resets it. One
//! implementation for every controller; each picks its first delay.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// First retry delay after a failure of a Bucket or an AclPolicy.
pub const BACKOFF_BASE: Duration = Duration::from_secs(2);

/// First retry delay after a failure of an EllipticsCluster (its reconcile polls storage).
pub const CLUSTER_BACKOFF_BASE: Duration = Duration::from_secs(5);

/// Longest retry delay after repeated failures, for every controller.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Failure counts per object key (`namespace/name`).
#[derive(Debug)]
pub struct FailureBackoff {
    counts: Mutex<HashMap<String, u32>>,
    base: Duration,
    max: Duration,
}

impl FailureBackoff {
    /// Delays start at `base` and stop growing at `max`.
    pub fn new(base: Duration, max: Duration) -> FailureBackoff {
        FailureBackoff {
            counts: Mutex::new(HashMap::new()),
            base,
            max,
        }
    }

    /// Records a failure of `key`; the delay before its next attempt.
    pub fn failed(&self, key: &str) -> Duration {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(key.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        let factor = 1u32 << (*n - 1).min(16);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// Records a success of `key` (or its deletion): the next failure starts at `base`.
    pub fn succeeded(&self, key: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.remove(key);
    }

    /// Failures of `key` since its last success.
    pub fn failures(&self, key: &str) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_per_object_caps_and_resets() {
        let b = FailureBackoff::new(Duration::from_secs(1), Duration::from_secs(10));
        let delays: Vec<u64> = (0..6).map(|_| b.failed("a/x").as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        assert_eq!(
            b.failed("a/y"),
            Duration::from_secs(1),
            "other objects are independent"
        );
        assert_eq!(b.failures("a/x"), 6);
        b.succeeded("a/x");
        assert_eq!(b.failures("a/x"), 0);
        assert_eq!(b.failed("a/x"), Duration::from_secs(1));
        for _ in 0..100 {
            b.failed("a/z");
        }
        assert_eq!(b.failed("a/z"), Duration::from_secs(10), "no overflow");
    }

    #[test]
    fn cluster_delays_are_the_former_cluster_backoff() {
        // The EllipticsCluster controller used to double from 5 s up to 5 min on its own.
        let b = FailureBackoff::new(CLUSTER_BACKOFF_BASE, BACKOFF_MAX);
        let delays: Vec<u64> = (0..8).map(|_| b.failed("ns/c").as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300]);
    }
}
