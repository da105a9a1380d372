//! The operator's HTTP server, on every replica: `/metrics` (Prometheus text), `/healthz`
//! (alive), `/readyz` (followers: election running; the leader: controllers started and the
//! statistics cache warm), and on the leader the placement hub: `POST /v1/reports` (bounded
//! body, validated, stored per proxy) and `GET /v1/placement[?cluster=ns/name]` (the merged
//! view). Followers forward the hub routes to the leader when it published its URL in the
//! Lease (proxies reach the hub through a Service over every replica), and otherwise answer
//! 503 JSON naming the leader. A forwarded request is never forwarded again. Every error is
//! JSON `{"error": "...", "status": N}`, as in the proxy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use backrunner_placement::hub_client::{FORWARDED_HEADER, query_param};
use backrunner_placement::{HubClient, PLACEMENT_PATH, PlacementReport, REPORTS_PATH};
use serde_json::json;
use tokio::net::TcpListener;

use crate::leader::LeaderState;
use crate::metrics::Metrics;
use crate::placement::{MAX_REPORT_BYTES, PlacementHub, ReportError, now_ms};
use crate::stats::StatsCache;

/// Readiness flags set by [`crate::run`].
#[derive(Debug, Default)]
pub struct Readiness {
    /// The controllers (and the statistics poller) have been started on this leader.
    pub controllers_started: AtomicBool,
}

/// What the server reads.
#[derive(Clone)]
pub struct ServerState {
    /// Metrics to render.
    pub metrics: Arc<Metrics>,
    /// The placement hub.
    pub hub: Arc<PlacementHub>,
    /// Statistics cache (warm after one round).
    pub stats: Arc<StatsCache>,
    /// Leadership.
    pub leader: LeaderState,
    /// Readiness flags.
    pub readiness: Arc<Readiness>,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({"error": message.into(), "status": status.as_u16()});
    (status, axum::Json(body)).into_response()
}

/// Time a follower gives the leader to answer a forwarded request.
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// On a follower: the leader's answer to the same request (status, content type and body
/// passed back as they are), or 503 when the leader is not known, the request was already
/// forwarded once, or the leader cannot be reached.
async fn to_leader(
    state: &ServerState,
    method: Method,
    path_and_query: String,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let Some(base) = state.leader.leader_hub() else {
        return not_leader(state);
    };
    if headers.contains_key(FORWARDED_HEADER) {
        return not_leader(state);
    }
    let Ok(base_uri) = base.parse::<http::Uri>() else {
        tracing::warn!(leader = %base, "the leader published an invalid hub URL");
        return not_leader(state);
    };
    let leader = HubClient::new(&base_uri, FORWARD_TIMEOUT);
    match leader.forward(method, &path_and_query, body).await {
        Ok(reply) => {
            let mut response = (reply.status, reply.body).into_response();
            if let Some(ct) = reply.content_type {
                response.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            response
        }
        Err(e) => {
            tracing::warn!(leader = %base, error = %e, "forwarding to the leader failed");
            not_leader(state)
        }
    }
}

fn not_leader(state: &ServerState) -> Response {
    let message = match state.leader.holder() {
        Some(h) if h != state.leader.identity => {
            format!("not the leader: the placement hub is served by {h}")
        }
        _ => "not the leader: no leader elected yet".to_string(),
    };
    let mut body = json!({"error": message, "status": 503});
    if let Some(h) = state
        .leader
        .holder()
        .filter(|h| *h != state.leader.identity)
    {
        body["leader"] = json!(h);
    }
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<ServerState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<ServerState>) -> Response {
    if !state.leader.leading() {
        return (StatusCode::OK, "ready (follower)\n").into_response();
    }
    if !state.readiness.controllers_started.load(Ordering::Acquire) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "controllers not started yet",
        );
    }
    if state.stats.rounds() == 0 {
        return error(StatusCode::SERVICE_UNAVAILABLE, "statistics not polled yet");
    }
    (StatusCode::OK, "ready (leader)\n").into_response()
}

async fn post_report(
    State(state): State<ServerState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !state.leader.leading() {
        return match body {
            Ok(body) => {
                let path = REPORTS_PATH.to_string();
                to_leader(&state, Method::POST, path, &headers, body).await
            }
            Err(e) => error(e.status(), e.body_text()),
        };
    }
    let count = |result: &str| {
        state
            .metrics
            .placement_reports
            .with_label_values(&[result])
            .inc()
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            count("rejected");
            return error(e.status(), e.body_text());
        }
    };
    let report: PlacementReport = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            count("invalid");
            return error(StatusCode::BAD_REQUEST, format!("invalid report: {e}"));
        }
    };
    let now = now_ms();
    match state.hub.submit(report, now) {
        Ok(cluster) => {
            count("ok");
            let proxies = state.hub.reporting_proxies(&cluster, now);
            state
                .metrics
                .placement_proxies
                .with_label_values(&[&cluster])
                .set(f64::from(proxies));
            axum::Json(json!({"cluster": cluster, "reporting_proxies": proxies})).into_response()
        }
        Err(e @ ReportError::Invalid(_)) => {
            count("invalid");
            error(StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(e @ ReportError::UnknownCluster(_)) => {
            count("unknown_cluster");
            error(StatusCode::NOT_FOUND, e.to_string())
        }
        Err(e @ ReportError::TooManyProxies(_)) => {
            count("refused");
            error(StatusCode::TOO_MANY_REQUESTS, e.to_string())
        }
    }
}

async fn get_placement(
    State(state): State<ServerState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !state.leader.leading() {
        let path = match &query {
            Some(q) => format!("{PLACEMENT_PATH}?{q}"),
            None => PLACEMENT_PATH.to_string(),
        };
        return to_leader(&state, Method::GET, path, &headers, Bytes::new()).await;
    }
    let cluster = query_param(query.as_deref(), "cluster");
    axum::Json(state.hub.view(&cluster, now_ms())).into_response()
}

async fn fallback() -> Response {
    error(StatusCode::NOT_FOUND, "no such route")
}

/// The router of every route.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(REPORTS_PATH, post(post_report))
        .route(PLACEMENT_PATH, get(get_placement))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(MAX_REPORT_BYTES))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
