//! The proxy's own numbers: `GET /proxy_stat` (per-handler counts, rates, latency and the
//! last errors, as JSON) and `GET /metrics` (Prometheus text).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};

use crate::state::AppState;

/// `GET /proxy_stat`.
pub async fn proxy_stat(State(state): State<AppState>) -> Response {
    Json(state.stats.report()).into_response()
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}
