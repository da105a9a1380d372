//! WRITE: plain writes, prepare/commit and chunked writes, APPEND, compare-and-swap on the
//! checksum or the timestamp; replies with the record's file info unless told not to.

use std::sync::Arc;

use bytes::Bytes;
use elliptics::proto::errno::code;
use elliptics::proto::{CmdFlags, Codec, Frame, Id, IoAttr, IoFlags};

use super::data::{
    blocking, file_info_reply, from_ts, mutate, object_checksum, store_result, to_ts,
};
use super::{ack, encoded, reply};
use crate::backend::Backend;
use crate::blob::{WriteKind, WriteRequest};
use crate::server::NodeState;
use crate::writer_thread::WriterThread;

/// Writes the object; returns the reply and the data bytes written, or the errno.
pub(super) async fn handle(
    state: &NodeState,
    backend: &Arc<Backend>,
    req: &Frame,
) -> Result<(Frame, u64), i32> {
    if req.payload.len() < IoAttr::SIZE {
        return Err(code::EINVAL);
    }
    let io = IoAttr::decode_all(&req.payload[..IoAttr::SIZE]).map_err(|_| code::EINVAL)?;
    let data = req.payload.slice(IoAttr::SIZE..);
    if io.size != data.len() as u64 {
        return Err(code::EINVAL);
    }
    let key = *req.header.key();
    let f = io.flags;
    let (prepare, commit, plain) = (
        f.contains(IoFlags::PREPARE),
        f.contains(IoFlags::COMMIT),
        f.contains(IoFlags::PLAIN_WRITE),
    );
    let kind = match (prepare, commit, plain) {
        (true, true, _) => WriteKind::PrepareCommit,
        (true, false, _) => WriteKind::Prepare { reserve: io.num },
        (false, true, _) => WriteKind::Commit { size: io.num },
        (false, false, true) => WriteKind::PlainChunk,
        (false, false, false) => WriteKind::Plain,
    };
    let needs_current = f.contains(IoFlags::APPEND)
        || f.contains(IoFlags::COMPARE_AND_SWAP)
        || f.contains(IoFlags::CAS_TIMESTAMP);
    let mut offset = io.offset;
    // Held until the record is written: no other write of this key between compare and write.
    let _key_lock = backend.key_locks.lock(&key).await;
    if needs_current {
        let current = match store_result(backend.store.lookup(&key.0)) {
            Ok(i) => Some(i),
            Err(code::ENOENT) => None,
            Err(e) => return Err(e),
        };
        if f.contains(IoFlags::CAS_TIMESTAMP)
            && current
                .as_ref()
                .is_some_and(|c| from_ts(c.timestamp) > io.timestamp)
        {
            return Err(code::EBADFD);
        }
        if f.contains(IoFlags::COMPARE_AND_SWAP) && current.is_some() {
            let sum = object_checksum(backend, key).await?;
            if sum != io.parent {
                return Err(code::EBADFD);
            }
        }
        if f.contains(IoFlags::APPEND) {
            offset = current.map_or(0, |c| c.size);
        }
    }
    let store = backend.store.clone();
    let (ts, uf, len) = (to_ts(io.timestamp), io.user_flags, data.len() as u64);
    let small = data.len() <= WriterThread::MAX_BYTES;
    let op = move || {
        store.write(
            &key.0,
            WriteRequest {
                data: &data,
                offset,
                kind,
                timestamp: ts,
                user_flags: uf,
            },
        )
    };
    let info = if small {
        mutate(backend, op).await?
    } else {
        blocking(op).await?
    };
    let bid = backend.id as i32;
    if f.contains(IoFlags::WRITE_NO_FILE_INFO) {
        return Ok((ack(req, 0, bid), len));
    }
    let checksum = if req.header.flags.contains(CmdFlags::CHECKSUM)
        && info.record_flags & elliptics::proto::record_flags::UNCOMMITTED == 0
    {
        object_checksum(backend, key).await?
    } else {
        Id::ZERO
    };
    let body = encoded(&file_info_reply(state, &info, checksum));
    Ok((reply(req, false, bid, body, Bytes::new()), len))
}
