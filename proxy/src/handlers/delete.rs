//! `POST|PUT|DELETE /delete/{bucket}/{key}`: a stamped tombstone over the key in every
//! group of the bucket in parallel ([`object::remove_object`]), logged in the key index
//! before (intent) and after (commit). Succeeds when any group took it; 404 when the key
//! was absent everywhere. An object stored in parts loses its parts a grace period later
//! (readers already streaming it finish first).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use backrunner_store::index::BucketIndex;
use backrunner_store::object;
use elliptics::Session;
use elliptics::client::GroupResult;
use serde_json::json;

use super::authorized::{Authorized, Delete};
use super::storage_error;
use crate::error::ApiError;
use crate::state::AppState;

/// Removes `key` as [`object::remove_object`] does, logged in `index`: the intent before
/// the tombstone, the commit after it (in the background).
pub(crate) async fn remove_indexed(
    index: Option<&BucketIndex>,
    session: &Session,
    key: &[u8],
) -> Result<Vec<GroupResult<()>>, ApiError> {
    let stamp = object::new_stamp();
    if let Some(index) = index {
        index.intent_delete(key, stamp).await.map_err(|e| {
            tracing::warn!(error = %e, "could not log the delete in the key index");
            ApiError::from_index(&e)
        })?;
    }
    let results = object::remove_object(session, key, stamp)
        .await
        .map_err(|e| storage_error("delete", &e))?;
    let Some(index) = index else {
        return Ok(results);
    };
    let (index, key) = (index.clone(), key.to_vec());
    let span = tracing::Span::current();
    tokio::spawn(async move {
        if let Err(e) = index.commit_delete(&key, stamp).await {
            let _entered = span.enter();
            tracing::info!(error = %e, "could not commit the delete in the key index; listings settle it from the object");
        }
    });
    Ok(results)
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
