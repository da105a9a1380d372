//! Per-command counters (successes, failures, bytes, microseconds) that MONITOR_STAT
//! reports in its `commands` section, split the way Elliptics splits them: requests from
//! clients ("outside", trans ≠ 0) and internal ones (trans 0).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Number of command slots tracked (command numbers 0..SLOTS).
const SLOTS: usize = 29;

#[derive(Default)]
struct Slot {
    successes: AtomicU64,
    failures: AtomicU64,
    size: AtomicU64,
    time_us: AtomicU64,
}

/// A snapshot of one command's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommandCount {
    /// Requests answered with status 0.
    pub successes: u64,
    /// Requests answered with an error.
    pub failures: u64,
    /// Payload bytes moved (written or read).
    pub size: u64,
    /// Total handling time in microseconds.
    pub time_us: u64,
}

/// Lock-free command counters.
pub struct CommandCounters {
    outside: [Slot; SLOTS],
    internal: [Slot; SLOTS],
}

impl Default for CommandCounters {
    fn default() -> Self {
        Self {
            outside: std::array::from_fn(|_| Slot::default()),
            internal: std::array::from_fn(|_| Slot::default()),
        }
    }
}

impl CommandCounters {
    /// Records one handled request.
    pub fn record(&self, cmd: i32, outside: bool, ok: bool, size: u64, took: Duration) {
        let Ok(i) = usize::try_from(cmd) else { return };
        let slots = if outside {
            &self.outside
        } else {
            &self.internal
        };
        let Some(s) = slots.get(i) else { return };
        if ok {
            s.successes.fetch_add(1, Ordering::Relaxed);
        } else {
            s.failures.fetch_add(1, Ordering::Relaxed);
        }
        s.size.fetch_add(size, Ordering::Relaxed);
        s.time_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Counters of every command seen, by command number: (outside, internal).
    pub fn snapshot(&self) -> BTreeMap<i32, (CommandCount, CommandCount)> {
        let read = |s: &Slot| CommandCount {
            successes: s.successes.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            size: s.size.load(Ordering::Relaxed),
            time_us: s.time_us.load(Ordering::Relaxed),
        };
        let mut out = BTreeMap::new();
        for i in 0..SLOTS {
            let (o, n) = (read(&self.outside[i]), read(&self.internal[i]));
            if o != CommandCount::default() || n != CommandCount::default() {
                out.insert(i as i32, (o, n));
            }
        }
        out
    }
}
