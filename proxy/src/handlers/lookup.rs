//! `GET /lookup/{bucket}/{key}`: LOOKUP in every group of the bucket in parallel; the reply
//! is the per-group document of §14.6 (without the bucket/key wrapper, as Backrunner).
//! For an object stored in parts the LOOKUP describes its manifest record; the object's
//! head (read beside it) gives the size reported.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use backrunner_store::object::{self, ObjectHead};
use futures_util::future::join;

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
    let (results, head) = join(session.lookup(key), object::head(&session, key)).await;
    let results = results.map_err(|e| storage_error("lookup", &e))?;
    if matches!(&head, Err(e) if e.is_not_found()) {
        // Deleted: the groups hold its tombstone.
        return Err(ApiError::NotFound);
    }
    let mut reply = GroupReply::new(&session.id(key), &results);
    if let Ok(ObjectHead {
        size,
        manifest: Some(_),
        ..
    }) = head
    {
        for entry in reply.info.iter_mut().filter(|e| e.error.is_empty()) {
            entry.size = size;
        }
    }
    Ok(Json(reply).into_response())
}
