//! LOOKUP: the file info of an object from the in-memory index, with its SHA-512 when the
//! request asks for CHECKSUM.

use std::sync::Arc;

use bytes::Bytes;
use elliptics::proto::{CmdFlags, Frame, Id};

use super::data::{file_info_reply, object_checksum, store_result};
use super::{encoded, reply};
use crate::backend::Backend;
use crate::server::NodeState;

/// Looks the object up; returns the reply (no data bytes moved), or the errno.
pub(super) async fn handle(
    state: &NodeState,
    backend: &Arc<Backend>,
    req: &Frame,
) -> Result<(Frame, u64), i32> {
    let key = *req.header.key();
    let info = store_result(backend.store.lookup(&key.0))?;
    let checksum = if req.header.flags.contains(CmdFlags::CHECKSUM) {
        object_checksum(backend, key).await?
    } else {
        Id::ZERO
    };
    let body = encoded(&file_info_reply(state, &info, checksum));
    Ok((reply(req, false, backend.id as i32, body, Bytes::new()), 0))
}
