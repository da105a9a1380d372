//! Blending this proxy's live write measurements of a backend with the cluster-wide view
//! of the placement hub (the operator merges what every proxy reports).
//!
//! For each of the two measures (time per byte, error rate), separately:
//!
//! * own evidence only → the own value;
//! * hub evidence only → the hub's value (a backend this proxy has not written to lately
//!   still looks as slow or as broken as the other proxies saw it);
//! * both → `OWN_WEIGHT × own + (1 − OWN_WEIGHT) × hub`, with [`OWN_WEIGHT`] = 0.7 by
//!   default ([`BlendConfig::own_weight`]). Own evidence dominates because it is seconds
//!   fresher and measured on this proxy's own network path; the hub's share still moves a
//!   backend that every other proxy sees failing. (The hub's value already includes this
//!   proxy's last report, averaged with the others.)
//! * neither → unknown time (the selection treats it as the best seen) and no errors.
//!
//! The hub view counts only while it is fresh: [`HubView::evidence`] returns nothing once
//! the view was received more than [`BlendConfig::hub_staleness`] ago (on this proxy's
//! clock, so clock skew with the operator does not matter), and selection falls back to
//! local measurements alone.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use elliptics::client::RouteOwner;

/// Default weight of own measurements when both sources have evidence.
pub const OWN_WEIGHT: f64 = 0.7;

/// Default age past which a hub view is ignored.
pub const DEFAULT_HUB_STALENESS: Duration = Duration::from_secs(30);

/// Tuning of [`blend`] and of hub staleness.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlendConfig {
    /// Weight of own evidence when both exist, 0..=1 (default [`OWN_WEIGHT`]).
    pub own_weight: f64,
    /// A hub view received longer ago than this is ignored (default 30 s).
    pub hub_staleness: Duration,
}

impl Default for BlendConfig {
    fn default() -> Self {
        BlendConfig {
            own_weight: OWN_WEIGHT,
            hub_staleness: DEFAULT_HUB_STALENESS,
        }
    }
}

/// What one source knows about the writes of one backend.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WriteEvidence {
    /// Seconds per byte of recent writes; `None` without evidence.
    pub time_per_byte: Option<f64>,
    /// Recent error rate, 0..=1; `None` without evidence.
    pub error_rate: Option<f64>,
}

/// The last placement view received from the hub, per backend.
#[derive(Clone, Debug, PartialEq)]
pub struct HubView {
    /// When this proxy received it.
    pub received: Instant,
    /// Evidence per backend.
    pub backends: HashMap<RouteOwner, WriteEvidence>,
}

impl HubView {
    /// Whether the view is still usable at `now`.
    pub fn is_fresh(&self, now: Instant, config: &BlendConfig) -> bool {
        now.saturating_duration_since(self.received) <= config.hub_staleness
    }

    /// The hub's evidence on `owner`, unless the view is stale at `now`.
    pub fn evidence(
        &self,
        owner: &RouteOwner,
        now: Instant,
        config: &BlendConfig,
    ) -> Option<WriteEvidence> {
        if !self.is_fresh(now, config) {
            return None;
        }
        self.backends.get(owner).copied()
    }
}

/// The evidence selection uses: own and hub blended as the module docs say. Non-finite or
/// negative inputs count as no evidence; error rates are clamped to 0..=1.
pub fn blend(
    own: WriteEvidence,
    hub: Option<WriteEvidence>,
    config: &BlendConfig,
) -> WriteEvidence {
    let hub = hub.unwrap_or_default();
    let weight = if config.own_weight.is_finite() {
        config.own_weight.clamp(0.0, 1.0)
    } else {
        OWN_WEIGHT
    };
    let valid = |v: Option<f64>| v.filter(|x| x.is_finite() && *x >= 0.0);
    let rate = |v: Option<f64>| valid(v).map(|x| x.min(1.0));
    WriteEvidence {
        time_per_byte: mix(valid(own.time_per_byte), valid(hub.time_per_byte), weight),
        error_rate: mix(rate(own.error_rate), rate(hub.error_rate), weight),
    }
}

fn mix(own: Option<f64>, hub: Option<f64>, own_weight: f64) -> Option<f64> {
    match (own, hub) {
        (Some(o), Some(h)) => Some(own_weight * o + (1.0 - own_weight) * h),
        (Some(o), None) => Some(o),
        (None, h) => h,
    }
}

#[cfg(test)]
mod tests {
    use elliptics::proto::NodeAddr;

    use super::*;

    fn ev(time_per_byte: Option<f64>, error_rate: Option<f64>) -> WriteEvidence {
        WriteEvidence {
            time_per_byte,
            error_rate,
        }
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn hub_fills_a_gap() {
        let c = BlendConfig::default();
        let out = blend(ev(None, None), Some(ev(Some(5e-6), Some(0.4))), &c);
        assert_eq!(out, ev(Some(5e-6), Some(0.4)));
        // per measure: own timing, hub errors
        let out = blend(ev(Some(1e-8), None), Some(ev(Some(5e-6), Some(0.4))), &c);
        assert!(close(out.time_per_byte, 0.7 * 1e-8 + 0.3 * 5e-6));
        assert_eq!(out.error_rate, Some(0.4));
    }

    #[test]
    fn own_evidence_wins() {
        let c = BlendConfig::default();
        assert_eq!(
            blend(ev(Some(1e-8), Some(0.0)), None, &c),
            ev(Some(1e-8), Some(0.0))
        );
        let out = blend(
            ev(Some(1e-8), Some(0.0)),
            Some(ev(Some(1e-6), Some(1.0))),
            &c,
        );
        assert!(close(out.time_per_byte, 0.7e-8 + 0.3e-6));
        assert!(close(out.error_rate, 0.3));
        // own weight 1 ignores the hub whenever there is own evidence
        let own_only = BlendConfig {
            own_weight: 1.0,
            ..c
        };
        let out = blend(ev(Some(1e-8), None), Some(ev(Some(1e-6), None)), &own_only);
        assert_eq!(out.time_per_byte, Some(1e-8));
    }

    #[test]
    fn neither_source_is_unknown_and_garbage_is_ignored() {
        let c = BlendConfig::default();
        assert_eq!(blend(ev(None, None), None, &c), ev(None, None));
        let out = blend(
            ev(Some(f64::NAN), Some(-1.0)),
            Some(ev(Some(f64::INFINITY), Some(7.0))),
            &c,
        );
        assert_eq!(out, ev(None, Some(1.0)));
    }

    #[test]
    fn stale_hub_is_ignored() {
        let c = BlendConfig {
            hub_staleness: Duration::from_secs(30),
            ..BlendConfig::default()
        };
        let t0 = Instant::now();
        let owner: RouteOwner = (NodeAddr(([127, 0, 0, 1], 1025).into()), 1);
        let other: RouteOwner = (NodeAddr(([127, 0, 0, 1], 1026).into()), 1);
        let view = HubView {
            received: t0,
            backends: HashMap::from([(owner, ev(Some(1e-6), Some(0.5)))]),
        };
        assert_eq!(
            view.evidence(&owner, t0 + Duration::from_secs(30), &c),
            Some(ev(Some(1e-6), Some(0.5)))
        );
        assert_eq!(view.evidence(&other, t0, &c), None);
        let late = t0 + Duration::from_secs(31);
        assert!(!view.is_fresh(late, &c));
        assert_eq!(view.evidence(&owner, late, &c), None);
        // → local only
        let own = ev(Some(1e-8), None);
        assert_eq!(blend(own, view.evidence(&owner, late, &c), &c), own);
    }
}
