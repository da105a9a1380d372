//! `POST|PUT|DELETE /delete/{bucket}/{key}`: DEL in every group of the bucket in parallel.
//! Succeeds when any group removed the key; 404 when it was absent everywhere. An object
//! stored in parts loses its parts a grace period later (readers already streaming it
//! finish first).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use backrunner_store::object;
use serde_json::json;

use super::authorized::{Authorized, Delete};
use super::storage_error;
use crate::error::ApiError;
use crate::state::AppState;

/// The delete handler: `{"bucket","key","success-groups","error-groups"}`.
pub async fn delete(
    State(state): State<AppState>,
    request: Authorized<Delete>,
) -> Result<Response, ApiError> {
    let session = request.data_session(&state)?;
    let results = object::remove_object(&session, &request.target.key)
        .await
        .map_err(|e| storage_error("delete", &e))?;
    let (ok, failed): (Vec<_>, Vec<_>) = results.iter().partition(|r| r.is_ok());
    let groups = |v: Vec<&elliptics::client::GroupResult<()>>| -> Vec<u32> {
        v.iter().map(|r| r.group).collect()
    };
    Ok(Json(json!({
        "bucket": request.bucket.name,
        "key": request.target.key_text(),
        "success-groups": groups(ok),
        "error-groups": groups(failed),
    }))
    .into_response())
}
