//! `POST|PUT /bulk_delete/{bucket}` with `{"keys": [...]}`: DEL of every key in every group
//! of the bucket, a few keys at a time. The reply maps each key that failed to its error
//! (an empty object when all went well), as Backrunner does.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{authorize, bucket_only, data_session, storage_error};
use crate::acl::Operation;
use crate::error::ApiError;
use crate::state::AppState;

/// Keys removed at once.
const CONCURRENCY: usize = 16;

/// Most keys in one request.
pub const MAX_KEYS: usize = 10_000;

#[derive(Debug, Deserialize)]
struct BulkDeleteRequest {
    keys: Vec<String>,
}

/// The bulk delete handler.
pub async fn bulk_delete(
    State(state): State<AppState>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let name = bucket_only(&parts, "/bulk_delete/")?;
    let bucket = authorize(&state, &parts, &name, Operation::Delete).await?;
    let limit = state.config.max_bulk_delete_body;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge {
            limit: limit as u64,
        })?;
    let request: BulkDeleteRequest = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("expected {{\"keys\": [...]}}: {e}")))?;
    if request.keys.len() > MAX_KEYS {
        return Err(ApiError::BadRequest(format!("more than {MAX_KEYS} keys")));
    }
    if request.keys.iter().any(String::is_empty) {
        return Err(ApiError::BadRequest("empty key".into()));
    }
    let session = data_session(&state, &parts, &bucket)?;
    let results = session.bulk_remove(request.keys, CONCURRENCY).await;
    let failures: BTreeMap<String, String> = results
        .into_iter()
        .filter_map(|(key, r)| {
            r.err().map(|e| {
                let reply = storage_error("bulk delete", &e);
                (key, reply.to_string())
            })
        })
        .collect();
    Ok(Json(failures).into_response())
}
