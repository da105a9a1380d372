//! `POST|PUT /bulk_delete/{bucket}` with `{"keys": [...]}`: DEL of every key in every group
//! of the bucket, a few keys at a time. The reply maps each key that failed to its error
//! (an empty object when all went well), as Backrunner does.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};
use serde::Deserialize;

use super::authorized::{Authorized, BucketName, Delete};
use super::delete::remove_indexed;
use crate::error::{ApiError, BadRequest};
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
    authorized: Authorized<Delete, BucketName>,
    body: Body,
) -> Result<Response, ApiError> {
    let limit = state.config.max_bulk_delete_body;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| body_error(&e, limit))?;
    let request: BulkDeleteRequest =
        serde_json::from_slice(&bytes).map_err(|e| BadRequest::BulkDeleteBody(e.to_string()))?;
    if request.keys.len() > MAX_KEYS {
        return Err(BadRequest::TooManyKeys(MAX_KEYS).into());
    }
    if request.keys.iter().any(String::is_empty) {
        return Err(BadRequest::EmptyKey.into());
    }
    let session = authorized.data_session(&state)?;
    let index = state.indexes.of(&authorized.bucket);
    let results: Vec<(String, Result<(), ApiError>)> = stream::iter(request.keys)
        .map(|key| {
            let (session, index) = (&session, index.as_ref());
            async move {
                let r = remove_indexed(index, session, key.as_bytes()).await;
                (key, r.map(|_| ()))
            }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let failures: BTreeMap<String, String> = results
        .into_iter()
        .filter_map(|(key, r)| r.err().map(|e| (key, e.to_string())))
        .collect();
    Ok(Json(failures).into_response())
}

/// 413 when the body passed `limit`; 400 when reading it failed otherwise (the client
/// broke the connection).
fn body_error(e: &axum::Error, limit: usize) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return ApiError::PayloadTooLarge {
                limit: limit as u64,
            };
        }
        source = err.source();
    }
    ApiError::BadRequest(BadRequest::BodyFailed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_past_the_limit_is_413() {
        let e = axum::body::to_bytes(Body::from(vec![0u8; 10]), 5)
            .await
            .err();
        let reply = e.map(|e| body_error(&e, 5));
        assert_eq!(reply, Some(ApiError::PayloadTooLarge { limit: 5 }));
    }
}
