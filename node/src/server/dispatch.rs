//! Request handling: one function per command, each returning the exact reply sequence a
//! real Elliptics node sends (single reply without MORE for WRITE/READ/LOOKUP success,
//! forced final ACK carrying the errno on any failure, MORE + ACK for MONITOR_STAT, ...).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use elliptics::proto::errno::code;
use elliptics::proto::{
    AuthRequest, BackendCommand, BackendControl, BackendStatusList, CmdFlags, Codec, Command,
    FileInfo, FileInfoReply, Frame, GroupId, Id, IoAttr, IoFlags, MonitorStatRequest,
    NodeAnnouncement, NodeStatus, ProtocolVersion,
};

use super::NodeState;
use super::conn::ConnCtx;
use super::monitor;
use crate::backend::Backend;
use crate::blob::{RecordInfo, StoreError, SyncPolicy, Timestamp, WriteKind, WriteRequest};
use crate::writer_thread::WriterThread;

/// Backend id put in replies to node-level commands.
const NODE_LEVEL: i32 = -1;

/// Handles one request and returns the frames to send back, in order.
pub(super) async fn handle(state: &NodeState, ctx: &ConnCtx, req: Frame) -> Vec<Frame> {
    if req.header.is_reply() {
        // Replies only travel on our outgoing peer links; nothing to do here.
        return Vec::new();
    }
    let started = Instant::now();
    let outside = req.header.trans != 0;
    let cmd = req.header.cmd;
    let (replies, bytes) = match req.header.command() {
        Some(Command::ReverseLookup) => (reverse_lookup(state, ctx, &req), 0),
        Some(Command::RouteList) => (route_list(state, ctx, &req), 0),
        Some(Command::Join) => (join(state, ctx, &req), 0),
        Some(Command::Auth) => (auth(state, &req), 0),
        Some(Command::UpdateIds) => (Vec::new(), 0),
        Some(Command::Status) => (status(state, &req), 0),
        Some(Command::MonitorStat) => (monitor_stat(state, &req).await, 0),
        Some(Command::BackendStatus) => (backend_status(state, &req), 0),
        Some(Command::BackendControl) => (backend_control(state, &req).await, 0),
        Some(c @ (Command::Write | Command::Read | Command::Lookup | Command::Del)) => {
            data_command(state, c, &req).await
        }
        _ => (vec![ack(&req, code::EOPNOTSUPP, NODE_LEVEL)], 0),
    };
    let ok = replies.last().is_none_or(|f| f.header.status == 0);
    state
        .counters
        .record(cmd, outside, ok, bytes, started.elapsed());
    replies
}

/// The final ACK: request flags minus NEED_ACK and MORE, plus REPLY, no payload.
fn ack(req: &Frame, status: i32, backend_id: i32) -> Frame {
    let mut h = req.reply_header(status, false);
    h.backend_id = backend_id;
    Frame::bare(h)
}

/// A data reply: request flags minus NEED_ACK, plus REPLY (and MORE when `more`).
fn reply(req: &Frame, more: bool, backend_id: i32, payload: Bytes, data: Bytes) -> Frame {
    let mut h = req.reply_header(0, more);
    h.backend_id = backend_id;
    Frame::new(h, payload, data)
}

fn encoded(v: &impl Codec) -> Bytes {
    Bytes::from(v.to_vec())
}

fn reverse_lookup(state: &NodeState, ctx: &ConnCtx, req: &Frame) -> Vec<Frame> {
    let theirs = ProtocolVersion::from_id(req.header.key());
    let ours = state.config.version;
    if !ours.compatible(&theirs) {
        tracing::warn!(peer = %ctx.peer, %theirs, %ours, "protocol version mismatch, closing");
        let _ = ctx.close.send(true);
        return vec![ack(req, code::EPROTO, 0)];
    }
    let mut h = req.reply_header(0, false);
    h.flags = h.flags.without(CmdFlags::DIRECT);
    h.id.id = ours.to_id();
    if h.id.group_id == 0 {
        h.id.group_id = state.backends.get(&0).map_or(0, |b| b.group);
    }
    let body = encoded(&state.announcement());
    state.subscribe(ctx.id, ctx.tx.clone());
    vec![Frame::new(h, body, Bytes::new())]
}

fn route_list(state: &NodeState, ctx: &ConnCtx, req: &Frame) -> Vec<Frame> {
    let mut h = req.reply_header(0, false);
    h.flags = h.flags.without(CmdFlags::DIRECT);
    let list = state.route_list(ctx.joined());
    vec![Frame::new(h, encoded(&list), Bytes::new())]
}

fn join(state: &NodeState, ctx: &ConnCtx, req: &Frame) -> Vec<Frame> {
    match req.body::<NodeAnnouncement>() {
        Ok(a) => match a.addrs.addrs.first() {
            Some(addr) if !addr.is_empty() => {
                if let Some(old) = ctx.set_joined(*addr) {
                    state.remove_peer(old);
                }
                state.add_peer(*addr);
                tracing::info!(peer = %addr, backends = a.ids.backends.len(), "peer joined");
                Vec::new()
            }
            _ => {
                let _ = ctx.close.send(true);
                Vec::new()
            }
        },
        Err(e) => {
            tracing::warn!(peer = %ctx.peer, error = %e, "bad JOIN, closing");
            let _ = ctx.close.send(true);
            Vec::new()
        }
    }
}

fn auth(state: &NodeState, req: &Frame) -> Vec<Frame> {
    let status = match req.body::<AuthRequest>() {
        Err(_) => code::EINVAL,
        Ok(a)
            if !state.config.auth_cookie.is_empty()
                && a.cookie != AuthRequest::new(&state.config.auth_cookie).cookie =>
        {
            code::EPERM
        }
        Ok(_) => 0,
    };
    vec![ack(req, status, NODE_LEVEL)]
}

fn status(state: &NodeState, req: &Frame) -> Vec<Frame> {
    let ro = state.backends.values().all(|b| b.store.is_read_only());
    let st = NodeStatus {
        nflags: 0,
        status_flags: if ro { 0x2 } else { 0 },
        log_level: 2,
    };
    vec![
        reply(req, true, NODE_LEVEL, encoded(&st), Bytes::new()),
        ack(req, 0, NODE_LEVEL),
    ]
}

async fn monitor_stat(state: &NodeState, req: &Frame) -> Vec<Frame> {
    let Ok(r) = req.body::<MonitorStatRequest>() else {
        return vec![ack(req, code::EINVAL, NODE_LEVEL)];
    };
    match monitor::report_payload(state, r.categories).await {
        Ok(payload) => vec![
            reply(req, true, NODE_LEVEL, Bytes::from(payload), Bytes::new()),
            ack(req, 0, NODE_LEVEL),
        ],
        Err(e) => {
            tracing::warn!(error = %e, "building statistics failed");
            vec![ack(req, code::EIO, NODE_LEVEL)]
        }
    }
}

fn backend_status(state: &NodeState, req: &Frame) -> Vec<Frame> {
    let list = BackendStatusList {
        backends: state.backends.values().map(|b| b.status()).collect(),
    };
    let slots = state.backends.keys().max().map_or(0, |m| *m as usize + 1);
    let mut body = Vec::new();
    list.encode_with_slots(slots, &mut body);
    vec![reply(
        req,
        false,
        NODE_LEVEL,
        Bytes::from(body),
        Bytes::new(),
    )]
}

async fn backend_control(state: &NodeState, req: &Frame) -> Vec<Frame> {
    let Ok(ctl) = req.body::<BackendControl>() else {
        return vec![ack(req, code::EINVAL, NODE_LEVEL)];
    };
    let Some(backend) = state.backends.get(&ctl.backend_id) else {
        return vec![ack(req, code::EINVAL, NODE_LEVEL)];
    };
    let result = match BackendCommand::from_u32(ctl.command) {
        Some(BackendCommand::Enable) => toggle_enabled(state, backend, true),
        Some(BackendCommand::Disable) => toggle_enabled(state, backend, false),
        Some(BackendCommand::StartDefrag) => backend.start_defrag(),
        Some(BackendCommand::StopDefrag) => backend.stop_defrag(),
        Some(BackendCommand::ReadOnly) => set_read_only(backend, true).await,
        Some(BackendCommand::Writeable) => set_read_only(backend, false).await,
        Some(BackendCommand::Ctl) => {
            backend.set_delay_ms(ctl.delay);
            Ok(())
        }
        Some(BackendCommand::SetIds) | None => Err(code::EOPNOTSUPP),
    };
    tracing::info!(
        backend = backend.id,
        command = ctl.command,
        ?result,
        "backend control"
    );
    let mut body = Vec::new();
    BackendStatusList {
        backends: vec![backend.status()],
    }
    .encode_with_slots(1, &mut body);
    match result {
        Ok(()) => vec![reply(
            req,
            false,
            NODE_LEVEL,
            Bytes::from(body),
            Bytes::new(),
        )],
        Err(status) => vec![
            reply(req, true, NODE_LEVEL, Bytes::from(body), Bytes::new()),
            ack(req, status, NODE_LEVEL),
        ],
    }
}

fn toggle_enabled(state: &NodeState, backend: &Arc<Backend>, on: bool) -> Result<(), i32> {
    if backend.set_enabled(on) == on {
        return Err(code::EALREADY);
    }
    state.push_route_update(backend);
    Ok(())
}

async fn set_read_only(backend: &Arc<Backend>, ro: bool) -> Result<(), i32> {
    if backend.store.is_read_only() == ro {
        return Err(code::EALREADY);
    }
    backend.store.set_read_only(ro).map_err(|e| e.errno())
}

/// Picks the local backend for a data command: `cmd.backend_id` with DIRECT_BACKEND,
/// else the ring owner among this node's backends of the group.
fn pick_backend<'a>(state: &'a NodeState, req: &Frame) -> Option<&'a Arc<Backend>> {
    let h = &req.header;
    if h.flags.contains(CmdFlags::DIRECT_BACKEND) {
        return u32::try_from(h.backend_id)
            .ok()
            .and_then(|id| state.backends.get(&id))
            .filter(|b| b.is_enabled());
    }
    state.local_owner(h.key(), h.id.group_id)
}

async fn data_command(state: &NodeState, cmd: Command, req: &Frame) -> (Vec<Frame>, u64) {
    let Some(backend) = pick_backend(state, req) else {
        return (vec![ack(req, code::EOPNOTSUPP, req.header.backend_id)], 0);
    };
    let delay = backend.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let bid = backend.id as i32;
    let result = match cmd {
        Command::Write => write(state, backend, req).await,
        Command::Read => read(state, backend, req).await,
        Command::Lookup => lookup(state, backend, req).await,
        _ => remove(backend, req).await.map(|()| (ack(req, 0, bid), 0)),
    };
    match result {
        Ok((frame, bytes)) => (vec![frame], bytes),
        Err(status) => (vec![ack(req, status, bid)], 0),
    }
}

/// Largest READ answered from the page cache on the async worker (`preadv2(RWF_NOWAIT)`):
/// the proxy streams in 512 KiB READs by default; copying that much from the page cache
/// takes tens of microseconds, less than a hand-off to the blocking pool.
const INLINE_READ_MAX: u64 = 512 * 1024;

/// Runs a blocking store operation (one that touches files) off the async workers.
async fn blocking<T: Send + 'static>(
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

/// Runs a small store mutation on the backend's [`WriterThread`] (arrival order, no
/// blocking-pool hand-off); with `sync = "always"`, or when its queue is full, through the
/// blocking pool.
async fn mutate<T: Send + 'static>(
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
fn store_result<T>(r: Result<T, StoreError>) -> Result<T, i32> {
    r.map_err(|e| {
        if !matches!(e, StoreError::NotFound | StoreError::TooBig) {
            tracing::debug!(error = %e, "store operation failed");
        }
        e.errno()
    })
}

fn to_ts(t: elliptics::proto::DnetTime) -> Timestamp {
    Timestamp {
        tsec: t.tsec,
        tnsec: t.tnsec,
    }
}

fn from_ts(t: Timestamp) -> elliptics::proto::DnetTime {
    elliptics::proto::DnetTime {
        tsec: t.tsec,
        tnsec: t.tnsec,
    }
}

fn file_info_reply(state: &NodeState, info: &RecordInfo, checksum: Id) -> FileInfoReply {
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
async fn object_checksum(backend: &Arc<Backend>, key: Id) -> Result<Id, i32> {
    let store = backend.store.clone();
    blocking(move || {
        let (_, data) = store.read(&key.0, 0, 0, true)?;
        Ok(Id::checksum(&data))
    })
    .await
}

async fn write(
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

async fn read(state: &NodeState, backend: &Arc<Backend>, req: &Frame) -> Result<(Frame, u64), i32> {
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

async fn lookup(
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

async fn remove(backend: &Arc<Backend>, req: &Frame) -> Result<(), i32> {
    if !req.payload.is_empty() && req.payload.len() != IoAttr::SIZE {
        return Err(code::EINVAL);
    }
    let key = *req.header.key();
    let store = backend.store.clone();
    mutate(backend, move || store.remove(&key.0)).await
}
