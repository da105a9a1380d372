//! Shared helpers for the benchmark binaries: latency percentiles, rates and process
//! memory readings.

// Test and benchmark support: a failed setup step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

/// Recorded operation latencies.
pub struct Latencies(Vec<Duration>);

impl Latencies {
    /// Sorts the samples.
    pub fn new(mut v: Vec<Duration>) -> Self {
        v.sort();
        Latencies(v)
    }

    /// The `q` quantile (0..=1), formatted in ms.
    pub fn p(&self, q: f64) -> String {
        if self.0.is_empty() {
            return "-".into();
        }
        let i = ((self.0.len() - 1) as f64 * q).round() as usize;
        format!("{:.2} ms", self.0[i].as_secs_f64() * 1000.0)
    }
}

/// Bytes per second in MiB/s or GiB/s.
pub fn fmt_rate(bps: f64) -> String {
    if bps >= (1u64 << 30) as f64 {
        format!("{:.2} GiB/s", bps / (1u64 << 30) as f64)
    } else {
        format!("{:.0} MiB/s", bps / (1u64 << 20) as f64)
    }
}

/// `VmRSS` and `VmHWM` of a process, from `/proc/<pid>/status`.
pub fn proc_mem(pid: u32) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .map(|l| l[name.len()..].trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    format!("RSS {} (peak {})", field("VmRSS:"), field("VmHWM:"))
}
