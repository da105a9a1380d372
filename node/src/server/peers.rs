//! Links to other nodes. For every configured remote (and every node their route lists
//! reveal) the node connects like a client — REVERSE_LOOKUP — then announces itself with
//! JOIN and AUTH, and asks for ROUTE_LIST periodically; every linked node appears in this
//! node's own ROUTE_LIST replies, so a client that knows one node learns them all.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use elliptics::proto::{
    AddrContainer, AuthRequest, CmdFlags, Command, Frame, FrameDecoder, Header, NodeAddr,
    NodeAnnouncement, ProtocolVersion, request,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::NodeState;

/// Longest wait for a peer's TCP connect and for each handshake reply.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Route lists and handshake replies are small; anything bigger is hostile.
const MAX_PEER_PAYLOAD: u64 = 16 << 20;

/// Keeps a link to every configured remote and every node their route lists name (this
/// node excepted): resolves the remotes every `peer_interval` and restarts dead links,
/// until `stop` changes.
pub(super) async fn maintain(state: Arc<NodeState>, mut stop: watch::Receiver<bool>) {
    let (learned_tx, mut learned_rx) = mpsc::channel::<Vec<NodeAddr>>(64);
    let mut targets: HashSet<NodeAddr> = HashSet::new();
    let mut links: HashMap<NodeAddr, JoinHandle<()>> = HashMap::new();
    let mut tick = tokio::time::interval(state.config.peer_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                // Configured remotes, names resolved afresh each time.
                for remote in &state.config.remotes {
                    match remote.resolve().await {
                        Ok(addrs) => targets.extend(addrs),
                        Err(e) => tracing::warn!(error = %e, "peer address not resolved"),
                    }
                }
            }
            Some(addrs) = learned_rx.recv() => {
                let before = targets.len();
                targets.extend(addrs.into_iter().filter(|a| !a.is_empty()));
                if targets.len() == before {
                    continue;
                }
            }
            _ = stop.changed() => break,
        }
        targets.remove(&state.addr);
        for addr in &targets {
            let alive = links.get(addr).is_some_and(|h| !h.is_finished());
            if !alive {
                let h = tokio::spawn(link(state.clone(), *addr, learned_tx.clone(), stop.clone()));
                links.insert(*addr, h);
            }
        }
    }
    for (_, h) in links {
        h.abort();
    }
}

#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("connect: {0}")]
    Io(#[from] std::io::Error),
    #[error("connect timed out")]
    Timeout,
    #[error("handshake: {0}")]
    Handshake(String),
    #[error("bad frame: {0}")]
    Decode(#[from] elliptics::proto::DecodeError),
}

async fn link(
    state: Arc<NodeState>,
    addr: NodeAddr,
    learned: mpsc::Sender<Vec<NodeAddr>>,
    mut stop: watch::Receiver<bool>,
) {
    let result = tokio::select! {
        r = run_link(&state, addr, &learned) => r,
        _ = stop.changed() => return,
    };
    if let Err(e) = result {
        tracing::debug!(peer = %addr, error = %e, "peer link down");
    }
}

async fn run_link(
    state: &NodeState,
    addr: NodeAddr,
    learned: &mpsc::Sender<Vec<NodeAddr>>,
) -> Result<(), LinkError> {
    let mut sock = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr.0))
        .await
        .map_err(|_| LinkError::Timeout)??;
    sock.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(4096);
    let mut dec = FrameDecoder::new(MAX_PEER_PAYLOAD);
    send(&mut sock, &request::reverse_lookup(state.config.version)).await?;
    let reply = tokio::time::timeout(CONNECT_TIMEOUT, next_frame(&mut sock, &mut dec, &mut buf))
        .await
        .map_err(|_| LinkError::Timeout)??;
    if reply.header.status != 0 || reply.header.command() != Some(Command::ReverseLookup) {
        return Err(LinkError::Handshake(format!(
            "status {}",
            reply.header.status
        )));
    }
    let theirs = ProtocolVersion::from_id(reply.header.key());
    if !theirs.compatible(&state.config.version) {
        return Err(LinkError::Handshake(format!("peer speaks {theirs}")));
    }
    let announced: NodeAnnouncement = reply.body()?;
    if !announced.addrs.addrs.contains(&addr) {
        return Err(LinkError::Handshake(format!(
            "{addr} is not among the peer's addresses"
        )));
    }

    let mut join = Header::new(Command::Join);
    join.flags = CmdFlags::NOLOCK | CmdFlags::DIRECT;
    send(&mut sock, &Frame::with_body(join, &state.announcement())).await?;
    let mut auth = Header::new(Command::Auth);
    auth.flags = CmdFlags::NEED_ACK | CmdFlags::DIRECT;
    auth.trans = 1;
    send(
        &mut sock,
        &Frame::with_body(auth, &AuthRequest::new(&state.config.auth_cookie)),
    )
    .await?;

    state.add_peer(addr);
    tracing::info!(peer = %addr, "joined peer");
    let result = serve_link(state, &mut sock, &mut dec, &mut buf, learned).await;
    state.remove_peer(addr);
    result
}

async fn serve_link(
    state: &NodeState,
    sock: &mut TcpStream,
    dec: &mut FrameDecoder,
    buf: &mut BytesMut,
    learned: &mpsc::Sender<Vec<NodeAddr>>,
) -> Result<(), LinkError> {
    let mut trans = 1u64;
    let mut tick = tokio::time::interval(state.config.peer_interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                trans += 1;
                let mut f = request::route_list();
                f.header.trans = trans;
                send(sock, &f).await?;
            }
            frame = next_frame(sock, dec, buf) => {
                let frame = frame?;
                if frame.header.command() == Some(Command::Auth) && frame.header.status != 0 {
                    return Err(LinkError::Handshake("peer refused our auth cookie".into()));
                }
                if frame.header.is_reply() && frame.header.command() == Some(Command::RouteList) {
                    let list: AddrContainer = frame.body()?;
                    if let Ok(addrs) = list.node_addresses(0) {
                        let _ = learned.try_send(addrs);
                    }
                }
            }
        }
    }
}

async fn send(sock: &mut TcpStream, f: &Frame) -> std::io::Result<()> {
    sock.write_all(&f.to_bytes()).await
}

async fn next_frame(
    sock: &mut TcpStream,
    dec: &mut FrameDecoder,
    buf: &mut BytesMut,
) -> Result<Frame, LinkError> {
    loop {
        if let Some(f) = dec.decode(buf)? {
            return Ok(f);
        }
        if sock.read_buf(buf).await? == 0 {
            return Err(LinkError::Handshake("connection closed".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Remote;

    #[tokio::test]
    async fn resolves_addresses_and_names() {
        // `localhost` comes from /etc/hosts: no DNS server (and no network wait) involved.
        let ip = Remote::parse("127.0.0.1:1025:2").unwrap();
        assert_eq!(
            ip.resolve().await.unwrap(),
            [NodeAddr("127.0.0.1:1025".parse().unwrap())]
        );
        let name = Remote::parse("localhost:1025").unwrap();
        let addrs = name.resolve().await.unwrap();
        assert!(addrs.iter().all(|a| a.socket_addr().port() == 1025));
        assert!(addrs.iter().any(|a| a.socket_addr().ip().is_loopback()));
    }
}
