//! `POST|PUT|DELETE /delete/{bucket}/{key}`: DEL in every group of the bucket in parallel.
//! Succeeds when any group removed the key; 404 when it was absent everywhere.

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Target, authorize, data_session, storage_error};
use crate::acl::Operation;
use crate::error::ApiError;
use crate::state::AppState;

/// The delete handler: `{"bucket","key","success-groups","error-groups"}`.
pub async fn delete(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let (parts, _body) = req.into_parts();
    let target = Target::parse(&parts, "/delete/")?;
    let bucket = authorize(&state, &parts, &target.bucket, Operation::Delete).await?;
    let session = data_session(&state, &parts, &bucket)?;
    let results = session
        .remove(&target.key)
        .await
        .map_err(|e| storage_error("delete", &e))?;
    let (ok, failed): (Vec<_>, Vec<_>) = results.iter().partition(|r| r.is_ok());
    let groups = |v: Vec<&elliptics::client::GroupResult<()>>| -> Vec<u32> {
        v.iter().map(|r| r.group).collect()
    };
    Ok(Json(json!({
        "bucket": bucket.name,
        "key": target.key_text(),
        "success-groups": groups(ok),
        "error-groups": groups(failed),
    }))
    .into_response())
}
