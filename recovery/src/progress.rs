//! Live counters of a run, shared with whoever reports progress (the CLI prints them every
//! few seconds; the operator will export them). Updated with relaxed atomics: a snapshot
//! is a consistent-enough view, not a transaction.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters updated while a run scans and copies.
#[derive(Debug, Default)]
pub struct Progress {
    listed: AtomicU64,
    decided: AtomicU64,
    copied_keys: AtomicU64,
    copied_bytes: AtomicU64,
    failed: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Records listed by the scan so far (all groups).
    pub listed: u64,
    /// Decisions (divergent ids) handled by the copy phase so far.
    pub decided: u64,
    /// Record copies written.
    pub copied_keys: u64,
    /// Bytes they wrote.
    pub copied_bytes: u64,
    /// Copies that failed.
    pub failed: u64,
}

impl Progress {
    /// Zeroed counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counters now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProgressSnapshot {
            listed: get(&self.listed),
            decided: get(&self.decided),
            copied_keys: get(&self.copied_keys),
            copied_bytes: get(&self.copied_bytes),
            failed: get(&self.failed),
        }
    }

    pub(crate) fn listed(&self, n: u64) {
        self.listed.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn decided(&self) {
        self.decided.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn copied(&self, keys: u64, bytes: u64) {
        self.copied_keys.fetch_add(keys, Ordering::Relaxed);
        self.copied_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self, n: u64) {
        self.failed.fetch_add(n, Ordering::Relaxed);
    }
}
