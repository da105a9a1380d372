//! Tests of the placement merge, staleness and report validation.

use backrunner_placement::wire::{BackendKey, BackendWriteReport, PlacementReport};

use super::*;

fn backend(node: &str, id: i32, tpb: Option<f64>, err: f64) -> BackendWriteReport {
    BackendWriteReport {
        key: BackendKey {
            node: node.into(),
            backend_id: id,
        },
        group: 1,
        time_per_byte_ns: tpb,
        error_rate: err,
        writes: 10,
        errors: 0,
    }
}

fn report(proxy: &str, cluster: &str, backends: Vec<BackendWriteReport>) -> PlacementReport {
    PlacementReport {
        proxy: proxy.into(),
        cluster: cluster.into(),
        sent_at_ms: 1,
        backends,
    }
}

#[test]
fn merge_means_time_per_byte_over_proxies_with_evidence() {
    let a = StoredReport {
        received_at_ms: 10_000,
        report: report(
            "p1",
            "ns/c",
            vec![
                backend("10.0.0.1:1025:2", 1, Some(2.0), 0.1),
                backend("10.0.0.1:1025:2", 2, None, 0.0),
            ],
        ),
    };
    let b = StoredReport {
        received_at_ms: 11_000,
        report: report(
            "p2",
            "ns/c",
            vec![backend("10.0.0.1:1025:2", 1, Some(4.0), 0.3)],
        ),
    };
    let c = StoredReport {
        received_at_ms: 12_000,
        report: report("p3", "ns/c", vec![backend("10.0.0.1:1025:2", 1, None, 0.2)]),
    };
    let view = merge_reports(&[&a, &b, &c], 12_000, 30);
    assert_eq!(view.reporting_proxies, 3);
    assert_eq!(view.staleness_seconds, 30);
    assert_eq!(view.generated_at_ms, 12_000);
    assert_eq!(view.backends.len(), 2);
    let b1 = &view.backends[0];
    assert_eq!(b1.key.backend_id, 1);
    // Mean of 2 and 4; p3 has no evidence and does not dilute it.
    assert_eq!(b1.time_per_byte_ns, Some(3.0));
    assert!((b1.error_rate - 0.3).abs() < 1e-12);
    assert_eq!(b1.reporters, 3);
    let b2 = &view.backends[1];
    assert_eq!(b2.time_per_byte_ns, None);
    assert_eq!(b2.reporters, 1);
}

#[test]
fn stale_reports_are_left_out() {
    let old = StoredReport {
        received_at_ms: 0,
        report: report("old", "ns/c", vec![backend("n:1:2", 1, Some(100.0), 1.0)]),
    };
    let new = StoredReport {
        received_at_ms: 25_000,
        report: report("new", "ns/c", vec![backend("n:1:2", 1, Some(1.0), 0.0)]),
    };
    // At 30 s with staleness 30 s, the report from t=0 is exactly 30 s old: stale.
    let view = merge_reports(&[&old, &new], 30_000, 30);
    assert_eq!(view.reporting_proxies, 1);
    assert_eq!(view.backends[0].time_per_byte_ns, Some(1.0));
    assert_eq!(view.backends[0].error_rate, 0.0);
    // 1 ms earlier both count.
    let view = merge_reports(&[&old, &new], 29_999, 30);
    assert_eq!(view.reporting_proxies, 2);
    assert_eq!(view.backends[0].error_rate, 1.0);
}

#[test]
fn hub_keeps_the_latest_report_per_proxy_and_uses_cluster_staleness() {
    let hub = PlacementHub::new();
    hub.set_cluster("ns/c", 5);
    let first = report("p1", "ns/c", vec![backend("n:1:2", 1, Some(9.0), 0.0)]);
    let second = report("p1", "ns/c", vec![backend("n:1:2", 1, Some(1.0), 0.0)]);
    assert_eq!(hub.submit(first, 1_000), Ok("ns/c".to_string()));
    assert_eq!(hub.submit(second, 2_000), Ok("ns/c".to_string()));
    let view = hub.view("ns/c", 2_000);
    assert_eq!(view.reporting_proxies, 1);
    assert_eq!(view.backends[0].time_per_byte_ns, Some(1.0));
    assert_eq!(hub.reporting_proxies("ns/c", 6_999), 1);
    // Staleness 5 s from the cluster settings, not the 30 s default.
    assert_eq!(hub.reporting_proxies("ns/c", 7_000), 0);
    assert!(hub.view("ns/c", 7_000).backends.is_empty());
}

#[test]
fn empty_cluster_means_the_only_one() {
    let hub = PlacementHub::new();
    hub.set_cluster("ns/only", 30);
    let key = hub.submit(report("p", "", vec![]), 0);
    assert_eq!(key, Ok("ns/only".to_string()));
    assert_eq!(hub.view("", 1).reporting_proxies, 1);
    assert_eq!(hub.view("ns/only", 1).reporting_proxies, 1);
    hub.set_cluster("ns/other", 30);
    // With two clusters the empty key no longer resolves to either.
    assert_eq!(hub.view("", 1).reporting_proxies, 0);
    hub.remove_cluster("ns/only");
    assert_eq!(hub.clusters(), vec!["ns/other".to_string()]);
}

#[test]
fn invalid_reports_are_refused() {
    let bad_rate = report("p", "ns/c", vec![backend("n:1:2", 1, None, 1.5)]);
    assert!(matches!(
        validate_report(&bad_rate),
        Err(ReportError::Invalid(m)) if m.contains("error_rate")
    ));
    let nan = report("p", "ns/c", vec![backend("n:1:2", 1, Some(f64::NAN), 0.0)]);
    assert!(validate_report(&nan).is_err());
    let negative = report("p", "ns/c", vec![backend("n:1:2", 1, Some(-1.0), 0.0)]);
    assert!(validate_report(&negative).is_err());
    assert!(validate_report(&report("", "ns/c", vec![])).is_err());
    assert!(validate_report(&report("p", "no-slash", vec![])).is_err());
    assert!(validate_report(&report("p", "ns/c", vec![backend("", 1, None, 0.0)])).is_err());
    assert_eq!(validate_report(&report("p", "", vec![])), Ok(()));
    let hub = PlacementHub::new();
    hub.set_cluster("ns/c", 30);
    assert!(hub.submit(bad_rate, 0).is_err());
    assert_eq!(hub.view("ns/c", 0).reporting_proxies, 0);
}

#[test]
fn reports_for_unknown_clusters_are_refused() {
    let hub = PlacementHub::new();
    // No cluster known at all: even the empty key has nothing to resolve to.
    assert_eq!(
        hub.submit(report("p", "", vec![]), 0),
        Err(ReportError::UnknownCluster(String::new()))
    );
    hub.set_cluster("ns/c", 30);
    assert_eq!(
        hub.submit(report("p", "ns/other", vec![]), 0),
        Err(ReportError::UnknownCluster("ns/other".into()))
    );
    assert_eq!(
        hub.submit(report("p", "ns/c", vec![]), 0),
        Ok("ns/c".into())
    );
}
