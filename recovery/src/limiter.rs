//! Pacing of the copies: two token buckets (bytes/s and keys/s caps) and a back-off that
//! follows the nodes' latency ("tranquility", after Garage's resync).
//!
//! # Token buckets
//! A bucket fills at `rate` tokens per second, holds at most [`BURST`] worth of them, and
//! starts empty. Taking `n` tokens never refuses: the level may go negative (a debt) and
//! the taker sleeps until it is back to zero. So the long-run rate is exactly `rate`
//! whatever the size of each take — one 4 MiB record costs as much time as 4096 records of
//! 1 KiB — and the short-run excess is at most one burst (50 ms worth), which keeps a cap
//! measured over a few seconds within a few percent. Takes from concurrent copies queue
//! up behind each other's debt. Bytes are taken per chunk as the record streams
//! (at most the client's read chunk, 1 MiB) times the number of groups it is written to,
//! so a large record is paced smoothly, not as one burst.
//!
//! # Tranquility
//! After each record, the copy sleeps `tranquility × t`, `t` being how long its reads and
//! writes took (limiter sleeps excluded). When the nodes slow down — foreground load, a
//! busy disk — `t` grows and so does the pause: recovery yields in proportion to the
//! latency it measures on its own requests, with no separate probe. With tranquility `k`
//! one copy lane keeps the nodes busy at most `1 / (1 + k)` of the time. 0 turns it off.
//! The pause and the caps do not add up: tokens keep filling while a copy rests, so the
//! run goes at the slower of the two.
//!
//! Rests are owed, not taken at once: a small record keeps the nodes busy for a fraction
//! of a millisecond, and the timer would turn each such rest into a millisecond or more
//! (measured: 13 times slower than asked with 4 KiB records). The pacer adds each
//! record's rest to a debt shared by all copies and a copy sleeps the debt when it
//! reaches [`MIN_REST`]; a sleep longer than asked is credited back. So over many records
//! the rest is `tranquility` times the busy time, as asked.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// How much a bucket may hold: this long at its rate.
pub const BURST: Duration = Duration::from_millis(50);

/// Default tranquility: a copy rests as long as it worked.
pub const DEFAULT_TRANQUILITY: f64 = 1.0;

/// Owed rest is slept once it reaches this much.
pub const MIN_REST: Duration = Duration::from_millis(10);

/// The caps and the back-off of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Bytes written per second, all target groups together; `None` = no cap.
    pub bytes_per_sec: Option<u64>,
    /// Record copies per second (one per id per target group); `None` = no cap.
    pub keys_per_sec: Option<u64>,
    /// Rest after each record, as a multiple of the time its copy took (≥ 0).
    pub tranquility: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            bytes_per_sec: None,
            keys_per_sec: None,
            tranquility: DEFAULT_TRANQUILITY,
        }
    }
}

/// A token bucket that lets takers run into debt (see the module docs).
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// A bucket filling at `rate` tokens per second (at least 1), empty now.
    pub fn new(rate: u64) -> Self {
        let rate = rate.max(1) as f64;
        Self {
            rate,
            burst: rate * BURST.as_secs_f64(),
            state: Mutex::new(Bucket {
                tokens: 0.0,
                last: Instant::now(),
            }),
        }
    }

    /// Takes `n` tokens, sleeping as long as the bucket is in debt; returns the time slept.
    pub async fn take(&self, n: u64) -> Duration {
        let wait = self.reserve(n);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }

    /// Takes `n` tokens now and says how long the taker must wait.
    fn reserve(&self, n: u64) -> Duration {
        let mut b = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let filled = now.saturating_duration_since(b.last).as_secs_f64() * self.rate;
        b.tokens = (b.tokens + filled).min(self.burst);
        b.last = now;
        b.tokens -= n as f64;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / self.rate)
        }
    }
}

/// The caps and the back-off, shared by every copy of a run.
#[derive(Debug)]
pub struct Pacer {
    bytes: Option<RateLimiter>,
    keys: Option<RateLimiter>,
    tranquility: f64,
    /// Rest owed, in seconds (negative: rested more than owed).
    owed: Mutex<f64>,
}

impl Pacer {
    /// A pacer for `limits` (a negative or NaN tranquility counts as 0).
    pub fn new(limits: &Limits) -> Self {
        Self {
            bytes: limits.bytes_per_sec.map(RateLimiter::new),
            keys: limits.keys_per_sec.map(RateLimiter::new),
            tranquility: if limits.tranquility > 0.0 {
                limits.tranquility
            } else {
                0.0
            },
            owed: Mutex::new(0.0),
        }
    }

    /// Waits for `n` record copies; returns the time slept.
    pub async fn keys(&self, n: u64) -> Duration {
        match &self.keys {
            Some(l) => l.take(n).await,
            None => Duration::ZERO,
        }
    }

    /// Waits for `n` bytes; returns the time slept.
    pub async fn bytes(&self, n: u64) -> Duration {
        match &self.bytes {
            Some(l) => l.take(n).await,
            None => Duration::ZERO,
        }
    }

    /// The rest a record whose copy kept the nodes busy for `busy` adds to the debt.
    pub fn rest_after(&self, busy: Duration) -> Duration {
        busy.mul_f64(self.tranquility)
    }

    /// Adds the rest owed for `busy` and sleeps the debt once it reaches [`MIN_REST`];
    /// returns the time slept.
    pub async fn rest(&self, busy: Duration) -> Duration {
        let due = {
            let mut owed = self.owed.lock().unwrap_or_else(PoisonError::into_inner);
            *owed += self.rest_after(busy).as_secs_f64();
            if *owed < MIN_REST.as_secs_f64() {
                return Duration::ZERO;
            }
            // Taken now, so concurrent copies do not sleep the same debt twice.
            std::mem::take(&mut *owed)
        };
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(due)).await;
        let slept = start.elapsed();
        let mut owed = self.owed.lock().unwrap_or_else(PoisonError::into_inner);
        *owed -= slept.as_secs_f64() - due;
        slept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_cap_holds_over_seconds_whatever_the_take_sizes() {
        let l = RateLimiter::new(1_000_000);
        let start = Instant::now();
        let mut taken = 0u64;
        let sizes = [1u64, 70_000, 300_000, 4_000, 1_000_000, 12];
        let mut i = 0;
        while taken < 5_000_000 {
            let n = sizes[i % sizes.len()];
            l.take(n).await;
            taken += n;
            i += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        let rate = taken as f64 / secs;
        assert!((rate - 1e6).abs() / 1e6 < 0.01, "rate {rate} over {secs} s");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_bucket_saves_at_most_one_burst() {
        let l = RateLimiter::new(1000);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(l.take(50).await, Duration::ZERO);
        let waited = l.take(100).await;
        assert_eq!(waited, Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_takers_share_the_rate() {
        let l = std::sync::Arc::new(RateLimiter::new(100));
        let start = Instant::now();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move {
                    for _ in 0..50 {
                        l.take(1).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        assert!(
            (secs - 2.0).abs() < 0.05,
            "200 tokens at 100/s took {secs} s"
        );
    }

    #[test]
    fn tranquility_scales_the_busy_time() {
        let p = Pacer::new(&Limits {
            tranquility: 2.0,
            ..Limits::default()
        });
        assert_eq!(
            p.rest_after(Duration::from_millis(30)),
            Duration::from_millis(60)
        );
        let off = Pacer::new(&Limits {
            tranquility: f64::NAN,
            ..Limits::default()
        });
        assert_eq!(off.rest_after(Duration::from_secs(1)), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn small_rests_add_up_to_the_asked_total() {
        let p = Pacer::new(&Limits {
            tranquility: 1.5,
            ..Limits::default()
        });
        let start = Instant::now();
        let mut slept = Duration::ZERO;
        for _ in 0..1000 {
            slept += p.rest(Duration::from_micros(200)).await;
        }
        // 1000 × 0.3 ms = 300 ms, slept in slices of at least 10 ms.
        let total = start.elapsed().as_secs_f64();
        assert!((total - 0.3).abs() < 0.011, "rested {total} s");
        assert!(slept >= Duration::from_millis(290));
        assert_eq!(
            Pacer::new(&Limits::default())
                .rest(Duration::from_micros(10))
                .await,
            Duration::ZERO
        );
    }
}
