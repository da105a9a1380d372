//! The proxy's side of the operator (issue 5), over real sockets: token aliases during a
//! rotation (the previous token works until its `expires_at`, checked per request), and the
//! placement hub client against a small real HTTP hub (axum, fixed views, recording
//! reports): reports name the right backends, a hub view marking a backend slow moves
//! `/nobucket_upload` away from its bucket, and a stale, failing or hanging hub changes
//! nothing.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use backrunner_placement::wire::{
    BackendKey, MergedBackend, PLACEMENT_PATH, PlacementReport, PlacementView, REPORTS_PATH,
};
use backrunner_proxy::signature::{authorization_header, sign};
use backrunner_store::MetadataStore;
use backrunner_store::token_aliases::{TOKEN_ALIASES_NAMESPACE, TokenAlias, TokenAliases};
use backrunner_tests::wait_until;

use crate::payload;
use crate::proxy_support::{ProxyFixture, json, public_bucket, with_user};

const OLD: &str = "token-old";
const NEW: &str = "token-new";

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn alias_record(token: &str, expires_at: u64) -> TokenAliases {
    let mut r = TokenAliases::new();
    r.users.insert(
        "alice".into(),
        vec![TokenAlias {
            token: token.into(),
            expires_at,
        }],
    );
    r
}

/// Status of an upload to `bucket` signed by alice with `token`.
async fn signed_upload(fx: &ProxyFixture, bucket: &str, token: &str) -> u16 {
    let path = format!("/upload/{bucket}/k");
    let sig = sign("POST", path.as_bytes(), None, [], token);
    fx.http
        .post(fx.url(&path))
        .header(
            "authorization",
            authorization_header("riftv1", "alice", &sig),
        )
        .body(b"payload".to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_token_alias_works_until_replaced_or_expired() {
    let bucket = with_user(public_bucket("rot"), "alice", NEW, 2);
    let fx = ProxyFixture::start_with(&[bucket], |c| c.metadata_refresh_secs = 1).await;
    let store = MetadataStore::new(&fx.storage, vec![1, 2]);
    assert_eq!(signed_upload(&fx, "rot", NEW).await, 200);
    assert_eq!(signed_upload(&fx, "rot", OLD).await, 403, "no alias yet");

    // Rotation: the previous token becomes an alias for a while.
    store
        .write_record("rot", &alias_record(OLD, unix_now() + 600))
        .await
        .check()
        .unwrap();
    let old_works = async || signed_upload(&fx, "rot", OLD).await == 200;
    assert!(
        wait_until(Duration::from_secs(5), old_works).await,
        "alias picked up by the refresh"
    );
    assert_eq!(signed_upload(&fx, "rot", NEW).await, 200);
    assert_eq!(signed_upload(&fx, "rot", "token-other").await, 403);

    // Overlap over: the record now says the alias expired a second ago.
    store
        .write_record("rot", &alias_record(OLD, unix_now() - 1))
        .await
        .check()
        .unwrap();
    let old_refused = async || signed_upload(&fx, "rot", OLD).await == 403;
    assert!(wait_until(Duration::from_secs(5), old_refused).await);
    assert_eq!(signed_upload(&fx, "rot", NEW).await, 200);

    // A malformed record means no aliases, and the bucket keeps working.
    store
        .write_record("rot", &alias_record(OLD, unix_now() + 600))
        .await
        .check()
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), old_works).await);
    store
        .write_object(TOKEN_ALIASES_NAMESPACE, "rot", b"{\"version\":1,\"users\":")
        .await
        .check()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), old_refused).await,
        "malformed record = no aliases"
    );
    assert_eq!(signed_upload(&fx, "rot", NEW).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_token_alias_expiry_is_checked_per_request() {
    // No refresh during the test: only the request-time clock check can end the alias.
    let fx = ProxyFixture::start_with(&[], |c| c.metadata_refresh_secs = 3600).await;
    let store = MetadataStore::new(&fx.storage, vec![1, 2]);
    let expires_at = unix_now() + 2;
    store
        .write_bucket(&with_user(public_bucket("late"), "alice", NEW, 2))
        .await
        .check()
        .unwrap();
    store
        .write_record("late", &alias_record(OLD, expires_at))
        .await
        .check()
        .unwrap();
    // Loaded on demand, with its aliases.
    assert_eq!(signed_upload(&fx, "late", OLD).await, 200);
    assert_eq!(signed_upload(&fx, "late", NEW).await, 200);
    let expired = async || signed_upload(&fx, "late", OLD).await == 403;
    assert!(wait_until(Duration::from_secs(4), expired).await);
    assert!(unix_now() >= expires_at, "refused only once expired");
    assert_eq!(signed_upload(&fx, "late", NEW).await, 200);
}

/// What the test hub serves and what it received.
#[derive(Default)]
struct HubState {
    /// `None` = answer 503 to `GET /v1/placement`.
    view: Option<Vec<MergedBackend>>,
    reports: Vec<PlacementReport>,
    /// Query string of the last view request.
    query: Option<String>,
}

type Hub = Arc<Mutex<HubState>>;

async fn receive_report(State(hub): State<Hub>, Json(report): Json<PlacementReport>) -> StatusCode {
    hub.lock().unwrap().reports.push(report);
    StatusCode::NO_CONTENT
}

async fn serve_view(
    State(hub): State<Hub>,
    RawQuery(query): RawQuery,
) -> Result<Json<PlacementView>, StatusCode> {
    let backends = {
        let mut hub = hub.lock().unwrap();
        hub.query = query;
        hub.view.clone().ok_or(StatusCode::SERVICE_UNAVAILABLE)?
    };
    Ok(Json(PlacementView {
        generated_at_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        staleness_seconds: 30,
        reporting_proxies: 1,
        backends,
    }))
}

/// Starts the hub on an ephemeral port; returns its base URL and state.
async fn start_hub() -> (String, Hub) {
    let hub: Hub = Arc::new(Mutex::new(HubState {
        view: Some(Vec::new()),
        reports: Vec::new(),
        query: None,
    }));
    let router = axum::Router::new()
        .route(REPORTS_PATH, post(receive_report))
        .route(PLACEMENT_PATH, get(serve_view))
        .with_state(hub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (base, hub)
}

/// Buckets `fast` (group 1, first node) and `slow` (group 2, second node), and a proxy
/// exchanging with `hub` every second, ignoring views older than 3 s.
async fn two_bucket_proxy(hub: &str) -> ProxyFixture {
    let mut fast = public_bucket("fast");
    fast.groups = vec![1];
    let mut slow = public_bucket("slow");
    slow.groups = vec![2];
    let hub = hub.to_owned();
    let fx = ProxyFixture::start_with(&[fast, slow], move |c| {
        c.stats_interval_secs = 1;
        c.placement_hub = Some(hub);
        c.proxy_id = Some("proxy-a".into());
        c.placement_cluster = "ns/main".into();
        c.placement_report_interval_secs = 1;
        c.placement_staleness_secs = 3;
    })
    .await;
    let loaded = async || json(fx.get("/stat").await).await["stats_loaded"] == true;
    assert!(wait_until(Duration::from_secs(10), loaded).await);
    fx
}

/// Uploads until the share of `slow` over the last 50 uploads satisfies `done`, failing
/// after `limit`; returns the share.
async fn share_until(
    fx: &ProxyFixture,
    first: usize,
    limit: Duration,
    done: impl Fn(f64) -> bool,
) -> f64 {
    let body = payload(5, 64 << 10);
    let start = Instant::now();
    let mut window: VecDeque<bool> = VecDeque::new();
    let mut i = first;
    loop {
        i += 1;
        window.push_back(fx.upload_anywhere(&format!("op/{i}"), &body).await == "slow");
        if window.len() > 50 {
            window.pop_front();
        }
        let share = window.iter().filter(|s| **s).count() as f64 / window.len() as f64;
        if window.len() == 50 && done(share) {
            eprintln!("slow share {share:.2} after {:?}", start.elapsed());
            return share;
        }
        assert!(
            start.elapsed() < limit,
            "share to the slow bucket still {share:.2} after {limit:?}"
        );
    }
}

/// The value of an unlabelled metric in the proxy's `/metrics`.
async fn metric(fx: &ProxyFixture, name: &str) -> Option<f64> {
    let text = fx.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_placement_reports_and_hub_view_steer_selection() {
    let (base, hub) = start_hub().await;
    let fx = two_bucket_proxy(&base).await;
    let nodes: Vec<String> = fx.node_addrs().iter().map(ToString::to_string).collect();

    // 40 uploads with an empty hub view (where they go is checked below).
    let body = payload(3, 64 << 10);
    for i in 0..40 {
        fx.upload_anywhere(&format!("op/{i}"), &body).await;
    }

    // Reports name both backends with their groups and counts (one write per upload:
    // each bucket has one group).
    let reported = async || {
        let hub = hub.lock().unwrap();
        hub.reports.last().is_some_and(|r| {
            r.proxy == "proxy-a"
                && r.cluster == "ns/main"
                && r.sent_at_ms > 0
                && r.backends.iter().map(|b| b.writes).sum::<u64>() == 40
                && [(0, 1u32), (1, 2)].iter().all(|(i, group)| {
                    r.backends.iter().any(|b| {
                        b.key.node == nodes[*i]
                            && b.key.backend_id == 1
                            && b.group == *group
                            && b.writes > 0
                            && b.errors == 0
                    })
                })
        })
    };
    assert!(
        wait_until(Duration::from_secs(5), reported).await,
        "reports: {:?}",
        hub.lock().unwrap().reports.last()
    );
    assert_eq!(
        metric(&fx, "backrunner_proxy_placement_hub_up").await,
        Some(1.0)
    );
    assert_eq!(
        hub.lock().unwrap().query.as_deref(),
        Some("cluster=ns%2Fmain"),
        "the view is asked for this proxy's cluster"
    );

    // An empty hub view: both buckets share uploads. Own live timings steer too, and on a
    // busy machine they can favour one node for a while, so this waits for a window of 50
    // where both have a fair share rather than counting a fixed number of uploads.
    share_until(&fx, 40, Duration::from_secs(10), |s| {
        (0.2..=0.8).contains(&s)
    })
    .await;

    // The hub says the second node's backend is slow (other proxies saw 100 µs/byte).
    hub.lock().unwrap().view = Some(vec![MergedBackend {
        key: BackendKey {
            node: nodes[1].clone(),
            backend_id: 1,
        },
        group: 2,
        time_per_byte_ns: Some(100_000.0),
        error_rate: 0.0,
        reporters: 3,
    }]);
    share_until(&fx, 1000, Duration::from_secs(10), |s| s < 0.10).await;

    // The hub fails from now on: its last view goes stale after 3 s and is ignored.
    hub.lock().unwrap().view = None;
    share_until(&fx, 5000, Duration::from_secs(20), |s| s >= 0.25).await;
    assert_eq!(
        metric(&fx, "backrunner_proxy_placement_hub_up").await,
        Some(0.0)
    );
    let fetch_errors = metric(&fx, "backrunner_proxy_placement_fetch_errors_total").await;
    assert!(fetch_errors.is_some_and(|n| n >= 1.0), "{fetch_errors:?}");
    let stale = async || {
        metric(&fx, "backrunner_proxy_placement_view_age_seconds")
            .await
            .is_some_and(|a| a > 3.0)
    };
    assert!(
        wait_until(Duration::from_secs(3), stale).await,
        "the view age grows past the staleness"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_placement_hanging_hub_changes_nothing() {
    // A hub that accepts connections and never answers: every exchange times out.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let fx = two_bucket_proxy(&format!("http://{addr}")).await;
    let body = payload(4, 64 << 10);
    let start = Instant::now();
    let mut to_slow = 0;
    for i in 0..40 {
        if fx.upload_anywhere(&format!("op/{i}"), &body).await == "slow" {
            to_slow += 1;
        }
    }
    assert!((4..=36).contains(&to_slow), "{to_slow}/40 to slow");
    eprintln!("40 uploads in {:?} with a hanging hub", start.elapsed());
    let errors = async || {
        metric(&fx, "backrunner_proxy_placement_report_errors_total")
            .await
            .is_some_and(|n| n >= 1.0)
    };
    assert!(wait_until(Duration::from_secs(5), errors).await);
    assert_eq!(
        metric(&fx, "backrunner_proxy_placement_hub_up").await,
        Some(0.0)
    );
    assert_eq!(
        metric(&fx, "backrunner_proxy_placement_view_age_seconds").await,
        Some(f64::INFINITY)
    );
}
