//! What the data commands (WRITE, READ, LOOKUP, DEL) share: choosing the local backend,
//! the backend's artificial delay, running store operations off the async workers (the
//! blocking pool or the backend's [`WriterThread`](crate::writer_thread::WriterThread)),
//! the errno a store error replies with, and the file-info reply body.

use std::sync::Arc;

use elliptics::proto::errno::code;
use elliptics::proto::{CmdFlags, Command, DnetTime, FileInfo, FileInfoReply, Frame, Id};

use super::{ack, lookup, read, remove, write};
use crate::backend::Backend;
use crate::blob::{RecordInfo, StoreError, SyncPolicy, Timestamp};
use crate::server::NodeState;

/// Runs a data command on the backend that serves its key; returns the reply frames and
/// the data bytes moved (for the command counters).
pub(super) async fn handle(state: &NodeState, cmd: Command, req: &Frame) -> (Vec<Frame>, u64) {
    let Some(backend) = pick_backend(state, req) else {
        return (vec![ack(req, code::EOPNOTSUPP, req.header.backend_id)], 0);
    };
    let delay = backend.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let bid = backend.id as i32;
    let result = match cmd {
        Command::Write => write::handle(state, backend, req).await,
        Command::Read => read::handle(state, backend, req).await,
        Command::Lookup => lookup::handle(state, backend, req).await,
        _ => remove::handle(backend, req)
            .await
            .map(|()| (ack(req, 0, bid), 0)),
    };
    match result {
        Ok((frame, bytes)) => (vec![frame], bytes),
        Err(status) => (vec![ack(req, status, bid)], 0),
    }
}

/// Picks the local backend for a data command: `cmd.backend_id` with DIRECT_BACKEND,
/// else the ring owner among this node's backends of the group.
pub(super) fn pick_backend<'a>(state: &'a NodeState, req: &Frame) -> Option<&'a Arc<Backend>> {
    let h = &req.header;
    if h.flags.contains(CmdFlags::DIRECT_BACKEND) {
        return u32::try_from(h.backend_id)
            .ok()
            .and_then(|id| state.backends.get(&id))
            .filter(|b| b.is_enabled());
    }
    state.local_owner(h.key(), h.id.group_id)
}

/// Runs a blocking store operation (one that touches files) off the async workers.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, i32> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => store_result(r),
        Err(e) => {
            tracing::error!(error = %e, "store task failed");
            Err(code::EIO)
        }
    }
}

/// Runs a small store mutation on the backend's
/// [`WriterThread`](crate::writer_thread::WriterThread) (arrival order, no blocking-pool
/// hand-off); with `sync = "always"`, or when its queue is full, through the
/// blocking pool.
pub(super) async fn mutate<T: Send + 'static>(
    backend: &Backend,
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, i32> {
    if backend.config.sync == SyncPolicy::Always {
        return blocking(f).await;
    }
    match backend.writer.try_run(f).await {
        Ok(Some(r)) => store_result(r),
        Ok(None) => {
            tracing::error!(backend = backend.id, "writer thread lost a write");
            Err(code::EIO)
        }
        Err(f) => blocking(f).await,
    }
}

/// Maps a store result to the errno the reply carries. Memory-only operations (LOOKUP reads
/// the in-memory index and never a file) call this directly on the async worker: a hop
/// through the blocking pool costs more than the lookup itself.
pub(super) fn store_result<T>(r: Result<T, StoreError>) -> Result<T, i32> {
    r.map_err(|e| {
        if !matches!(e, StoreError::NotFound | StoreError::TooBig) {
            tracing::debug!(error = %e, "store operation failed");
        }
        e.errno()
    })
}

/// A wire timestamp as the store keeps it.
pub(super) fn to_ts(t: DnetTime) -> Timestamp {
    Timestamp {
        tsec: t.tsec,
        tnsec: t.tnsec,
    }
}

/// A store timestamp as the wire carries it.
pub(super) fn from_ts(t: Timestamp) -> DnetTime {
    DnetTime {
        tsec: t.tsec,
        tnsec: t.tnsec,
    }
}

/// The file-info body of WRITE and LOOKUP replies: where the record lives and what it is.
pub(super) fn file_info_reply(state: &NodeState, info: &RecordInfo, checksum: Id) -> FileInfoReply {
    FileInfoReply::new(
        state.addr,
        FileInfo {
            flen: 0,
            checksum,
            record_flags: info.record_flags,
            size: info.size,
            offset: info.data_offset,
            mtime: from_ts(info.timestamp),
        },
        info.path.display().to_string(),
    )
}

/// SHA-512 of the whole object, read and verified from the store.
pub(super) async fn object_checksum(backend: &Arc<Backend>, key: Id) -> Result<Id, i32> {
    let store = backend.store.clone();
    blocking(move || {
        let (_, data) = store.read(&key.0, 0, 0, true)?;
        Ok(Id::checksum(&data))
    })
    .await
}
