//! `POST|PUT|DELETE /delete/{bucket}/{key}`: a stamped tombstone over the key in every
//! group of the bucket in parallel ([`remove_logged`]), logged in the key index
//! before (intent) and after (commit). Succeeds when any group took it; 404 when the key
//! was absent everywhere. An object stored in parts loses its parts a grace period later
//! (readers already streaming it finish first).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use backrunner_store::index::{BucketIndex, RemoveError, remove_logged};
use elliptics::Session;
use elliptics::client::GroupResult;
use serde_json::json;

use super::authorized::{Authorized, Delete};
use super::storage_error;
use crate::error::ApiError;
use crate::state::AppState;

/// Removes `key` with [`remove_logged`], errors mapped to replies.
pub async fn remove_indexed(
    index: Option<&BucketIndex>,
    session: &Session,
    key: &[u8],
) -> Result<Vec<GroupResult<()>>, ApiError> {
    remove_logged(index, session, key)
        .await
        .map_err(|e| match e {
            RemoveError::Index(e) => {
                tracing::warn!(error = %e, "could not log the delete in the key index");
                ApiError::from_index(&e)
            }
            RemoveError::Storage(e) => storage_error("delete", &e),
        })
}

/// The delete handler: `{"bucket","key","success-groups","error-groups"}`.
pub async fn delete(
    State(state): State<AppState>,
    request: Authorized<Delete>,
) -> Result<Response, ApiError> {
    let session = request.data_session(&state)?;
    let index = state.indexes.of(&request.bucket);
    let results = remove_indexed(index.as_ref(), &session, &request.target.key).await?;
    let (ok, failed): (Vec<_>, Vec<_>) = results.iter().partition(|r| r.is_ok());
    let groups = |v: Vec<&GroupResult<()>>| -> Vec<u32> { v.iter().map(|r| r.group).collect() };
    Ok(Json(json!({
        "bucket": request.bucket.name,
        "key": request.target.key_text(),
        "success-groups": groups(ok),
        "error-groups": groups(failed),
    }))
    .into_response())
}
