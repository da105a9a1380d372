//! Connections: the accept loop (with a cap on concurrent connections) and, per
//! connection, a reader that cuts frames with a bounded decoder and hands each request to
//! its own task (at most `max_in_flight` at once, then the reader stops: TCP
//! backpressure), and a writer that owns the socket's write half and flushes in batches.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use elliptics::proto::{Codec, Frame, FrameDecoder, Header, NodeAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::NodeState;
use super::cmd;

/// What a request handler may need to know about its connection.
pub(crate) struct ConnCtx {
    /// Connection number, unique while the node runs.
    pub(crate) id: u64,
    /// The remote end of the socket.
    pub(crate) peer: NodeAddr,
    /// Frames queued here are written to the connection (UPDATE_IDS pushes use it).
    pub(crate) tx: mpsc::Sender<Frame>,
    /// The server address a peer announced with JOIN on this connection.
    pub(crate) joined: Mutex<Option<NodeAddr>>,
    /// Set when the connection must be closed after the current replies.
    pub(crate) close: watch::Sender<bool>,
}

impl ConnCtx {
    /// Records the address a peer joined with; returns the one it joined with before.
    pub(crate) fn set_joined(&self, addr: NodeAddr) -> Option<NodeAddr> {
        self.joined
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(addr)
    }

    /// The address a peer joined with on this connection, if it did.
    pub(crate) fn joined(&self) -> Option<NodeAddr> {
        *self.joined.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Accepts connections until `stop` changes, at most `max_connections` served at once,
/// then waits for the open ones to finish.
pub(super) async fn accept_loop(
    state: Arc<NodeState>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let mut next_id = 0u64;
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let Ok(permit) = state.connections.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, limit = state.config.max_connections, "connection limit reached, refusing");
                        drop(stream);
                        continue;
                    };
                    next_id += 1;
                    let span = tracing::debug_span!("conn", id = next_id, %peer);
                    conns.spawn(serve(state.clone(), stream, next_id, permit, stop.clone()).instrument(span));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

async fn serve(
    state: Arc<NodeState>,
    stream: TcpStream,
    id: u64,
    _permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let peer = match stream.peer_addr() {
        Ok(p) => NodeAddr::from(p),
        Err(_) => return,
    };
    let _ = stream.set_nodelay(true);
    let (mut rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel::<Frame>(1024);
    let (close_tx, mut close_rx) = watch::channel(false);
    let writer = tokio::spawn(write_loop(wr, rx));
    let ctx = Arc::new(ConnCtx {
        id,
        peer,
        tx,
        joined: Mutex::new(None),
        close: close_tx,
    });
    let in_flight = Arc::new(Semaphore::new(state.config.max_in_flight));
    let mut decoder = FrameDecoder::new(state.config.max_payload);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut handlers = JoinSet::new();
    'conn: loop {
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let permit = tokio::select! {
                        p = in_flight.clone().acquire_owned() => match p {
                            Ok(p) => p,
                            Err(_) => break 'conn,
                        },
                        _ = stop.changed() => break 'conn,
                    };
                    handlers.spawn(handle(state.clone(), ctx.clone(), frame, permit));
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "malformed frame, closing connection");
                    break 'conn;
                }
            }
        }
        while handlers.try_join_next().is_some() {}
        tokio::select! {
            r = rd.read_buf(&mut buf) => match r {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "read failed");
                    break;
                }
            },
            _ = close_rx.changed() => break,
            _ = stop.changed() => break,
        }
    }
    // Tell long-running handlers (iterators waiting for room or paused) to stop; let
    // the others finish and queue their replies.
    ctx.close.send_replace(true);
    let drain = async { while handlers.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(30), drain)
        .await
        .is_err()
    {
        tracing::warn!(%peer, "handlers still running after close, abandoning them");
    }
    state.unsubscribe(id);
    if let Some(addr) = ctx.joined() {
        state.remove_peer(addr);
    }
    drop(ctx);
    let _ = writer.await;
}

async fn handle(
    state: Arc<NodeState>,
    ctx: Arc<ConnCtx>,
    frame: Frame,
    _permit: OwnedSemaphorePermit,
) {
    let replies = cmd::handle(&state, &ctx, frame).await;
    for r in replies {
        if ctx.tx.send(r).await.is_err() {
            return;
        }
    }
}

async fn write_loop(wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Frame>) {
    let mut w = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(frame) = rx.recv().await {
        if write_frame(&mut w, &frame).await.is_err() {
            return;
        }
        // Batch: flush only once nothing else is queued.
        while let Ok(next) = rx.try_recv() {
            if write_frame(&mut w, &next).await.is_err() {
                return;
            }
        }
        if w.flush().await.is_err() {
            return;
        }
    }
    let _ = w.shutdown().await;
}

async fn write_frame(w: &mut BufWriter<OwnedWriteHalf>, f: &Frame) -> std::io::Result<()> {
    let mut h = [0u8; Header::SIZE];
    f.header.encode(&mut &mut h[..]);
    w.write_all(&h).await?;
    w.write_all(&f.payload).await?;
    w.write_all(&f.data).await
}
