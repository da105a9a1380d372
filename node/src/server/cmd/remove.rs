//! DEL: removes an object (the store appends a tombstone, queued like a small write).

use std::sync::Arc;

use elliptics::proto::errno::code;
use elliptics::proto::{Frame, IoAttr};

use super::data::mutate;
use crate::backend::Backend;

/// Removes the object; the payload is empty or one io attribute.
pub(super) async fn handle(backend: &Arc<Backend>, req: &Frame) -> Result<(), i32> {
    if !req.payload.is_empty() && req.payload.len() != IoAttr::SIZE {
        return Err(code::EINVAL);
    }
    let key = *req.header.key();
    let store = backend.store.clone();
    mutate(backend, move || store.remove(&key.0)).await
}
