//! `GET /lookup/{bucket}/{key}`: LOOKUP in every group of the bucket in parallel; the reply
//! is the per-group document of §14.6 (without the bucket/key wrapper, as Backrunner).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::authorized::{Authorized, Read};
use super::storage_error;
use crate::error::ApiError;
use crate::reply::GroupReply;
use crate::state::AppState;

/// The lookup handler: 404 when no group has the key.
pub async fn lookup(
    State(state): State<AppState>,
    request: Authorized<Read>,
) -> Result<Response, ApiError> {
    let key = &request.target.key;
    let session = request.data_session(&state)?;
    let results = session
        .lookup(key)
        .await
        .map_err(|e| storage_error("lookup", &e))?;
    Ok(Json(GroupReply::new(&session.id(key), &results)).into_response())
}
