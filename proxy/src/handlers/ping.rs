//! Liveness and readiness: `GET /ping` (Backrunner's), `/healthz` (the process answers) and
//! `/readyz` (storage connected, bucket metadata loaded, not draining).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /ping`: 200 while the process runs.
pub async fn ping() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /healthz`: 200 while the process runs.
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: 200 when ready to serve, 503 otherwise.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.is_ready() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        ApiError::Unavailable("not ready".into()).into_response()
    }
}
