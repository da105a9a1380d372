//! Prometheus metrics of the proxy (`GET /metrics`, text format): requests by handler and
//! status, latency and time-to-first-byte histograms, bytes in and out, rejections,
//! in-flight requests, per-backend write time per byte and errors, bucket-selection
//! decisions, metadata cache hits, Elliptics command latency by command and group, and the
//! range-amplification guard (bytes read from storage vs bytes served), and the placement
//! hub exchange.

use crate::placement::PlacementMetrics;
use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds, from 100 µs to 60 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// Every metric the proxy exports, registered in its own registry.
#[derive(Clone)]
pub struct ProxyMetrics {
    registry: Registry,
    /// Requests by handler and status code.
    pub requests: IntCounterVec,
    /// Request duration by handler.
    pub latency: HistogramVec,
    /// Time to the first response byte by handler.
    pub ttfb: HistogramVec,
    /// Request body bytes received, by handler.
    pub bytes_in: IntCounterVec,
    /// Response body bytes sent, by handler.
    pub bytes_out: IntCounterVec,
    /// Requests refused before handling, by reason (`auth`, `capacity`, `header_timeout`...).
    pub rejected: IntCounterVec,
    /// Requests whose client went away before the response completed.
    pub canceled: IntCounter,
    /// Requests being handled.
    pub inflight: IntGauge,
    /// Live write time per byte (seconds) per backend, as used by bucket selection.
    pub backend_time_per_byte: GaugeVec,
    /// Failed group writes per backend.
    pub backend_write_errors: IntCounterVec,
    /// Buckets chosen for uploads without a bucket.
    pub selection_decisions: IntCounterVec,
    /// Uploads without a bucket refused because no bucket qualified.
    pub selection_none: IntCounter,
    /// Bucket metadata cache lookups by result (`hit`, `miss`, `negative`).
    pub metadata_cache: IntCounterVec,
    /// Elliptics operation latency by command and group.
    pub elliptics_latency: HistogramVec,
    /// Bytes read from storage nodes for GETs.
    pub storage_bytes_read: IntCounter,
    /// Bytes of object data served to clients.
    pub bytes_served: IntCounter,
    /// Seconds since the statistics of the cluster were last polled successfully.
    pub stats_age: Gauge,
    /// Placement hub exchange: up, report and fetch errors, view age.
    pub placement: PlacementMetrics,
}

/// Registers `metric` in `r` and hands it back (clones share their values).
fn registered<M: Collector + Clone + 'static>(r: &Registry, metric: M) -> prometheus::Result<M> {
    r.register(Box::new(metric.clone()))?;
    Ok(metric)
}

/// An integer counter per label set, registered in `r`.
fn counter_vec(r: &Registry, opts: Opts, labels: &[&str]) -> prometheus::Result<IntCounterVec> {
    registered(r, IntCounterVec::new(opts, labels)?)
}

/// A latency histogram ([`LATENCY_BUCKETS`]) per label set, registered in `r`.
fn histogram_vec(r: &Registry, opts: Opts, labels: &[&str]) -> prometheus::Result<HistogramVec> {
    let opts = HistogramOpts::from(opts).buckets(LATENCY_BUCKETS.to_vec());
    registered(r, HistogramVec::new(opts, labels)?)
}

impl ProxyMetrics {
    /// Creates and registers every metric.
    pub fn new() -> prometheus::Result<ProxyMetrics> {
        let r = Registry::new_custom(Some("backrunner".into()), None)?;
        let placement = PlacementMetrics {
            hub_up: registered(
                &r,
                IntGauge::new(
                    "proxy_placement_hub_up",
                    "1 while the last placement report and fetch succeeded",
                )?,
            )?,
            report_errors: registered(
                &r,
                IntCounter::new(
                    "proxy_placement_report_errors_total",
                    "Placement reports that failed",
                )?,
            )?,
            fetch_errors: registered(
                &r,
                IntCounter::new(
                    "proxy_placement_fetch_errors_total",
                    "Placement view fetches that failed",
                )?,
            )?,
            view_age: registered(
                &r,
                Gauge::new(
                    "proxy_placement_view_age_seconds",
                    "Age of the last placement view received, as of the last exchange",
                )?,
            )?,
        };
        Ok(ProxyMetrics {
            placement,
            inflight: registered(
                &r,
                IntGauge::new("http_inflight_requests", "Requests being handled")?,
            )?,
            canceled: registered(
                &r,
                IntCounter::new("http_canceled_total", "Requests abandoned by the client")?,
            )?,
            selection_none: registered(
                &r,
                IntCounter::new(
                    "selection_no_bucket_total",
                    "Uploads without a bucket refused because no bucket qualified",
                )?,
            )?,
            storage_bytes_read: registered(
                &r,
                IntCounter::new(
                    "storage_read_bytes_total",
                    "Bytes read from storage nodes for GET requests",
                )?,
            )?,
            bytes_served: registered(
                &r,
                IntCounter::new("http_object_bytes_served_total", "Object bytes served")?,
            )?,
            stats_age: registered(
                &r,
                Gauge::new(
                    "cluster_stats_age_seconds",
                    "Seconds since cluster statistics were last polled",
                )?,
            )?,
            backend_time_per_byte: registered(
                &r,
                GaugeVec::new(
                    Opts::new(
                        "backend_write_seconds_per_byte",
                        "Live write time per byte per backend",
                    ),
                    &["node", "backend"],
                )?,
            )?,
            requests: counter_vec(
                &r,
                Opts::new("http_requests_total", "HTTP requests by handler and status"),
                &["handler", "status"],
            )?,
            latency: histogram_vec(
                &r,
                Opts::new("http_request_duration_seconds", "Request duration"),
                &["handler"],
            )?,
            ttfb: histogram_vec(
                &r,
                Opts::new("http_ttfb_seconds", "Time to the first response byte"),
                &["handler"],
            )?,
            bytes_in: counter_vec(
                &r,
                Opts::new("http_received_bytes_total", "Request body bytes"),
                &["handler"],
            )?,
            bytes_out: counter_vec(
                &r,
                Opts::new("http_sent_bytes_total", "Response body bytes"),
                &["handler"],
            )?,
            rejected: counter_vec(
                &r,
                Opts::new("http_rejected_total", "Requests refused before handling"),
                &["reason"],
            )?,
            backend_write_errors: counter_vec(
                &r,
                Opts::new("backend_write_errors_total", "Failed group writes"),
                &["node", "backend"],
            )?,
            selection_decisions: counter_vec(
                &r,
                Opts::new(
                    "selection_decisions_total",
                    "Buckets chosen for uploads without a bucket",
                ),
                &["bucket"],
            )?,
            metadata_cache: counter_vec(
                &r,
                Opts::new(
                    "metadata_cache_lookups_total",
                    "Bucket metadata cache lookups",
                ),
                &["result"],
            )?,
            elliptics_latency: histogram_vec(
                &r,
                Opts::new(
                    "elliptics_command_duration_seconds",
                    "Elliptics operation latency",
                ),
                &["command", "group"],
            )?,
            registry: r,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_registered_metrics() {
        let m = ProxyMetrics::new().unwrap();
        m.requests.with_label_values(&["get", "200"]).inc();
        m.latency.with_label_values(&["get"]).observe(0.002);
        m.elliptics_latency
            .with_label_values(&["READ", "1"])
            .observe(0.001);
        m.storage_bytes_read.inc_by(10);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(
            text.contains("backrunner_http_requests_total{handler=\"get\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains(
            "backrunner_http_request_duration_seconds_bucket{handler=\"get\",le=\"0.0025\"} 1"
        ));
        assert!(text.contains(
            "backrunner_elliptics_command_duration_seconds_count{command=\"READ\",group=\"1\"} 1"
        ));
        assert!(text.contains("backrunner_storage_read_bytes_total 10"));
    }
}
