//! The operator's HTTP server over a real socket: placement hub routes on a leader and a
//! follower, body limits, validation, staleness, `/metrics`, `/healthz`, `/readyz`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use backrunner_operator::leader::LeaderState;
use backrunner_operator::metrics::Metrics;
use backrunner_operator::placement::PlacementHub;
use backrunner_operator::server::{Readiness, ServerState, serve};
use backrunner_operator::stats::StatsCache;
use backrunner_placement::wire::{
    BackendKey, BackendWriteReport, PLACEMENT_PATH, PlacementReport, PlacementView, REPORTS_PATH,
};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Server {
    base: String,
    hub: Arc<PlacementHub>,
    stats: Arc<StatsCache>,
    readiness: Arc<Readiness>,
    _stop: oneshot::Sender<()>,
}

async fn start(leader: LeaderState) -> Result<Server, Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let hub = Arc::new(PlacementHub::new());
    let readiness = Arc::new(Readiness::default());
    let stats = Arc::new(StatsCache::new());
    let state = ServerState {
        metrics: Arc::new(Metrics::new()?),
        hub: hub.clone(),
        stats: stats.clone(),
        leader,
        readiness: readiness.clone(),
    };
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async move {
        let _ = rx.await;
    }));
    Ok(Server {
        base,
        hub,
        stats,
        readiness,
        _stop: tx,
    })
}

fn report(proxy: &str, tpb: Option<f64>, error_rate: f64) -> PlacementReport {
    PlacementReport {
        proxy: proxy.into(),
        cluster: "ns/c".into(),
        sent_at_ms: 1,
        backends: vec![BackendWriteReport {
            key: BackendKey {
                node: "10.0.0.1:1025:2".into(),
                backend_id: 1,
            },
            group: 1,
            time_per_byte_ns: tpb,
            error_rate,
            writes: 5,
            errors: 1,
        }],
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
) -> Result<(u16, Value), Box<dyn std::error::Error>> {
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = r.status().as_u16();
    let bytes = r.bytes().await?;
    Ok((status, serde_json::from_slice(&bytes)?))
}

/// POSTs `report` as JSON to `url`.
async fn post_report(
    http: &reqwest::Client,
    url: &str,
    report: &PlacementReport,
) -> Result<(u16, Value), Box<dyn std::error::Error>> {
    post(http, url, serde_json::to_vec(report)?).await
}

#[tokio::test]
async fn leader_merges_reports_and_drops_stale_ones() -> TestResult {
    let s = start(LeaderState::always_leader("op-0")).await?;
    s.hub.set_cluster("ns/c", 2);
    let http = reqwest::Client::new();
    let url = format!("{}{REPORTS_PATH}", s.base);
    let (code, body) = post_report(&http, &url, &report("p1", Some(2.0), 0.1)).await?;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["cluster"], "ns/c");
    let (code, _) = post_report(&http, &url, &report("p2", Some(4.0), 0.5)).await?;
    assert_eq!(code, 200);

    let get = |q: &'static str| {
        let http = http.clone();
        let url = format!("{}{PLACEMENT_PATH}{q}", s.base);
        async move {
            let r = http.get(url).send().await?;
            assert_eq!(r.status().as_u16(), 200);
            let view: PlacementView = serde_json::from_slice(&r.bytes().await?)?;
            Ok::<_, Box<dyn std::error::Error>>(view)
        }
    };
    let view = get("?cluster=ns%2Fc").await?;
    assert_eq!(view.reporting_proxies, 2);
    assert_eq!(view.staleness_seconds, 2);
    assert_eq!(view.backends.len(), 1);
    assert_eq!(view.backends[0].time_per_byte_ns, Some(3.0));
    assert_eq!(view.backends[0].error_rate, 0.5);
    assert_eq!(view.backends[0].reporters, 2);
    // The only cluster is the default.
    assert_eq!(get("").await?.reporting_proxies, 2);

    // p1 keeps reporting, p2 goes quiet: after the 2 s staleness only p1 counts.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (code, _) = post_report(&http, &url, &report("p1", Some(2.0), 0.1)).await?;
    assert_eq!(code, 200);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let view = get("?cluster=ns/c").await?;
    assert_eq!(view.reporting_proxies, 1);
    assert_eq!(view.backends[0].time_per_byte_ns, Some(2.0));
    assert_eq!(view.backends[0].error_rate, 0.1);

    let metrics = http
        .get(format!("{}/metrics", s.base))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        metrics.contains("backrunner_operator_placement_reports_total{result=\"ok\"} 3"),
        "{metrics}"
    );
    Ok(())
}

#[tokio::test]
async fn bad_reports_get_json_errors() -> TestResult {
    let s = start(LeaderState::always_leader("op-0")).await?;
    let http = reqwest::Client::new();
    let url = format!("{}{REPORTS_PATH}", s.base);
    let (code, body) = post(&http, &url, b"{not json".to_vec()).await?;
    assert_eq!((code, body["status"].as_u64()), (400, Some(400)));
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("invalid report"))
    );
    // A cluster the operator does not know.
    let (code, body) = post_report(&http, &url, &report("p", None, 0.0)).await?;
    assert_eq!((code, body["status"].as_u64()), (404, Some(404)));
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("unknown cluster"))
    );
    s.hub.set_cluster("ns/c", 30);
    let (code, body) = post_report(&http, &url, &report("p", None, 7.0)).await?;
    assert_eq!(code, 400);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("error_rate"))
    );
    // Bodies past the limit are refused before parsing.
    let huge = vec![b' '; backrunner_operator::placement::MAX_REPORT_BYTES + 1];
    let (code, body) = post(&http, &url, huge).await?;
    assert_eq!((code, body["status"].as_u64()), (413, Some(413)));
    // Nothing was stored.
    assert_eq!(s.hub.view("ns/c", u64::MAX / 2).reporting_proxies, 0);
    let r = http.get(format!("{}/nope", s.base)).send().await?;
    assert_eq!(r.status().as_u16(), 404);
    Ok(())
}

#[tokio::test]
async fn follower_refuses_hub_routes_and_names_the_leader() -> TestResult {
    let s = start(LeaderState::fixed("op-1", false, Some("op-0"))).await?;
    let http = reqwest::Client::new();
    let (code, body) = post_report(
        &http,
        &format!("{}{REPORTS_PATH}", s.base),
        &report("p", None, 0.0),
    )
    .await?;
    assert_eq!((code, body["status"].as_u64()), (503, Some(503)));
    assert_eq!(body["leader"], "op-0");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("op-0")));
    let r = http
        .get(format!("{}{PLACEMENT_PATH}", s.base))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 503);
    // A follower is alive and ready (a standby), and serves metrics.
    let r = http.get(format!("{}/healthz", s.base)).send().await?;
    assert_eq!(r.status().as_u16(), 200);
    let r = http.get(format!("{}/readyz", s.base)).send().await?;
    assert_eq!(r.status().as_u16(), 200);
    let r = http.get(format!("{}/metrics", s.base)).send().await?;
    assert_eq!(r.status().as_u16(), 200);
    Ok(())
}

/// Asserts that `GET /readyz` answers 503 with an error naming `why`.
async fn not_ready(http: &reqwest::Client, base: &str, why: &str) -> TestResult {
    let r = http.get(format!("{base}/readyz")).send().await?;
    assert_eq!(r.status().as_u16(), 503);
    let body: Value = serde_json::from_slice(&r.bytes().await?)?;
    assert!(body["error"].as_str().is_some_and(|e| e.contains(why)));
    Ok(())
}

#[tokio::test]
async fn leader_is_ready_only_with_controllers_started_and_stats_polled() -> TestResult {
    let s = start(LeaderState::always_leader("op-0")).await?;
    let http = reqwest::Client::new();
    not_ready(&http, &s.base, "controllers").await?;
    s.readiness
        .controllers_started
        .store(true, Ordering::Release);
    not_ready(&http, &s.base, "statistics").await?;
    s.stats.round_done();
    let r = http.get(format!("{}/readyz", s.base)).send().await?;
    assert_eq!(r.status().as_u16(), 200);
    Ok(())
}

#[tokio::test]
async fn follower_forwards_hub_routes_to_the_leader_it_knows() -> TestResult {
    let leader = start(LeaderState::always_leader("op-0")).await?;
    leader.hub.set_cluster("ns/c", 2);
    let follower = start(LeaderState::following("op-1", "op-0", &leader.base)).await?;
    let http = reqwest::Client::new();
    // A report sent to the follower is stored by the leader, and the reply is the leader's.
    let (code, body) = post_report(
        &http,
        &format!("{}{REPORTS_PATH}", follower.base),
        &report("p1", Some(2.0), 0.0),
    )
    .await?;
    assert_eq!(
        (code, body["reporting_proxies"].as_u64()),
        (200, Some(1)),
        "{body}"
    );
    let now = backrunner_operator::placement::now_ms();
    assert_eq!(leader.hub.view("ns/c", now).reporting_proxies, 1);
    assert_eq!(follower.hub.view("ns/c", now).reporting_proxies, 0);
    // The view read through the follower is the leader's (query passed on).
    let r = http
        .get(format!("{}{PLACEMENT_PATH}?cluster=ns%2Fc", follower.base))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let view: PlacementView = serde_json::from_slice(&r.bytes().await?)?;
    assert_eq!(view.reporting_proxies, 1);
    // Leader errors come back as they are.
    let (code, _) = post(
        &http,
        &format!("{}{REPORTS_PATH}", follower.base),
        b"{not json".to_vec(),
    )
    .await?;
    assert_eq!(code, 400);
    // Never a second hop: an already forwarded request gets the follower's 503.
    let r = http
        .get(format!("{}{PLACEMENT_PATH}", follower.base))
        .header("x-backrunner-forwarded", "1")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 503);
    // A leader that cannot be reached: 503 naming it.
    let gone = start(LeaderState::following("op-2", "op-9", "http://127.0.0.1:9")).await?;
    let (code, body) = post_report(
        &http,
        &format!("{}{REPORTS_PATH}", gone.base),
        &report("p1", None, 0.0),
    )
    .await?;
    assert_eq!((code, body["leader"].as_str()), (503, Some("op-9")));
    Ok(())
}
