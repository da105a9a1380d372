//! One multiplexed connection to a storage node: after the handshake the socket is split
//! into a reader task and a writer task. Requests reach the writer over a bounded queue;
//! in-flight transactions live in a map keyed by `trans`, each with a bounded reply
//! channel the reader feeds; when the socket dies every waiter learns why.
//!
//! Shape after tokio-postgres (`Connection` owns the socket), Garage (`inflight` map,
//! cancel on drop) and hickory (close-all on stream death).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Semaphore, mpsc, watch};

use super::handshake::Established;
use super::transaction::Transaction;
use crate::error::Error;
use crate::proto::errno::code;
use crate::proto::{
    CmdFlags, Codec, Command, Frame, FrameDecoder, IdContainer, NodeAddr, NodeAnnouncement,
    ProtocolVersion,
};

/// Frames a connection's writer queue holds before senders wait.
const WRITE_QUEUE: usize = 256;
/// Reply packets buffered per transaction before the reader waits for the caller.
const REPLY_BUFFER: usize = 8;
/// Minimum free space kept in the read buffer before each socket read.
const READ_RESERVE: usize = 64 << 10;
/// Capacity of the write buffer that coalesces small frames into one syscall.
const WRITE_BUFFER: usize = 64 << 10;

/// Receives the route pushes (UPDATE_IDS) of a node.
pub(crate) type UpdateIdsHook = Box<dyn Fn(NodeAddr, &IdContainer) + Send + Sync>;
/// Told (address, serial) when a connection closes on its own.
pub(crate) type CloseHook = Box<dyn Fn(NodeAddr, u64) + Send + Sync>;

/// Called by the reader for route pushes and when the connection dies unexpectedly.
pub(crate) struct ConnHooks {
    /// An UPDATE_IDS from the node at the given address.
    pub on_update_ids: UpdateIdsHook,
    /// The connection (address, serial) closed on its own (EOF, error, protocol).
    pub on_close: CloseHook,
}

/// Limits of one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// Largest accepted frame payload.
    pub max_payload: u64,
    /// Transactions in flight at once.
    pub max_in_flight: usize,
}

struct State {
    inflight: HashMap<u64, mpsc::Sender<Frame>>,
    next_trans: u64,
    /// `Some` once the connection is closed: what waiters are told.
    closed: Option<Error>,
}

/// State shared by the handle, the tasks and the transactions of one connection.
pub(crate) struct Shared {
    pub addr: NodeAddr,
    pub serial: u64,
    state: Mutex<State>,
    /// Timeout scans without a completed transaction since (C client's `stall`).
    pub stall: AtomicU32,
    closed_tx: watch::Sender<bool>,
    hooks: ConnHooks,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a transaction; picks a `trans` not in flight (never 0).
    fn register(&self, tx: mpsc::Sender<Frame>) -> Result<u64, Error> {
        let mut st = self.lock();
        if let Some(reason) = &st.closed {
            return Err(reason.clone());
        }
        loop {
            let trans = st.next_trans;
            st.next_trans = st.next_trans.wrapping_add(1).max(1);
            if let std::collections::hash_map::Entry::Vacant(v) = st.inflight.entry(trans) {
                v.insert(tx);
                return Ok(trans);
            }
        }
    }

    /// Forgets a transaction (caller gave up or timed out).
    pub fn remove(&self, trans: u64) {
        self.lock().inflight.remove(&trans);
    }

    /// Why the connection closed, if it did.
    pub fn close_reason(&self) -> Option<Error> {
        self.lock().closed.clone()
    }

    /// Closes the connection: every waiter's channel is dropped (they report `reason`),
    /// both tasks stop. `notify` runs the close hook (unexpected deaths only).
    pub fn close(&self, reason: Error, notify: bool) {
        let drained = {
            let mut st = self.lock();
            if st.closed.is_some() {
                return;
            }
            tracing::debug!(addr = %self.addr, %reason, waiters = st.inflight.len(), "connection closed");
            st.closed = Some(reason);
            std::mem::take(&mut st.inflight)
        };
        drop(drained);
        self.closed_tx.send_replace(true);
        if notify {
            (self.hooks.on_close)(self.addr, self.serial);
        }
    }

    fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }
}

struct ConnInner {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Frame>,
    permits: Arc<Semaphore>,
    idx: usize,
    announcement: NodeAnnouncement,
    version: ProtocolVersion,
    server_version: ProtocolVersion,
}

impl Drop for ConnInner {
    fn drop(&mut self) {
        self.shared.close(Error::ConnectionClosed, false);
    }
}

/// Handle of a live connection; cheap to clone. The connection closes when the last
/// handle is dropped.
#[derive(Clone)]
pub(crate) struct Conn {
    inner: Arc<ConnInner>,
}

impl Conn {
    /// Starts the reader and writer tasks on an established (handshaken) socket.
    pub fn start(est: Established, serial: u64, limits: ConnLimits, hooks: ConnHooks) -> Conn {
        let (rd, wr) = est.stream.into_split();
        let (closed_tx, closed_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            addr: est.addr,
            serial,
            state: Mutex::new(State {
                inflight: HashMap::new(),
                next_trans: 1,
                closed: None,
            }),
            stall: AtomicU32::new(0),
            closed_tx,
            hooks,
        });
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        tokio::spawn(read_loop(
            shared.clone(),
            rd,
            est.buf,
            FrameDecoder::new(limits.max_payload),
            tx.clone(),
            closed_rx.clone(),
        ));
        tokio::spawn(write_loop(shared.clone(), wr, rx, closed_rx));
        Conn {
            inner: Arc::new(ConnInner {
                shared,
                tx,
                permits: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
                idx: est.idx,
                announcement: est.announcement,
                version: est.version,
                server_version: est.server_version,
            }),
        }
    }

    /// The address the client connected to.
    pub fn addr(&self) -> NodeAddr {
        self.inner.shared.addr
    }

    /// Serial number distinguishing successive connections to one address.
    pub fn serial(&self) -> u64 {
        self.inner.shared.serial
    }

    /// Index of [`Conn::addr`] among the node's advertised addresses.
    pub fn idx(&self) -> usize {
        self.inner.idx
    }

    /// What the node announced in the handshake.
    pub fn announcement(&self) -> &NodeAnnouncement {
        &self.inner.announcement
    }

    /// Versions: ours as sent, the node's as answered.
    pub fn versions(&self) -> (ProtocolVersion, ProtocolVersion) {
        (self.inner.version, self.inner.server_version)
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.is_closed()
    }

    /// Timeout count since the last completed transaction.
    pub fn stall(&self) -> u32 {
        self.inner.shared.stall.load(Ordering::Relaxed)
    }

    /// Resets the stall counter (after a successful ping).
    pub fn reset_stall(&self) {
        self.inner.shared.stall.store(0, Ordering::Relaxed);
    }

    /// Closes the connection as if the socket died (waiters get `reason`, the close hook
    /// runs so the client reconnects).
    pub fn kill(&self, reason: Error) {
        self.inner.shared.close(reason, true);
    }

    /// Sends `frame` as a new transaction (its `trans` is assigned here). Waits for an
    /// in-flight slot and room in the writer queue, both bounded by `timeout`, which is
    /// also the inactivity timeout of the replies.
    pub async fn request(&self, mut frame: Frame, timeout: Duration) -> Result<Transaction, Error> {
        let inner = &self.inner;
        let permit = match tokio::time::timeout(timeout, inner.permits.clone().acquire_owned())
            .await
        {
            Ok(p) => p.map_err(|_| Error::ConnectionClosed)?,
            Err(_) => {
                tracing::warn!(addr = %inner.shared.addr, cmd = frame.header.cmd, ?timeout, "no free in-flight slot on the connection within the timeout");
                return Err(Error::Timeout);
            }
        };
        let (tx, rx) = mpsc::channel(REPLY_BUFFER);
        let trans = inner.shared.register(tx)?;
        frame.header.trans = trans;
        let txn = Transaction::new(
            rx,
            trans,
            frame.header.cmd,
            inner.shared.clone(),
            timeout,
            permit,
        );
        match tokio::time::timeout(timeout, inner.tx.send(frame)).await {
            Ok(Ok(())) => Ok(txn),
            Ok(Err(_)) => Err(inner
                .shared
                .close_reason()
                .unwrap_or(Error::ConnectionClosed)),
            Err(_) => Err(Error::Timeout),
        }
    }
}

async fn read_loop(
    shared: Arc<Shared>,
    mut rd: OwnedReadHalf,
    mut buf: BytesMut,
    mut decoder: FrameDecoder,
    tx: mpsc::Sender<Frame>,
    mut closed: watch::Receiver<bool>,
) {
    let reason = 'conn: loop {
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    if !dispatch(&shared, frame, &tx, &mut closed).await {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(addr = %shared.addr, error = %e, "bad frame: dropping connection");
                    break 'conn Error::Protocol(format!("from {}: {e}", shared.addr));
                }
            }
        }
        if buf.capacity() - buf.len() < READ_RESERVE {
            buf.reserve(READ_RESERVE);
        }
        tokio::select! {
            biased;
            _ = closed.wait_for(|c| *c) => return,
            r = rd.read_buf(&mut buf) => match r {
                Ok(0) => {
                    tracing::debug!(addr = %shared.addr, "peer closed the connection");
                    break Error::ConnectionClosed;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(addr = %shared.addr, error = %e, "read failed");
                    break Error::ConnectionClosed;
                }
            },
        }
    };
    shared.close(reason, true);
}

/// Routes one received frame. Returns false when the connection is closing.
async fn dispatch(
    shared: &Shared,
    frame: Frame,
    tx: &mpsc::Sender<Frame>,
    closed: &mut watch::Receiver<bool>,
) -> bool {
    let h = frame.header;
    if h.is_reply() {
        let sender = {
            let mut st = shared.lock();
            if h.has_more() {
                st.inflight.get(&h.trans).cloned()
            } else {
                st.inflight.remove(&h.trans)
            }
        };
        let Some(sender) = sender else {
            tracing::debug!(addr = %shared.addr, trans = h.trans, cmd = h.cmd, "reply for no pending transaction");
            return true;
        };
        tokio::select! {
            biased;
            _ = closed.wait_for(|c| *c) => return false,
            _ = sender.send(frame) => {}
        }
        return true;
    }
    match h.command() {
        Some(Command::UpdateIds) => match IdContainer::decode_all(&frame.payload) {
            Ok(ids) => {
                tracing::info!(addr = %shared.addr, backends = ids.backends.len(), "route update");
                (shared.hooks.on_update_ids)(shared.addr, &ids);
                ack(shared, &frame, 0, tx);
            }
            Err(e) => {
                tracing::warn!(addr = %shared.addr, error = %e, "malformed UPDATE_IDS ignored");
                ack(shared, &frame, code::EINVAL, tx);
            }
        },
        _ => {
            tracing::debug!(addr = %shared.addr, cmd = h.cmd, "unsupported command from node");
            ack(shared, &frame, code::EOPNOTSUPP, tx);
        }
    }
    true
}

/// Answers a node-initiated command with an ACK when it asked for one.
fn ack(shared: &Shared, frame: &Frame, status: i32, tx: &mpsc::Sender<Frame>) {
    if !frame.header.flags.contains(CmdFlags::NEED_ACK) {
        return;
    }
    let reply = Frame::bare(frame.reply_header(status, false));
    if tx.try_send(reply).is_err() {
        tracing::debug!(addr = %shared.addr, "writer queue full: ACK dropped");
    }
}

async fn write_loop(
    shared: Arc<Shared>,
    wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Frame>,
    mut closed: watch::Receiver<bool>,
) {
    let mut w = BufWriter::with_capacity(WRITE_BUFFER, wr);
    loop {
        let frame = tokio::select! {
            biased;
            _ = closed.wait_for(|c| *c) => break,
            f = rx.recv() => match f {
                Some(f) => f,
                None => break,
            },
        };
        let res = tokio::select! {
            biased;
            _ = closed.wait_for(|c| *c) => break,
            r = write_batch(&mut w, frame, &mut rx) => r,
        };
        if let Err(e) = res {
            tracing::debug!(addr = %shared.addr, error = %e, "write failed");
            shared.close(Error::ConnectionClosed, true);
            break;
        }
    }
    let _ = w.shutdown().await;
}

/// Writes `first` and whatever else is queued, then flushes. Header, payload and data
/// are written as separate parts: bulk data goes straight to the socket, uncopied.
async fn write_batch(
    w: &mut BufWriter<OwnedWriteHalf>,
    first: Frame,
    rx: &mut mpsc::Receiver<Frame>,
) -> std::io::Result<()> {
    let mut next = Some(first);
    while let Some(f) = next {
        w.write_all(&f.header.to_bytes()).await?;
        w.write_all(&f.payload).await?;
        w.write_all(&f.data).await?;
        next = rx.try_recv().ok();
    }
    w.flush().await
}
