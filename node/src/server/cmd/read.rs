//! READ: a range of an object (the whole object when the size is 0), verified against its
//! chunk checksums unless NOCSUM; small reads of page-cached data are served on the async
//! worker.

use std::sync::Arc;

use bytes::Bytes;
use elliptics::proto::errno::code;
use elliptics::proto::{Frame, GroupId, Id, IoAttr, IoFlags};

use super::data::{blocking, from_ts, store_result};
use super::{encoded, reply};
use crate::backend::Backend;
use crate::blob::StoreError;
use crate::server::NodeState;

/// Largest READ answered from the page cache on the async worker (`preadv2(RWF_NOWAIT)`):
/// the proxy streams in 512 KiB READs by default; copying that much from the page cache
/// takes tens of microseconds, less than a hand-off to the blocking pool.
const INLINE_READ_MAX: u64 = 512 * 1024;

/// Reads the range; returns the reply (io attributes, then the data) and the data bytes
/// read, or the errno (EINVAL for a reply larger than `max_payload`).
pub(super) async fn handle(
    state: &NodeState,
    backend: &Arc<Backend>,
    req: &Frame,
) -> Result<(Frame, u64), i32> {
    let io = req.body::<IoAttr>().map_err(|_| code::EINVAL)?;
    let key = *req.header.key();
    let cap = state.config.max_payload;
    if io.size == 0 || io.size > cap {
        let info = store_result(backend.store.lookup(&key.0))?;
        let want = if io.size == 0 {
            info.size.saturating_sub(io.offset)
        } else {
            io.size.min(info.size.saturating_sub(io.offset))
        };
        if want > cap {
            tracing::warn!(
                size = want,
                cap,
                "READ larger than the reply cap; read in ranges"
            );
            return Err(code::EINVAL);
        }
    }
    let verify = !io.flags.contains(IoFlags::NOCSUM);
    let (off, size) = (io.offset, io.size);
    // Small reads of page-cached data are served on the async worker; anything else (or a
    // cache miss) goes through the blocking pool.
    let (info, data) = match backend
        .store
        .read_cached(&key.0, off, size, verify, INLINE_READ_MAX)
    {
        Err(StoreError::WouldBlock) => {
            let store = backend.store.clone();
            blocking(move || store.read(&key.0, off, size, verify)).await?
        }
        r => store_result(r)?,
    };
    let mut out = io;
    out.size = data.len() as u64;
    out.total_size = info.size;
    out.timestamp = from_ts(info.timestamp);
    out.user_flags = info.user_flags;
    out.record_flags = info.record_flags;
    if io.flags.contains(IoFlags::CHECKSUM) {
        out.parent = Id::checksum(&data);
    }
    let len = data.len() as u64;
    let mut frame = reply(
        req,
        false,
        backend.id as i32,
        encoded(&out),
        Bytes::from(data),
    );
    frame.header.id = GroupId::new(io.id, req.header.id.group_id);
    Ok((frame, len))
}
