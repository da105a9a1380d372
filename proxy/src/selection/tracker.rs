//! Live write statistics of one backend, decaying with time: the replacement for Go
//! Backrunner's per-backend PID "pain".
//!
//! Each finished upload to a group is one observation `(bytes, elapsed, ok)`. The tracker
//! keeps exponentially decayed sums (half-life [`WriteStatsConfig::half_life`], measured on
//! the injected clock, so the reaction time does not depend on the upload rate):
//!
//! * time per byte = decayed Σ elapsed / decayed Σ bytes of successful writes, i.e. weighted
//!   by bytes (large uploads dominate; the fixed cost of small ones does not mislead it).
//!   Once the decayed byte sum falls below [`WriteStatsConfig::min_evidence_bytes`] the
//!   estimate is `None` ("unknown"), so a backend that stopped getting writes because it was
//!   slow is tried again instead of being shunned forever;
//! * error rate = decayed failures / (decayed attempts + 1): one failure on an idle backend
//!   counts 0.5, a burst approaches 1, and it drains back to 0 as time passes even without new
//!   writes.

use std::time::{Duration, Instant};

/// Decayed attempts from which the error rate counts as evidence
/// ([`DecayingWriteStats::error_rate_evidence`]): about four half-lives after the last write.
pub const MIN_ERROR_EVIDENCE: f64 = 0.05;

/// Tuning of [`DecayingWriteStats`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WriteStatsConfig {
    /// Time after which an observation counts half.
    pub half_life: Duration,
    /// Decayed bytes below which the time per byte is reported as unknown.
    pub min_evidence_bytes: f64,
}

impl Default for WriteStatsConfig {
    fn default() -> Self {
        WriteStatsConfig {
            half_life: Duration::from_secs(1),
            min_evidence_bytes: 64.0 * 1024.0,
        }
    }
}

/// Decayed write timings and error rate of one backend.
#[derive(Clone, Debug, PartialEq)]
pub struct DecayingWriteStats {
    config: WriteStatsConfig,
    bytes: f64,
    seconds: f64,
    failures: f64,
    attempts: f64,
    updated: Option<Instant>,
    writes_total: u64,
    failures_total: u64,
}

impl DecayingWriteStats {
    /// No observations yet.
    pub fn new(config: WriteStatsConfig) -> Self {
        DecayingWriteStats {
            config,
            bytes: 0.0,
            seconds: 0.0,
            failures: 0.0,
            attempts: 0.0,
            updated: None,
            writes_total: 0,
            failures_total: 0,
        }
    }

    /// Records a write of `bytes` that took `elapsed` and succeeded or not, finished at `now`.
    /// Observations older than the last one count as simultaneous with it.
    pub fn observe(&mut self, now: Instant, bytes: u64, elapsed: Duration, ok: bool) {
        let factor = self.decay_factor(now);
        self.bytes *= factor;
        self.seconds *= factor;
        self.failures *= factor;
        self.attempts *= factor;
        self.updated = Some(self.updated.map_or(now, |last| last.max(now)));
        self.attempts += 1.0;
        self.writes_total += 1;
        if ok {
            self.bytes += bytes as f64;
            self.seconds += elapsed.as_secs_f64();
        } else {
            self.failures += 1.0;
            self.failures_total += 1;
        }
    }

    /// Seconds per byte of recent successful writes, `None` without enough recent evidence.
    pub fn time_per_byte(&self, now: Instant) -> Option<f64> {
        let evidence = self.bytes * self.decay_factor(now);
        (evidence >= self.config.min_evidence_bytes && self.bytes > 0.0)
            .then(|| self.seconds / self.bytes)
    }

    /// Recent failure rate, 0..1.
    pub fn recent_errors(&self, now: Instant) -> f64 {
        let factor = self.decay_factor(now);
        let failures = self.failures * factor;
        failures / (self.attempts * factor + 1.0)
    }

    /// The recent error rate when there is evidence for it: at least
    /// [`MIN_ERROR_EVIDENCE`] decayed attempts; `None` for an idle backend.
    pub fn error_rate_evidence(&self, now: Instant) -> Option<f64> {
        let attempts = self.attempts * self.decay_factor(now);
        (attempts >= MIN_ERROR_EVIDENCE).then(|| self.recent_errors(now))
    }

    /// Writes observed since the tracker was created, failed or not.
    pub fn writes_total(&self) -> u64 {
        self.writes_total
    }

    /// Failed writes observed since the tracker was created.
    pub fn failures_total(&self) -> u64 {
        self.failures_total
    }

    fn decay_factor(&self, now: Instant) -> f64 {
        let Some(last) = self.updated else {
            return 1.0;
        };
        let elapsed = now.saturating_duration_since(last).as_secs_f64();
        let half_life = self.config.half_life.as_secs_f64().max(1e-9);
        0.5f64.powf(elapsed / half_life)
    }
}

impl Default for DecayingWriteStats {
    fn default() -> Self {
        DecayingWriteStats::new(WriteStatsConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn time_per_byte_is_byte_weighted() {
        let t0 = Instant::now();
        let mut stats = DecayingWriteStats::default();
        assert_eq!(stats.time_per_byte(t0), None);
        stats.observe(t0, MIB, secs(MIB as f64 * 10e-9), true);
        stats.observe(t0, 4096, secs(0.001), true); // small write with a large fixed cost
        let tpb = stats.time_per_byte(t0).unwrap();
        assert!(tpb > 10e-9 && tpb < 12e-9, "{tpb}");
    }

    #[test]
    fn adapts_within_a_few_half_lives_at_any_rate() {
        for per_second in [5u32, 500] {
            let t0 = Instant::now();
            let mut stats = DecayingWriteStats::default();
            let step = secs(1.0 / f64::from(per_second));
            let mut now = t0;
            for _ in 0..per_second * 10 {
                now += step;
                stats.observe(now, MIB, secs(MIB as f64 * 10e-9), true);
            }
            for _ in 0..per_second * 3 {
                now += step;
                stats.observe(now, MIB, secs(MIB as f64 * 1e-6), true);
            }
            let tpb = stats.time_per_byte(now).unwrap();
            assert!(tpb > 800e-9, "{per_second}/s: {tpb}");
        }
    }

    #[test]
    fn evidence_expires_without_writes() {
        let t0 = Instant::now();
        let mut stats = DecayingWriteStats::default();
        stats.observe(t0, MIB, secs(0.001), true);
        assert!(stats.time_per_byte(t0 + secs(3.0)).is_some());
        assert_eq!(
            stats.time_per_byte(t0 + secs(5.0)),
            None,
            "1 MiB / 2^5 < 64 KiB"
        );
    }

    #[test]
    fn error_rate_rises_and_drains() {
        let t0 = Instant::now();
        let mut stats = DecayingWriteStats::default();
        assert_eq!(stats.recent_errors(t0), 0.0);
        stats.observe(t0, 0, Duration::ZERO, false);
        assert!((stats.recent_errors(t0) - 0.5).abs() < 1e-9);
        for _ in 0..9 {
            stats.observe(t0, 0, Duration::ZERO, false);
        }
        assert!(stats.recent_errors(t0) > 0.9);
        assert!(stats.recent_errors(t0 + secs(8.0)) < 0.05);
        // successes dilute failures
        let mut busy = DecayingWriteStats::default();
        for i in 0..100 {
            busy.observe(t0, MIB, secs(0.001), i != 0);
        }
        assert!(busy.recent_errors(t0) < 0.011);
    }

    #[test]
    fn error_evidence_and_totals() {
        let t0 = Instant::now();
        let mut stats = DecayingWriteStats::default();
        assert_eq!(stats.error_rate_evidence(t0), None);
        stats.observe(t0, MIB, secs(0.01), true);
        stats.observe(t0, 0, Duration::ZERO, false);
        let rate = stats.error_rate_evidence(t0).unwrap();
        assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{rate}");
        assert!(
            stats.error_rate_evidence(t0 + secs(4.0)).is_some(),
            "2 / 16 ≥ 0.05"
        );
        assert_eq!(
            stats.error_rate_evidence(t0 + secs(6.0)),
            None,
            "2 / 64 < 0.05"
        );
        assert_eq!((stats.writes_total(), stats.failures_total()), (2, 1));
    }

    #[test]
    fn out_of_order_observations_do_not_panic() {
        let t0 = Instant::now();
        let mut stats = DecayingWriteStats::default();
        stats.observe(t0 + secs(1.0), MIB, secs(0.01), true);
        stats.observe(t0, MIB, secs(0.01), true);
        assert!(stats.time_per_byte(t0).is_some());
    }
}
