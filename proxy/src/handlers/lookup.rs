//! `GET /lookup/{bucket}/{key}`: LOOKUP in every group of the bucket in parallel; the reply
//! is the per-group document of §14.6 (without the bucket/key wrapper, as Backrunner).

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};

use super::{Target, authorize, data_session, storage_error};
use crate::acl::Operation;
use crate::error::ApiError;
use crate::reply::GroupReply;
use crate::state::AppState;

/// The lookup handler: 404 when no group has the key.
pub async fn lookup(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let (parts, _body) = req.into_parts();
    let target = Target::parse(&parts, "/lookup/")?;
    let bucket = authorize(&state, &parts, &target.bucket, Operation::Read).await?;
    let session = data_session(&state, &parts, &bucket)?;
    let results = session
        .lookup(&target.key)
        .await
        .map_err(|e| storage_error("lookup", &e))?;
    Ok(Json(GroupReply::new(&session.id(&target.key), &results)).into_response())
}
