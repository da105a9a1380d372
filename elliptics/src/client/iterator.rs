//! Iterators (`DNET_CMD_ITERATOR`, §10): the records of ONE backend — every key, or those
//! in key ranges and/or a time range, with or without their data — as a [`Stream`] of
//! [`IteratorEntry`], plus pause / continue / cancel by iterator id.
//!
//! # Flow control
//!
//! An iterator's replies travel on a connection of their own (opened for it, closed when
//! the stream is dropped), never on the connection other requests share: the connection
//! reader hands replies to the stream through the transaction's bounded channel (8
//! frames) and, when that is full, stops reading the socket, whose receive buffer is
//! capped ([`ClientConfig::iterator_recv_buffer`](super::ClientConfig)). TCP then pushes
//! back on the node, whose iterator waits for its send queue: ours after 1024 replies or
//! 8 MiB of data, a real one after 102400 replies whatever their size. A slow consumer
//! therefore holds at most the channel, the socket buffer and one read buffer of replies
//! on this side — never a whole backend — and stalls no other request. PAUSE / CONTINUE /
//! CANCEL travel on the shared connection, so they get through while the iterator's own
//! connection is full; what the node queued before still arrives after them.
//!
//! Dropping the stream closes its connection; the node stops the iterator when it notices
//! (ours at once, a real one when it next sends). [`Client::shutdown`](super::Client::shutdown)
//! does not close iterator connections: drop the streams.
//!
//! # Ids
//!
//! A node numbers its running iterators itself — the lowest free number from 0,
//! node-wide — and ignores the id of a START. Ours reports the number in every response;
//! a real 3.0 node never does (the field is always 0). [`IteratorHandle`] takes the number
//! from the first reply, so on a real node it is right only when no other iterator was
//! running there when this one started; otherwise send the control with
//! [`Session::iterator_control`] and the number you know.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream::{self, BoxStream};
use tokio::sync::watch;

use super::session::Session;
use super::transaction::Transaction;
use crate::error::Error;
use crate::proto::errno::code;
use crate::proto::{
    CmdFlags, Codec, DnetTime, Frame, GroupId, Id, IteratorAction, IteratorFlags, IteratorRange,
    IteratorRequest, IteratorResponse, NodeAddr, request,
};

/// The backend an iterator walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IteratorTarget {
    /// Backend `backend_id` of the node at `addr` (sent `DIRECT|DIRECT_BACKEND`).
    Backend {
        /// The node.
        addr: NodeAddr,
        /// The backend on that node.
        backend_id: i32,
    },
    /// The backend owning `id` in `group`, found in the route table; the node re-derives
    /// it from the id (no DIRECT_BACKEND), as for any keyed request.
    Owner {
        /// Any id the backend owns (one of its ring ids, or a key id).
        id: Id,
        /// The replica group.
        group: u32,
    },
}

/// What to iterate and what to return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IteratorOptions {
    /// Key ranges (inclusive); empty = every key. Sets KEY_RANGE when not empty.
    pub ranges: Vec<IteratorRange>,
    /// Only records whose timestamp lies in `[begin, end]` (TS_RANGE).
    pub time_range: Option<(DnetTime, DnetTime)>,
    /// Send each record's data (DATA); default: keys and metadata only.
    pub data: bool,
}

impl IteratorOptions {
    /// Every key, metadata only.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds the inclusive key range `[begin, end]`.
    pub fn range(mut self, begin: Id, end: Id) -> Self {
        self.ranges.push(IteratorRange::new(begin, end));
        self
    }
    /// Only records stamped within `[begin, end]`.
    pub fn time_range(mut self, begin: DnetTime, end: DnetTime) -> Self {
        self.time_range = Some((begin, end));
        self
    }
    /// With (`true`) or without the records' data.
    pub fn data(mut self, data: bool) -> Self {
        self.data = data;
        self
    }

    /// The START request these options describe (NETWORK).
    pub fn request(&self) -> IteratorRequest {
        let mut req = IteratorRequest::start();
        if self.data {
            req.flags |= IteratorFlags::DATA;
        }
        if !self.ranges.is_empty() {
            req.flags |= IteratorFlags::KEY_RANGE;
            req.ranges = self.ranges.clone();
        }
        if let Some((begin, end)) = self.time_range {
            req.flags |= IteratorFlags::TS_RANGE;
            req.time_begin = begin;
            req.time_end = end;
        }
        req
    }
}

/// One record of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IteratorEntry {
    /// The key id.
    pub key: Id,
    /// Record timestamp.
    pub timestamp: DnetTime,
    /// Record user flags.
    pub user_flags: u64,
    /// Record data size (whether or not the data was asked for).
    pub size: u64,
    /// Record flags (`DNET_RECORD_FLAGS_*`, e.g. UNCOMMITTED for a prepared record).
    pub record_flags: u64,
    /// The data, when the iterator was started with [`IteratorOptions::data`] (empty for
    /// an uncommitted record; `None` when the node could not fit the record in one reply).
    pub data: Option<Bytes>,
}

/// How far an iterator got: records looked at (including the ones filtered out) and
/// records of the backend when it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IteratorProgress {
    /// Records iterated so far.
    pub iterated_keys: u64,
    /// Records in the backend.
    pub total_keys: u64,
}

/// How an iterator stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IteratorEnd {
    /// Every record was sent (final ACK 0).
    Completed,
    /// Cancelled (final ACK -8), by [`IteratorHandle::cancel`] or by anybody else.
    Cancelled,
}

/// State shared by a stream and its handles.
struct Shared {
    /// The node's iterator id, once a reply told it.
    id: watch::Sender<Option<u64>>,
    iterated: AtomicU64,
    total: AtomicU64,
    paused: AtomicBool,
    /// Set when the stream ended (successfully or not).
    ended: AtomicBool,
}

/// Controls a running iterator: pause, continue, cancel. Cheap to clone; usable while the
/// stream is being consumed elsewhere.
#[derive(Clone)]
pub struct IteratorHandle {
    session: Session,
    addr: NodeAddr,
    key: GroupId,
    backend: i32,
    cflags: CmdFlags,
    shared: Arc<Shared>,
}

impl fmt::Debug for IteratorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IteratorHandle")
            .field("addr", &self.addr)
            .field("backend", &self.backend)
            .field("id", &*self.shared.id.borrow())
            .finish_non_exhaustive()
    }
}

impl IteratorHandle {
    /// The node's iterator id, if a reply has told it yet.
    pub fn id(&self) -> Option<u64> {
        *self.shared.id.borrow()
    }

    /// Progress as of the last reply (keep-alives included).
    pub fn progress(&self) -> IteratorProgress {
        IteratorProgress {
            iterated_keys: self.shared.iterated.load(Ordering::Relaxed),
            total_keys: self.shared.total.load(Ordering::Relaxed),
        }
    }

    /// Whether this handle paused the iterator (and did not continue it since).
    pub fn is_paused(&self) -> bool {
        self.shared.paused.load(Ordering::Relaxed)
    }

    /// Waits for the iterator id: the first reply carries it (0 from a real node, see the
    /// module docs). Fails when the stream ended
    /// without telling it, or after the session timeout.
    pub async fn wait_id(&self) -> Result<u64, Error> {
        let mut rx = self.shared.id.subscribe();
        let ended = || self.shared.ended.load(Ordering::Relaxed);
        let wait = rx.wait_for(|id| id.is_some() || ended());
        let unknown =
            || Error::InvalidArgument("the iterator ended before reporting its id".into());
        match tokio::time::timeout(self.session.effective_timeout(), wait).await {
            Ok(Ok(id)) => id.ok_or_else(unknown),
            Ok(Err(_)) => Err(unknown()),
            Err(_) => Err(Error::Timeout),
        }
    }

    /// Pauses the iterator: the node stops sending until [`IteratorHandle::resume`]. The
    /// stream does not time out while paused by this handle.
    pub async fn pause(&self) -> Result<(), Error> {
        self.shared.paused.store(true, Ordering::Relaxed);
        let r = self.send(IteratorAction::Pause).await;
        if r.is_err() {
            self.shared.paused.store(false, Ordering::Relaxed);
        }
        r
    }

    /// Continues a paused iterator (CONTINUE).
    pub async fn resume(&self) -> Result<(), Error> {
        let r = self.send(IteratorAction::Continue).await;
        if r.is_ok() {
            self.shared.paused.store(false, Ordering::Relaxed);
        }
        r
    }

    /// Cancels the iterator: the stream ends (cleanly, [`IteratorEnd::Cancelled`]) once
    /// the records already sent are consumed.
    pub async fn cancel(&self) -> Result<(), Error> {
        self.send(IteratorAction::Cancel).await
    }

    async fn send(&self, action: IteratorAction) -> Result<(), Error> {
        let id = self.wait_id().await?;
        self.session
            .iterator_control_at(self.addr, self.key, self.backend, self.cflags, id, action)
            .await
    }
}

/// The records of one backend, in the order the node sends them (ours: ascending id; a
/// real eblob node: disk order, see [`crate::proto::iterator`]). Keep-alives are not
/// yielded; they only advance [`IteratorStream::progress`]. An error ends the stream.
pub struct IteratorStream {
    inner: BoxStream<'static, Result<IteratorEntry, Error>>,
    handle: IteratorHandle,
    end: Arc<watch::Sender<Option<IteratorEnd>>>,
    span: tracing::Span,
}

impl fmt::Debug for IteratorStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IteratorStream")
            .field("handle", &self.handle)
            .field("progress", &self.progress())
            .field("end", &self.end())
            .finish_non_exhaustive()
    }
}

impl IteratorStream {
    /// A handle to pause, continue or cancel the iterator.
    pub fn handle(&self) -> IteratorHandle {
        self.handle.clone()
    }
    /// The node's iterator id, once the first reply told it.
    pub fn id(&self) -> Option<u64> {
        self.handle.id()
    }
    /// Progress as of the last reply.
    pub fn progress(&self) -> IteratorProgress {
        self.handle.progress()
    }
    /// How the stream ended: `None` while it runs or when it ended with an error.
    pub fn end(&self) -> Option<IteratorEnd> {
        *self.end.borrow()
    }
}

impl Stream for IteratorStream {
    type Item = Result<IteratorEntry, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let span = self.span.clone();
        let _enter = span.enter();
        self.inner.as_mut().poll_next(cx)
    }
}

/// What one reply packet meant.
enum Reply {
    Entry(IteratorEntry),
    KeepAlive,
}

/// State of the stream's unfold.
struct Run {
    txn: Transaction,
    shared: Arc<Shared>,
    end: Arc<watch::Sender<Option<IteratorEnd>>>,
    data: bool,
    done: bool,
    /// Keeps the iterator's own connection open while the stream lives.
    _conn: super::conn::Conn,
}

impl Run {
    fn finish(&mut self, end: Option<IteratorEnd>) {
        self.done = true;
        self.shared.ended.store(true, Ordering::Relaxed);
        self.end.send_replace(end);
        // Wake waiters for an id that will never come.
        self.shared.id.send_if_modified(|_| true);
    }

    /// Decodes one reply payload (response + data), updating progress and the id.
    fn parse(&self, frame: &Frame) -> Result<Reply, Error> {
        let p = &frame.payload;
        if p.len() < IteratorResponse::SIZE {
            return Err(Error::Protocol(format!(
                "iterator reply of {} bytes, need {}",
                p.len(),
                IteratorResponse::SIZE
            )));
        }
        let resp = IteratorResponse::decode_all(&p[..IteratorResponse::SIZE])?;
        self.shared
            .iterated
            .store(resp.iterated_keys, Ordering::Relaxed);
        self.shared.total.store(resp.total_keys, Ordering::Relaxed);
        self.shared.id.send_if_modified(|id| {
            let changed = *id != Some(resp.id);
            *id = Some(resp.id);
            changed
        });
        let rest = p.slice(IteratorResponse::SIZE..);
        if resp.is_keepalive() {
            return Ok(Reply::KeepAlive);
        }
        if resp.status != 0 {
            return Err(Error::from_status(resp.status));
        }
        let data = match self.data {
            true if rest.len() as u64 == resp.size => Some(rest),
            // A record too large for one reply comes without its data (our node).
            true if rest.is_empty() => None,
            false if rest.is_empty() => None,
            _ => {
                return Err(Error::Protocol(format!(
                    "iterator reply for {} carries {} data bytes, record size {} (data {})",
                    resp.key,
                    rest.len(),
                    resp.size,
                    if self.data { "asked" } else { "not asked" }
                )));
            }
        };
        Ok(Reply::Entry(IteratorEntry {
            key: resp.key,
            timestamp: resp.timestamp,
            user_flags: resp.user_flags,
            size: resp.size,
            record_flags: resp.flags,
            data,
        }))
    }

    /// The next entry, or the end.
    async fn next(&mut self) -> Option<Result<IteratorEntry, Error>> {
        loop {
            if self.done {
                return None;
            }
            let paused = self.shared.clone();
            let frame = match self
                .txn
                .next_unless(move || paused.paused.load(Ordering::Relaxed))
                .await
            {
                None => {
                    self.finish(None);
                    return Some(Err(Error::Protocol(
                        "iterator transaction ended without a final reply".into(),
                    )));
                }
                Some(Err(e)) => {
                    self.finish(None);
                    return Some(Err(e));
                }
                Some(Ok(f)) => f,
            };
            let h = frame.header;
            if !h.has_more() {
                // The final packet: an ACK with the result (it never carried a record in
                // any server seen; one that does is handed out before the end).
                let last = match h.status {
                    0 if !frame.payload.is_empty() => match self.parse(&frame) {
                        Ok(Reply::Entry(e)) => Some(Ok(e)),
                        Ok(Reply::KeepAlive) => None,
                        Err(e) => Some(Err(e)),
                    },
                    _ => None,
                };
                match h.status {
                    0 => self.finish(Some(IteratorEnd::Completed)),
                    code::ENOEXEC => self.finish(Some(IteratorEnd::Cancelled)),
                    s => {
                        self.finish(None);
                        return Some(Err(Error::from_status(s)));
                    }
                }
                if last.is_some() {
                    return last;
                }
                return None;
            }
            if h.status != 0 {
                self.finish(None);
                return Some(Err(Error::from_status(h.status)));
            }
            match self.parse(&frame) {
                Ok(Reply::Entry(e)) => return Some(Ok(e)),
                Ok(Reply::KeepAlive) => continue,
                Err(e) => {
                    self.finish(None);
                    return Some(Err(e));
                }
            }
        }
    }
}

impl Session {
    /// Starts an iterator over one backend (see the module docs): opens a connection of
    /// its own to the node, sends the START and returns the stream of records at once;
    /// the node's refusals (-95 unsupported, -34 bad ranges, ...) come as the stream's
    /// first item. Fails here when the target has no route or the node cannot be reached.
    pub async fn iterate(
        &self,
        target: IteratorTarget,
        options: IteratorOptions,
    ) -> Result<IteratorStream, Error> {
        let (addr, key, backend, cflags) = self.iterator_route(&target)?;
        let span = tracing::debug_span!(
            "elliptics", op = "iterate", trace_id = self.opts.trace_id, %addr, backend,
            key = ?key.id, group = key.group_id,
        );
        let req = options.request();
        let mut frame = request::iterator(key, backend, self.opts.cflags | cflags, &req);
        frame.header.trace_id = self.opts.trace_id;
        let start = async {
            let recv_buffer = self.client.config().iterator_recv_buffer;
            let conn = self
                .client
                .inner()
                .dedicated_conn(addr, recv_buffer)
                .await?;
            let txn = conn.request(frame, self.effective_timeout()).await?;
            tracing::debug!(ranges = req.ranges.len(), flags = ?req.flags, "iterator started");
            Ok::<_, Error>((conn, txn))
        };
        let (conn, txn) = tracing::Instrument::instrument(start, span.clone()).await?;
        let shared = Arc::new(Shared {
            id: watch::channel(None).0,
            iterated: AtomicU64::new(0),
            total: AtomicU64::new(0),
            paused: AtomicBool::new(false),
            ended: AtomicBool::new(false),
        });
        let end = Arc::new(watch::channel(None).0);
        let run = Run {
            txn,
            shared: shared.clone(),
            end: end.clone(),
            data: options.data,
            done: false,
            _conn: conn,
        };
        let inner = stream::unfold(run, |mut run| async move {
            let item = run.next().await?;
            Some((item, run))
        });
        Ok(IteratorStream {
            inner: Box::pin(inner),
            handle: IteratorHandle {
                session: self.clone(),
                addr,
                key,
                backend,
                cflags: self.opts.cflags | cflags,
                shared,
            },
            end,
            span,
        })
    }

    /// Sends PAUSE, CONTINUE or CANCEL for the iterator `id` (as the node numbered it)
    /// running on `target`'s backend. Completes when the node acknowledged it.
    pub async fn iterator_control(
        &self,
        target: IteratorTarget,
        id: u64,
        action: IteratorAction,
    ) -> Result<(), Error> {
        let (addr, key, backend, cflags) = self.iterator_route(&target)?;
        self.iterator_control_at(addr, key, backend, self.opts.cflags | cflags, id, action)
            .await
    }

    async fn iterator_control_at(
        &self,
        addr: NodeAddr,
        key: GroupId,
        backend: i32,
        cflags: CmdFlags,
        id: u64,
        action: IteratorAction,
    ) -> Result<(), Error> {
        let span = tracing::debug_span!(
            "elliptics", op = "iterator_control", trace_id = self.opts.trace_id, %addr,
            backend, id, ?action,
        );
        let mut frame =
            request::iterator(key, backend, cflags, &IteratorRequest::control(id, action));
        frame.header.trace_id = self.opts.trace_id;
        let send = async {
            let conn = self.client.inner().connect_node(addr).await?;
            conn.request(frame, self.effective_timeout())
                .await?
                .finish()
                .await
                .map(|_| ())
        };
        tracing::Instrument::instrument(send, span).await
    }

    /// Where requests for `target` go: node, `cmd.id`, backend id and the extra flags.
    fn iterator_route(
        &self,
        target: &IteratorTarget,
    ) -> Result<(NodeAddr, GroupId, i32, CmdFlags), Error> {
        match *target {
            IteratorTarget::Backend { addr, backend_id } => {
                let group = self
                    .client
                    .route_table()
                    .backends()
                    .into_iter()
                    .find(|b| b.addr == addr && b.backend_id == backend_id)
                    .map_or(0, |b| b.group);
                Ok((
                    addr,
                    GroupId::new(Id::ZERO, group),
                    backend_id,
                    CmdFlags::DIRECT | CmdFlags::DIRECT_BACKEND,
                ))
            }
            IteratorTarget::Owner { id, group } => {
                let (addr, backend) = self.client.inner().route(&id, group)?;
                Ok((addr, GroupId::new(id, group), backend, CmdFlags::empty()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_build_the_request() {
        let req = IteratorOptions::new().request();
        assert_eq!(req.flags, IteratorFlags::empty());
        assert!(req.ranges.is_empty());
        let (a, b) = (Id([1; 64]), Id([2; 64]));
        let t = |tsec| DnetTime { tsec, tnsec: 0 };
        let req = IteratorOptions::new()
            .range(a, b)
            .time_range(t(5), t(9))
            .data(true)
            .request();
        assert_eq!(
            req.flags,
            IteratorFlags::DATA | IteratorFlags::KEY_RANGE | IteratorFlags::TS_RANGE
        );
        assert_eq!(req.ranges, vec![IteratorRange::new(a, b)]);
        assert_eq!((req.time_begin, req.time_end), (t(5), t(9)));
        assert_eq!(req.action, IteratorAction::Start);
    }
}
