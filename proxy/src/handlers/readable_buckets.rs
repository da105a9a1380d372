//! `GET /buckets`: the buckets the caller may read — public ones, those whose ACL grants
//! the signed user read (the rule of `/get`), every one for the bootstrap admin — from the
//! proxy's bucket cache (the bucket list, refreshed every `metadata_refresh_secs`, plus
//! this proxy's own changes at once). Tokens are never shown:
//!
//! ```json
//! {"buckets": [{"name": "b", "groups": [1, 2], "acl": [{"user": "u", "flags": 3}],
//!               "flags": 0, "max-size": 0, "max-key-num": 0}]}
//! ```

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::management::{Caller, bucket_doc};
use crate::error::ApiError;
use crate::state::AppState;

/// The handler.
pub async fn buckets(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let docs: Vec<Value> = state
        .buckets
        .snapshot()
        .iter()
        .filter(|b| caller.may_read_bucket(&state, b).is_ok())
        .map(|b| bucket_doc(b, false))
        .collect();
    Ok(Json(json!({ "buckets": docs })).into_response())
}
