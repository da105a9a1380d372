//! Status writes shared by the controllers, and what keeps them quiet: an object nobody
//! touched is not rewritten.
//!
//! * [`apply_status`]: server-side apply of a status (field manager [`FIELD_MANAGER`]);
//!   callers compare the desired status with the object's and skip equal ones.
//! * [`coarse_bytes`] / [`coarse_ratio`]: numbers in status are rounded (two significant
//!   digits, hundredths) so that small moves are no change; exact values go to Prometheus.
//! * [`WriteInterval`]: numbers that did move are written at most once per status interval
//!   per object (state changes are written at once).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use backrunner_crds::API_VERSION;
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};

/// Field manager of the operator's status writes and owned Secrets.
pub const FIELD_MANAGER: &str = "backrunner-operator";

/// Server-side apply of `status` on the status subresource of `name` (fixed field manager,
/// forced: the operator is the only writer of status).
pub async fn apply_status<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: serde::Serialize,
{
    let body = serde_json::json!({
        "apiVersion": API_VERSION,
        "kind": K::kind(&()),
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(name, &params, &Patch::Apply(&body))
        .await?;
    Ok(())
}

/// `v` rounded down to two significant digits (`123_456` → `120_000`; below 100 exact):
/// coarse enough that disk activity does not count as change.
pub fn coarse_bytes(v: u64) -> u64 {
    if v < 100 {
        return v;
    }
    let digits = v.ilog10();
    let unit = 10u64.pow(digits - 1);
    (v / unit) * unit
}

/// A count (records, objects) rounded like [`coarse_bytes`].
pub fn coarse_count(v: u64) -> u64 {
    coarse_bytes(v)
}

/// `r` rounded to 0.01.
pub fn coarse_ratio(r: f64) -> f64 {
    (r * 100.0).round() / 100.0
}

/// When each object last had moving numbers written into its status, to write them at most
/// once per interval. In memory: after a restart the first move is written at once.
#[derive(Debug, Default)]
pub struct WriteInterval {
    last: Mutex<HashMap<String, Instant>>,
}

impl WriteInterval {
    /// No object written yet.
    pub fn new() -> WriteInterval {
        WriteInterval::default()
    }

    /// Whether numbers of `key` may be written now: never written, or `interval` passed.
    pub fn due(&self, key: &str, interval: Duration) -> bool {
        self.due_at(key, interval, Instant::now())
    }

    /// [`WriteInterval::due`] at `now`.
    pub fn due_at(&self, key: &str, interval: Duration, now: Instant) -> bool {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.get(key)
            .is_none_or(|t| now.saturating_duration_since(*t) >= interval)
    }

    /// Records that numbers of `key` were written now.
    pub fn written(&self, key: &str) {
        self.written_at(key, Instant::now());
    }

    /// [`WriteInterval::written`] at `at`.
    pub fn written_at(&self, key: &str, at: Instant) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.insert(key.to_owned(), at);
    }

    /// Forgets a deleted object.
    pub fn forget(&self, key: &str) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_numbers_keep_two_significant_digits() {
        assert_eq!(coarse_bytes(0), 0);
        assert_eq!(coarse_bytes(99), 99);
        assert_eq!(coarse_bytes(100), 100);
        assert_eq!(coarse_bytes(1_234), 1_200);
        assert_eq!(coarse_bytes(1_049), 1_000);
        assert_eq!(coarse_bytes(123_456_789), 120_000_000);
        assert_eq!(coarse_bytes(u64::MAX), 18_000_000_000_000_000_000);
        // Disk activity of a few MiB on a 50 GB file system is no change...
        assert_eq!(
            coarse_bytes(53_687_091_200),
            coarse_bytes(53_687_091_200 - 7 * 1024 * 1024)
        );
        // ... a tenth of it is.
        assert_ne!(coarse_bytes(53_687_091_200), coarse_bytes(48_000_000_000));
        assert_eq!(coarse_count(12_345), 12_000);
        assert_eq!(coarse_ratio(0.123_4), 0.12);
        assert_eq!(coarse_ratio(0.126), 0.13);
        assert_eq!(coarse_ratio(0.3049), 0.3);
        assert_eq!(coarse_ratio(0.305_1), 0.31);
    }

    #[test]
    fn write_interval_is_per_object() {
        let w = WriteInterval::new();
        let t0 = Instant::now();
        let i = Duration::from_secs(30);
        assert!(w.due_at("ns/a", i, t0), "never written");
        w.written_at("ns/a", t0);
        assert!(!w.due_at("ns/a", i, t0 + Duration::from_secs(29)));
        assert!(w.due_at("ns/a", i, t0 + Duration::from_secs(30)));
        assert!(w.due_at("ns/b", i, t0), "other objects are independent");
        w.forget("ns/a");
        assert!(w.due_at("ns/a", i, t0));
    }
}
