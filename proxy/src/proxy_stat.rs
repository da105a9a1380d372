//! `/proxy_stat` bookkeeping: per-handler request counts, error counts, request rate over
//! the last minute and latency (mean and max), plus the last 128 error replies — the
//! proxy's own view, in the spirit of Backrunner's `/proxy_stat`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Error replies remembered.
pub const RECENT_ERRORS: usize = 128;

/// Seconds of history behind the request rate.
const RATE_WINDOW_SECS: u64 = 60;

/// One remembered error reply.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorRecord {
    /// Unix time in seconds.
    pub time: u64,
    /// Handler label ([`Endpoint::label`](crate::endpoint::Endpoint::label)).
    pub handler: &'static str,
    /// Method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Reply status.
    pub status: u16,
    /// Trace id, hex.
    pub trace_id: String,
}

#[derive(Debug, Default)]
struct HandlerCounters {
    requests: u64,
    errors: u64,
    total_time: Duration,
    max_time: Duration,
    /// (second since start, requests in it), oldest first.
    per_second: VecDeque<(u64, u64)>,
}

#[derive(Debug, Default)]
struct Inner {
    handlers: BTreeMap<&'static str, HandlerCounters>,
    errors: VecDeque<ErrorRecord>,
}

/// The counters; cheap to update under a short lock.
#[derive(Debug)]
pub struct ProxyStats {
    started: Instant,
    inner: Mutex<Inner>,
}

impl Default for ProxyStats {
    fn default() -> Self {
        ProxyStats {
            started: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }
}

/// One finished request.
#[derive(Debug, Clone)]
pub struct Finished<'a> {
    /// Handler label ([`Endpoint::label`](crate::endpoint::Endpoint::label)).
    pub handler: &'static str,
    /// Method.
    pub method: &'a str,
    /// Path.
    pub path: &'a str,
    /// Status.
    pub status: u16,
    /// Duration.
    pub elapsed: Duration,
    /// Trace id.
    pub trace_id: u64,
}

impl ProxyStats {
    /// Counts a finished request (errors are statuses ≥ 400).
    pub fn record(&self, done: &Finished<'_>) {
        let second = self.started.elapsed().as_secs();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let h = inner.handlers.entry(done.handler).or_default();
        h.requests += 1;
        h.total_time += done.elapsed;
        h.max_time = h.max_time.max(done.elapsed);
        match h.per_second.back_mut() {
            Some((s, n)) if *s == second => *n += 1,
            _ => h.per_second.push_back((second, 1)),
        }
        while h
            .per_second
            .front()
            .is_some_and(|(s, _)| second.saturating_sub(*s) >= RATE_WINDOW_SECS)
        {
            h.per_second.pop_front();
        }
        if done.status >= 400 {
            h.errors += 1;
            if inner.errors.len() >= RECENT_ERRORS {
                inner.errors.pop_front();
            }
            inner.errors.push_back(ErrorRecord {
                time: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                handler: done.handler,
                method: done.method.to_owned(),
                path: done.path.to_owned(),
                status: done.status,
                trace_id: format!("{:016x}", done.trace_id),
            });
        }
    }

    /// The `/proxy_stat` document.
    pub fn report(&self) -> serde_json::Value {
        let now = self.started.elapsed().as_secs();
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let window = now.clamp(1, RATE_WINDOW_SECS) as f64;
        let handlers: BTreeMap<&str, serde_json::Value> = inner
            .handlers
            .iter()
            .map(|(name, h)| {
                let recent: u64 = h
                    .per_second
                    .iter()
                    .filter(|(s, _)| now.saturating_sub(*s) < RATE_WINDOW_SECS)
                    .map(|(_, n)| n)
                    .sum();
                let mean_us = h.total_time.as_micros() as f64 / h.requests.max(1) as f64;
                let doc = serde_json::json!({
                    "requests": h.requests,
                    "errors": h.errors,
                    "rate_per_sec_1m": recent as f64 / window,
                    "latency_mean_us": mean_us.round(),
                    "latency_max_us": h.max_time.as_micros() as u64,
                });
                (*name, doc)
            })
            .collect();
        serde_json::json!({
            "uptime_secs": now,
            "handlers": handlers,
            "recent_errors": inner.errors.iter().rev().collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Endpoint;

    #[test]
    fn counts_rates_and_errors() {
        let stats = ProxyStats::default();
        for status in [200, 200, 404] {
            stats.record(&Finished {
                handler: Endpoint::of_path("/get/b/k").label(),
                method: "GET",
                path: "/get/b/k",
                status,
                elapsed: Duration::from_millis(2),
                trace_id: 7,
            });
        }
        let doc = stats.report();
        assert_eq!(doc["handlers"]["get"]["requests"], 3);
        assert_eq!(doc["handlers"]["get"]["errors"], 1);
        assert_eq!(doc["recent_errors"][0]["status"], 404);
        assert_eq!(doc["recent_errors"][0]["trace_id"], "0000000000000007");
        for i in 0..(RECENT_ERRORS + 5) {
            stats.record(&Finished {
                handler: "static",
                method: "GET",
                path: &format!("/x{i}"),
                status: 500,
                elapsed: Duration::ZERO,
                trace_id: 0,
            });
        }
        let doc = stats.report();
        let errors = doc["recent_errors"].as_array().map_or(0, Vec::len);
        assert_eq!(errors, RECENT_ERRORS);
    }
}
