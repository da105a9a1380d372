//! Bucket choice for uploads without a bucket: Backrunner's "pain" model (protocol reference
//! §14.5) made explicit, deterministic and testable.
//!
//! [`score`] turns candidate buckets, the state of the backend owning the key in each of
//! their groups and the upload's length into weights; [`choose`] draws one bucket with
//! probability proportional to its weight from an injected random source. Rules:
//!
//! * **Exclusion** — a bucket is never chosen when any of its groups has no backend (no route
//!   or no statistics), a read-only or erroring backend, no known capacity, or would keep
//!   `hard_free_ratio` or less of its capacity free after this write. No bucket left → the
//!   caller answers 503.
//! * **Soft limit** — when some eligible bucket keeps more than `soft_free_ratio` free in all
//!   groups, buckets at or below it are dropped too.
//! * **Free space** — weight ∝ `(free − hard) / (1 − hard)` of the fullest group, so a bucket
//!   fades out smoothly as it approaches the hard limit.
//! * **Speed** — × `(t_best / t)^speed_exponent`, where `t` is the bucket's slowest group's live
//!   time per byte and `t_best` the lowest among eligible buckets; unknown timings count as
//!   `t_best` (a new backend gets a full share and is measured).
//! * **Errors** — × `1 / (1 + error_penalty × e)`, `e` the highest decayed error rate of the
//!   bucket's groups (see [`DecayingWriteStats`]).
//! * **Defragmentation** — × `defrag_penalty` when any group's backend is defragmenting.
//! * **Replica discrepancy** — live record counts diverging between groups: with
//!   `excess = max − min − discrepancy_tolerance` (≥ 0), × `1 / (1 + discrepancy_penalty ×
//!   excess / max)`.
//!
//! The time per byte and error rate of each backend come from [`blend`]: this proxy's own
//! live measurements mixed with the placement hub's cluster-wide view while that is fresh.

mod blend;
mod tracker;

use rand::Rng;

pub use blend::{BlendConfig, HubView, OWN_WEIGHT, WriteEvidence, blend};
pub use tracker::{DecayingWriteStats, MIN_ERROR_EVIDENCE, WriteStatsConfig};

/// What the proxy knows about the backend that owns the key in one group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackendView {
    /// The backend is read-only.
    pub read_only: bool,
    /// The backend reports an error.
    pub error: bool,
    /// The backend is being defragmented.
    pub defragmenting: bool,
    /// Capacity in bytes (blob size limit, or the filesystem size); 0 = unknown.
    pub total_limit: u64,
    /// Bytes used by the backend.
    pub used: u64,
    /// Bytes available on the filesystem.
    pub avail: u64,
    /// Live records (total − removed).
    pub records_live: u64,
    /// Live write time per byte in seconds (own and cluster-wide, blended); `None` = unknown.
    pub write_time_per_byte: Option<f64>,
    /// Decayed error rate of recent writes, 0..=1.
    pub recent_errors: f64,
}

/// One group of a candidate bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupState {
    /// Group number.
    pub group: u32,
    /// The backend owning the key in this group; `None` when there is no route or no stats.
    pub backend: Option<BackendView>,
}

/// A bucket that could take the upload.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Bucket name.
    pub bucket: String,
    /// Its groups.
    pub groups: Vec<GroupState>,
}

/// Tuning of [`score`].
#[derive(Clone, Debug, PartialEq)]
pub struct SelectionConfig {
    /// Minimum free fraction after the write; below it the bucket is excluded.
    pub hard_free_ratio: f64,
    /// Buckets at or below this free fraction are used only when no other bucket is eligible.
    pub soft_free_ratio: f64,
    /// Exponent of the speed ratio (1 = share proportional to write throughput).
    pub speed_exponent: f64,
    /// Weight divisor per unit of error rate.
    pub error_penalty: f64,
    /// Weight multiplier for a bucket with a defragmenting backend.
    pub defrag_penalty: f64,
    /// Weight divisor per unit of relative replica discrepancy.
    pub discrepancy_penalty: f64,
    /// Record count difference between groups considered normal (writes in flight).
    pub discrepancy_tolerance: u64,
    /// Floor for times per byte, so a zero measurement cannot divide by zero.
    pub min_time_per_byte: f64,
}

impl Default for SelectionConfig {
    fn default() -> Self {
        SelectionConfig {
            hard_free_ratio: 0.15,
            soft_free_ratio: 0.2,
            speed_exponent: 1.0,
            error_penalty: 20.0,
            defrag_penalty: 0.1,
            discrepancy_penalty: 10.0,
            discrepancy_tolerance: 16,
            min_time_per_byte: 1e-12,
        }
    }
}

/// Why a bucket cannot take the upload.
#[derive(Clone, Debug, PartialEq)]
pub enum Exclusion {
    /// The bucket has no groups.
    NoGroups,
    /// No route or no statistics for the key's backend in `group`.
    Unreachable(u32),
    /// The backend of `group` is read-only.
    ReadOnly(u32),
    /// The backend of `group` reports an error.
    BackendError(u32),
    /// The capacity of `group`'s backend is unknown (0).
    UnknownCapacity(u32),
    /// `group` would keep only `free_ratio` free after the write (below the hard limit).
    Full {
        /// The group.
        group: u32,
        /// Free fraction after the write.
        free_ratio: f64,
    },
    /// Eligible, but at or below the soft limit while other buckets are above it.
    BelowSoftLimit,
}

/// The verdict on one candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketScore {
    /// Bucket name.
    pub bucket: String,
    /// Weight for [`choose`] (0 when excluded).
    pub weight: f64,
    /// Free fraction of the fullest group after the write (0 when excluded early).
    pub free_ratio: f64,
    /// Why the bucket is excluded, if it is.
    pub exclusion: Option<Exclusion>,
}

/// Scores every candidate for an upload of `content_length` bytes (see the module docs).
pub fn score(
    candidates: &[Candidate],
    content_length: u64,
    config: &SelectionConfig,
) -> Vec<BucketScore> {
    let assessed: Vec<Result<Assessment, Exclusion>> = candidates
        .iter()
        .map(|c| assess(c, content_length, config))
        .collect();
    let eligible = || assessed.iter().filter_map(|a| a.as_ref().ok());
    let any_above_soft = eligible().any(|a| a.free_ratio > config.soft_free_ratio);
    let best_time = eligible()
        .filter_map(|a| a.time_per_byte)
        .fold(None, |best: Option<f64>, t| {
            Some(best.map_or(t, |b| b.min(t)))
        });
    candidates
        .iter()
        .zip(assessed)
        .map(|(candidate, assessment)| {
            let bucket = candidate.bucket.clone();
            match assessment {
                Err(exclusion) => BucketScore {
                    bucket,
                    weight: 0.0,
                    free_ratio: 0.0,
                    exclusion: Some(exclusion),
                },
                Ok(a) if any_above_soft && a.free_ratio <= config.soft_free_ratio => BucketScore {
                    bucket,
                    weight: 0.0,
                    free_ratio: a.free_ratio,
                    exclusion: Some(Exclusion::BelowSoftLimit),
                },
                Ok(a) => BucketScore {
                    bucket,
                    weight: a.weight(best_time, config),
                    free_ratio: a.free_ratio,
                    exclusion: None,
                },
            }
        })
        .collect()
}

/// The eligible buckets with their weights, in candidate order (empty: answer 503).
pub fn weights(
    candidates: &[Candidate],
    content_length: u64,
    config: &SelectionConfig,
) -> Vec<(String, f64)> {
    score(candidates, content_length, config)
        .into_iter()
        .filter(|s| s.exclusion.is_none() && s.weight > 0.0 && s.weight.is_finite())
        .map(|s| (s.bucket, s.weight))
        .collect()
}

/// Draws a bucket with probability proportional to its weight; non-positive or non-finite
/// weights never win. `None` when no weight is usable.
pub fn choose(weights: &[(String, f64)], rng: &mut impl Rng) -> Option<String> {
    let usable = |w: f64| w > 0.0 && w.is_finite();
    let total: f64 = weights.iter().map(|(_, w)| *w).filter(|w| usable(*w)).sum();
    if total <= 0.0 || !total.is_finite() {
        return None;
    }
    let mut point = rng.gen_range(0.0..total);
    let mut last = None;
    for (bucket, weight) in weights.iter().filter(|(_, w)| usable(*w)) {
        if point < *weight {
            return Some(bucket.clone());
        }
        point -= weight;
        last = Some(bucket);
    }
    // Rounding can leave `point` just above the last weight.
    last.cloned()
}

/// Per-bucket facts gathered from its groups.
struct Assessment {
    free_ratio: f64,
    time_per_byte: Option<f64>,
    error_rate: f64,
    defragmenting: bool,
    discrepancy: f64,
}

fn assess(
    candidate: &Candidate,
    content_length: u64,
    config: &SelectionConfig,
) -> Result<Assessment, Exclusion> {
    if candidate.groups.is_empty() {
        return Err(Exclusion::NoGroups);
    }
    let mut assessment = Assessment {
        free_ratio: f64::INFINITY,
        time_per_byte: None,
        error_rate: 0.0,
        defragmenting: false,
        discrepancy: 0.0,
    };
    let (mut min_records, mut max_records) = (u64::MAX, 0u64);
    for state in &candidate.groups {
        let group = state.group;
        let backend = state
            .backend
            .as_ref()
            .ok_or(Exclusion::Unreachable(group))?;
        if backend.read_only {
            return Err(Exclusion::ReadOnly(group));
        }
        if backend.error {
            return Err(Exclusion::BackendError(group));
        }
        if backend.total_limit == 0 {
            return Err(Exclusion::UnknownCapacity(group));
        }
        let room = backend
            .total_limit
            .saturating_sub(backend.used)
            .min(backend.avail);
        let free_ratio = (room as f64 - content_length as f64) / backend.total_limit as f64;
        if free_ratio <= config.hard_free_ratio {
            return Err(Exclusion::Full { group, free_ratio });
        }
        assessment.free_ratio = assessment.free_ratio.min(free_ratio);
        if let Some(t) = backend.write_time_per_byte.filter(|t| t.is_finite()) {
            let t = t.max(config.min_time_per_byte);
            assessment.time_per_byte =
                Some(assessment.time_per_byte.map_or(t, |slowest| slowest.max(t)));
        }
        if backend.recent_errors.is_finite() {
            assessment.error_rate = assessment
                .error_rate
                .max(backend.recent_errors.clamp(0.0, 1.0));
        }
        assessment.defragmenting |= backend.defragmenting;
        min_records = min_records.min(backend.records_live);
        max_records = max_records.max(backend.records_live);
    }
    let excess = max_records
        .saturating_sub(min_records)
        .saturating_sub(config.discrepancy_tolerance);
    assessment.discrepancy = excess as f64 / max_records.max(1) as f64;
    Ok(assessment)
}

impl Assessment {
    fn weight(&self, best_time: Option<f64>, config: &SelectionConfig) -> f64 {
        let space = (self.free_ratio - config.hard_free_ratio) / (1.0 - config.hard_free_ratio);
        let speed = match (best_time, self.time_per_byte) {
            (Some(best), Some(own)) => (best / own).powf(config.speed_exponent),
            _ => 1.0,
        };
        let errors = 1.0 / (1.0 + config.error_penalty * self.error_rate);
        let defrag = if self.defragmenting {
            config.defrag_penalty
        } else {
            1.0
        };
        let discrepancy = 1.0 / (1.0 + config.discrepancy_penalty * self.discrepancy);
        // A tiny positive floor keeps a bucket right at the hard limit drawable when it is
        // the only one left, instead of turning "almost full" into "unavailable".
        (space * speed * errors * defrag * discrepancy).max(f64::MIN_POSITIVE)
    }
}

#[cfg(test)]
mod tests;
