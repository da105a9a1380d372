//! The proxy's side of the placement hub (served by the operator; wire types and client in
//! [`backrunner_placement`]). Every `placement_report_interval_secs` the proxy
//!
//! 1. reports its own live write measurements per backend (`POST /v1/reports`): decayed
//!    time per byte and error rate from the selection tracker, plus totals, each backend
//!    named by node address, backend id and group ([`report`]);
//! 2. fetches the merged cluster-wide view (`GET /v1/placement?cluster=<ns/name>`, the
//!    query only with a `placement_cluster`) and hands it to the
//!    cluster view, stamped with the proxy's receive time ([`hub_view`]), where bucket
//!    selection blends it with its own measurements
//!    ([`blend`](crate::selection::blend)) until it is `placement_staleness_secs` old.
//!
//! The hub is advisory: every exchange has a deadline, failures only count in metrics and
//! log (at most one warning a minute per kind), and requests never wait on it. A hub that
//! stays down makes its last view go stale, and selection falls back to local evidence.

mod settings;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use backrunner_placement::wire::{
    BackendKey, BackendWriteReport, PLACEMENT_PATH, PlacementReport, PlacementView, REPORTS_PATH,
};
use elliptics::client::{Client, RouteOwner};
use elliptics::proto::NodeAddr;
use prometheus::{Gauge, IntCounter, IntGauge};

use crate::cluster_view::{ClusterView, OwnWrites};
use crate::selection::{HubView, WriteEvidence};
use crate::ticker::Ticker;
pub use backrunner_placement::{HubClient, HubError};
pub use settings::PlacementSettings;

/// Longest deadline of one exchange (report or fetch).
pub const MAX_EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Minimum time between two warnings of the same kind while the hub stays unreachable.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The metrics the exchange updates.
#[derive(Clone, Debug)]
pub struct PlacementMetrics {
    /// 1 while the last report and fetch both succeeded.
    pub hub_up: IntGauge,
    /// Failed reports.
    pub report_errors: IntCounter,
    /// Failed fetches.
    pub fetch_errors: IntCounter,
    /// Seconds since the last view was received (+Inf before the first).
    pub view_age: Gauge,
}

/// Unix milliseconds on the wall clock.
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The report of `own` measurements; `groups` names the group of backends whose
/// statistics did not (backends of no known group are left out).
pub fn report(
    own: &[OwnWrites],
    groups: &HashMap<RouteOwner, u32>,
    settings: &PlacementSettings,
    sent_at_ms: u64,
) -> PlacementReport {
    let backends = own
        .iter()
        .filter_map(|o| {
            let group = o.group.or_else(|| groups.get(&o.owner).copied())?;
            Some(BackendWriteReport {
                key: BackendKey {
                    node: o.owner.0.to_string(),
                    backend_id: o.owner.1,
                },
                group,
                time_per_byte_ns: o.time_per_byte.filter(|t| t.is_finite()).map(|t| t * 1e9),
                error_rate: if o.error_rate.is_finite() {
                    o.error_rate.clamp(0.0, 1.0)
                } else {
                    0.0
                },
                writes: o.writes,
                errors: o.errors,
            })
        })
        .collect();
    PlacementReport {
        proxy: settings.proxy_id.clone(),
        cluster: settings.cluster.clone(),
        sent_at_ms,
        backends,
    }
}

/// The hub's `view` as selection evidence, received at `received`. Entries without
/// reporters or with an unparsable node address are left out.
pub fn hub_view(view: &PlacementView, received: Instant) -> HubView {
    let backends = view
        .backends
        .iter()
        .filter(|b| b.reporters > 0)
        .filter_map(|b| {
            let node = NodeAddr::parse(&b.key.node)
                .map_err(|e| tracing::debug!(node = %b.key.node, error = %e, "hub view: bad node"))
                .ok()?;
            let evidence = WriteEvidence {
                time_per_byte: b.time_per_byte_ns.map(|ns| ns * 1e-9),
                error_rate: Some(b.error_rate),
            };
            Some(((node, b.key.backend_id), evidence))
        })
        .collect();
    HubView { received, backends }
}

/// Logs a repeating failure at most once per [`WARN_EVERY`], and the recovery.
#[derive(Debug, Default)]
struct FailureLog {
    last_warning: Option<Instant>,
    failing: bool,
    suppressed: u64,
}

impl FailureLog {
    fn failed(&mut self, what: &str, error: &HubError) {
        self.failing = true;
        let now = Instant::now();
        if self
            .last_warning
            .is_some_and(|t| now.duration_since(t) < WARN_EVERY)
        {
            self.suppressed += 1;
            tracing::debug!(error = %error, "placement hub {what} failed");
            return;
        }
        tracing::warn!(error = %error, suppressed = self.suppressed, "placement hub {what} failed; selection uses local measurements when the view goes stale");
        self.last_warning = Some(now);
        self.suppressed = 0;
    }

    fn succeeded(&mut self, what: &str) {
        if std::mem::take(&mut self.failing) {
            tracing::info!("placement hub {what} works again");
        }
        self.last_warning = None;
        self.suppressed = 0;
    }
}

/// Reports and fetches every `settings.interval` until `stopped` resolves (the first
/// exchange is immediate).
pub async fn run(
    hub: HubClient,
    settings: PlacementSettings,
    storage: Client,
    view: Arc<ClusterView>,
    metrics: PlacementMetrics,
    stopped: impl Future<Output = ()>,
) {
    let mut ticker = Ticker::new(settings.interval, stopped);
    let (mut report_log, mut fetch_log) = (FailureLog::default(), FailureLog::default());
    metrics.view_age.set(f64::INFINITY);
    let view_path = if settings.cluster.is_empty() {
        PLACEMENT_PATH.to_owned()
    } else {
        format!(
            "{PLACEMENT_PATH}?cluster={}",
            backrunner_placement::hub_client::query_value(&settings.cluster)
        )
    };
    while ticker.tick().await {
        let groups: HashMap<RouteOwner, u32> = storage
            .route_table()
            .backends()
            .into_iter()
            .map(|b| ((b.addr, b.backend_id), b.group))
            .collect();
        let body = report(
            &view.own_writes(Instant::now()),
            &groups,
            &settings,
            unix_ms(),
        );
        let reported = hub.post_json(REPORTS_PATH, &body).await;
        match &reported {
            Ok(()) => report_log.succeeded("report"),
            Err(e) => {
                metrics.report_errors.inc();
                report_log.failed("report", e);
            }
        }
        let fetched = hub.get_json::<PlacementView>(&view_path).await;
        match &fetched {
            Ok(placement) => {
                view.set_hub_view(hub_view(placement, Instant::now()));
                fetch_log.succeeded("fetch");
            }
            Err(e) => {
                metrics.fetch_errors.inc();
                fetch_log.failed("fetch", e);
            }
        }
        metrics
            .hub_up
            .set(i64::from(reported.is_ok() && fetched.is_ok()));
        metrics.view_age.set(
            view.hub_view_age(Instant::now())
                .map_or(f64::INFINITY, |age| age.as_secs_f64()),
        );
    }
}

#[cfg(test)]
mod tests;
