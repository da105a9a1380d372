//! Placement report and view conversion tests: units (seconds ↔ nanoseconds), backend
//! naming, group resolution, and what is left out.

use backrunner_placement::wire::MergedBackend;

use super::*;

fn addr(port: u16) -> NodeAddr {
    NodeAddr(([127, 0, 0, 1], port).into())
}

fn settings() -> PlacementSettings {
    PlacementSettings {
        proxy_id: "proxy-a".into(),
        cluster: "ns/main".into(),
        interval: Duration::from_secs(5),
    }
}

#[test]
fn report_names_backends_and_converts_units() {
    let own = vec![
        OwnWrites {
            owner: (addr(1025), 1),
            group: Some(1),
            time_per_byte: Some(2e-9),
            error_rate: 0.25,
            writes: 10,
            errors: 2,
        },
        OwnWrites {
            owner: (addr(1026), 3),
            group: None,
            time_per_byte: None,
            error_rate: f64::NAN,
            writes: 1,
            errors: 0,
        },
        OwnWrites {
            owner: (addr(1027), 1),
            group: None,
            time_per_byte: Some(1e-9),
            error_rate: 0.0,
            writes: 1,
            errors: 0,
        },
    ];
    let groups = HashMap::from([((addr(1026), 3), 2)]);
    let r = report(&own, &groups, &settings(), 42);
    assert_eq!(
        (r.proxy.as_str(), r.cluster.as_str()),
        ("proxy-a", "ns/main")
    );
    assert_eq!(r.sent_at_ms, 42);
    assert_eq!(
        r.backends.len(),
        2,
        "the backend of no known group is left out"
    );
    let a = &r.backends[0];
    assert_eq!(a.key.node, "127.0.0.1:1025:2");
    assert_eq!((a.key.backend_id, a.group), (1, 1));
    assert!(a.time_per_byte_ns.is_some_and(|ns| (ns - 2.0).abs() < 1e-9));
    assert_eq!((a.error_rate, a.writes, a.errors), (0.25, 10, 2));
    let b = &r.backends[1];
    assert_eq!(
        (b.key.backend_id, b.group),
        (3, 2),
        "group from the route table"
    );
    assert_eq!(b.time_per_byte_ns, None);
    assert_eq!(b.error_rate, 0.0, "NaN is reported as 0");
}

#[test]
fn view_becomes_evidence_by_backend() {
    let merged = |node: &str, backend_id, ns: Option<f64>, reporters| MergedBackend {
        key: BackendKey {
            node: node.into(),
            backend_id,
        },
        group: 1,
        time_per_byte_ns: ns,
        error_rate: 0.5,
        reporters,
    };
    let view = PlacementView {
        generated_at_ms: 1,
        staleness_seconds: 30,
        reporting_proxies: 2,
        backends: vec![
            merged("127.0.0.1:1025:2", 1, Some(3000.0), 2),
            merged("127.0.0.1:1026:2", 1, None, 1),
            merged("garbage", 1, Some(1.0), 1),
            merged("127.0.0.1:1027:2", 1, Some(1.0), 0),
        ],
    };
    let now = Instant::now();
    let hub = hub_view(&view, now);
    assert_eq!(hub.received, now);
    assert_eq!(hub.backends.len(), 2);
    let a = hub.backends[&(addr(1025), 1)];
    assert!(a.time_per_byte.is_some_and(|t| (t - 3e-6).abs() < 1e-15));
    assert_eq!(a.error_rate, Some(0.5));
    let b = hub.backends[&(addr(1026), 1)];
    assert_eq!(b.time_per_byte, None);
    assert_eq!(b.error_rate, Some(0.5));
}
