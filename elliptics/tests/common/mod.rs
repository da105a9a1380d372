//! Shared helpers of the capture-driven tests: selecting frames of the `.hex` vectors of
//! `tests/vectors/` (read by `elliptics::proto::capture`), and a fake three-node cluster that replays the server side of a
//! capture over real loopback sockets (advertised addresses rewritten to its ports).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use elliptics::client::{Client, ClientConfig, VersionPolicy};
use elliptics::proto::capture::{self, CapturedFrame, Direction};
use elliptics::proto::{Codec, Command, Frame, FrameDecoder, IoAttr, NodeAddr, ProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The key of captures 01–09.
pub const KEY: &[u8] = b"elliptics-vector-key-2";
/// The object written in capture 01.
pub const DATA: &[u8] = b"0123456789ABCDEFGHIJ-hello-elliptics";
/// Listen ports of s1, s2, s3 in the captures.
pub const PORTS: [u16; 3] = [1025, 1026, 1027];

/// Every frame of capture `name` (e.g. `"01-write-g1g2"`), in capture order.
pub fn load(name: &str) -> Vec<CapturedFrame> {
    capture::load(name).unwrap()
}

/// Index of the server a captured frame went to or came from (0 = s1 ...).
pub fn node_of(f: &CapturedFrame) -> usize {
    PORTS
        .iter()
        .position(|p| Some(*p) == f.server_port())
        .unwrap()
}

/// The requests of command `cmd` the C++ client sent in capture `name`.
pub fn sent(name: &str, cmd: Command) -> Vec<Frame> {
    select(&load(name), Direction::ToServer, cmd)
        .into_iter()
        .map(|f| f.frame)
        .collect()
}

/// The captured frames of command `cmd` in direction `dir`.
pub fn select(frames: &[CapturedFrame], dir: Direction, cmd: Command) -> Vec<CapturedFrame> {
    frames
        .iter()
        .filter(|f| f.dir == dir && f.frame.header.cmd == cmd as i32)
        .cloned()
        .collect()
}

/// Replaces every encoded `dnet_addr` of `from[i]` in `bytes` by `to[i]`.
pub fn rewrite_addrs(bytes: &mut [u8], from: &[NodeAddr], to: &[NodeAddr]) {
    for (f, t) in from.iter().zip(to) {
        let (f, t) = (f.to_vec(), t.to_vec());
        let mut i = 0;
        while i + f.len() <= bytes.len() {
            if bytes[i..i + f.len()] == f[..] {
                bytes[i..i + f.len()].copy_from_slice(&t);
                i += f.len();
            } else {
                i += 1;
            }
        }
    }
}

/// The address node `i` (0 = s1 ...) advertised in the captures.
pub fn capture_addr(i: usize) -> NodeAddr {
    NodeAddr::parse(&format!("127.0.0.1:{}:2", PORTS[i])).unwrap()
}

/// What a fake node does with one request.
pub enum Action {
    /// Answer with the captured reply frames.
    Script,
    /// Answer with these frames (`trans` is set from the request).
    Reply(Vec<Frame>),
    /// Never answer.
    Ignore,
    /// Close the connection.
    Close,
    /// Write these raw bytes.
    Raw(Vec<u8>),
    /// Answer with these frames, sleeping the given time before each.
    Paced(std::time::Duration, Vec<Frame>),
}

/// Decides per (node index, request) what to do.
pub type Behavior = Arc<dyn Fn(usize, &Frame) -> Action + Send + Sync>;

type Script = HashMap<(usize, i32, u32), Vec<Vec<Frame>>>;
type Pushers = Arc<Mutex<Vec<(usize, mpsc::UnboundedSender<Vec<u8>>)>>>;

/// Three listeners replaying the server side of a capture.
pub struct FakeCluster {
    /// The listen addresses of the three nodes.
    pub addrs: Vec<NodeAddr>,
    /// Every request the nodes received: (node index, frame).
    pub recorded: Arc<Mutex<Vec<(usize, Frame)>>>,
    pushers: Pushers,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl FakeCluster {
    /// Starts three nodes answering every request with the replies of `capture`.
    pub async fn start(capture: &str) -> FakeCluster {
        Self::start_with(capture, Arc::new(|_, _| Action::Script)).await
    }

    /// [`FakeCluster::start_with`] where `intercept` sees the requests of command `cmd`
    /// (with the index of the node they reach) and answers `None` to leave one to the
    /// script; every other request is answered from the capture.
    pub async fn intercepting(
        capture: &str,
        cmd: Command,
        intercept: impl Fn(usize, &Frame) -> Option<Action> + Send + Sync + 'static,
    ) -> FakeCluster {
        let behavior = move |node: usize, req: &Frame| {
            (req.header.cmd == cmd as i32)
                .then(|| intercept(node, req))
                .flatten()
                .unwrap_or(Action::Script)
        };
        Self::start_with(capture, Arc::new(behavior)).await
    }

    /// Starts three nodes whose answers `behavior` decides ([`Action::Script`]: the
    /// replies of `capture`).
    pub async fn start_with(capture: &str, behavior: Behavior) -> FakeCluster {
        let mut listeners = Vec::new();
        for _ in 0..3 {
            listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let addrs: Vec<NodeAddr> = listeners
            .iter()
            .map(|l| NodeAddr::from(l.local_addr().unwrap()))
            .collect();
        let from: Vec<NodeAddr> = (0..3).map(capture_addr).collect();
        let script = Arc::new(build_script(&load(capture), &from, &addrs));
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let pushers = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, l) in listeners.into_iter().enumerate() {
            let (script, recorded, pushers, behavior) = (
                script.clone(),
                recorded.clone(),
                pushers.clone(),
                behavior.clone(),
            );
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((sock, _)) = l.accept().await else {
                        return;
                    };
                    let (tx, rx) = mpsc::unbounded_channel();
                    pushers.lock().unwrap().push((i, tx));
                    tokio::spawn(serve(
                        i,
                        sock,
                        rx,
                        script.clone(),
                        recorded.clone(),
                        behavior.clone(),
                    ));
                }
            }));
        }
        FakeCluster {
            addrs,
            recorded,
            pushers,
            tasks,
        }
    }

    /// A client configuration for this cluster: node 0 as the remote, the 3.0 handshake
    /// of the captures, a 5 s wait timeout.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig {
            remotes: vec![self.addr(0)],
            protocol_version: VersionPolicy::Fixed(ProtocolVersion::V3_0),
            wait_timeout: std::time::Duration::from_secs(5),
            ..ClientConfig::default()
        }
    }

    /// A client of this cluster with [`FakeCluster::client_config`].
    pub async fn connect(&self) -> Client {
        self.connect_with(|_| {}).await
    }

    /// A client of this cluster, its configuration [`FakeCluster::client_config`] with
    /// `tweak` applied.
    pub async fn connect_with(&self, tweak: impl FnOnce(&mut ClientConfig)) -> Client {
        let mut config = self.client_config();
        tweak(&mut config);
        Client::connect(config).await.unwrap()
    }

    /// The listen address of node `i`.
    pub fn addr(&self, i: usize) -> NodeAddr {
        self.addrs[i]
    }

    /// Requests of command `cmd` the nodes received: (node index, frame).
    pub fn recorded(&self, cmd: Command) -> Vec<(usize, Frame)> {
        self.recorded
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, f)| f.header.cmd == cmd as i32)
            .cloned()
            .collect()
    }

    /// Sends `frame` unsolicited on every connection accepted by node `i`.
    pub fn push(&self, i: usize, frame: &Frame) {
        for (n, tx) in self.pushers.lock().unwrap().iter() {
            if *n == i {
                let _ = tx.send(frame.to_bytes());
            }
        }
    }
}

/// Captured replies keyed by (node, cmd, group), per request in capture order.
fn build_script(frames: &[CapturedFrame], from: &[NodeAddr], to: &[NodeAddr]) -> Script {
    let mut script: Script = HashMap::new();
    for (n, req) in frames.iter().enumerate() {
        if req.dir != Direction::ToServer {
            continue;
        }
        let rh = req.frame.header;
        let replies: Vec<Frame> = frames[n + 1..]
            .iter()
            .filter(|f| f.dir == Direction::ToClient && f.client == req.client)
            .map(|f| {
                let mut b = f.raw.clone();
                rewrite_addrs(&mut b, from, to);
                Frame::decode_exact(&b).unwrap()
            })
            .filter(|f| f.header.trans == rh.trans && f.header.cmd == rh.cmd)
            .collect();
        let key = (node_of(req), rh.cmd, rh.id.group_id);
        script.entry(key).or_default().push(replies);
    }
    script
}

/// The captured replies for a request, falling back to another node's, then another
/// group's. The last entry of a key is reused.
fn scripted(
    script: &Script,
    used: &mut HashMap<(usize, i32, u32), usize>,
    i: usize,
    f: &Frame,
) -> Vec<Frame> {
    let (cmd, group) = (f.header.cmd, f.header.id.group_id);
    let key = [(i, cmd, group)]
        .into_iter()
        .chain((0..3).map(|n| (n, cmd, group)))
        .chain(script.keys().filter(|k| k.1 == cmd).copied())
        .find(|k| script.contains_key(k));
    let Some(key) = key else { return Vec::new() };
    let list = &script[&key];
    let n = used.entry(key).or_insert(0);
    let replies = list[(*n).min(list.len() - 1)].clone();
    *n += 1;
    replies
}

async fn serve(
    i: usize,
    mut sock: tokio::net::TcpStream,
    mut pushes: mpsc::UnboundedReceiver<Vec<u8>>,
    script: Arc<Script>,
    recorded: Arc<Mutex<Vec<(usize, Frame)>>>,
    behavior: Behavior,
) {
    let mut dec = FrameDecoder::new(64 << 20);
    let mut buf = BytesMut::new();
    let mut used = HashMap::new();
    loop {
        while let Ok(Some(req)) = dec.decode(&mut buf) {
            recorded.lock().unwrap().push((i, req.clone()));
            let h = req.header;
            let action = if h.cmd == Command::ReverseLookup as i32
                && !ProtocolVersion::from_id(&h.id.id).compatible(&ProtocolVersion::V3_0)
            {
                Action::Close
            } else {
                behavior(i, &req)
            };
            let (pause, replies) = match action {
                Action::Script => (None, scripted(&script, &mut used, i, &req)),
                Action::Reply(r) => (None, r),
                Action::Paced(d, r) => (Some(d), r),
                Action::Ignore => continue,
                Action::Close => return,
                Action::Raw(bytes) => {
                    let _ = sock.write_all(&bytes).await;
                    continue;
                }
            };
            for mut r in replies {
                if let Some(d) = pause {
                    tokio::time::sleep(d).await;
                }
                r.header.trans = h.trans;
                if sock.write_all(&r.to_bytes()).await.is_err() {
                    return;
                }
            }
        }
        tokio::select! {
            n = sock.read_buf(&mut buf) => match n {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            p = pushes.recv() => match p {
                Some(bytes) => {
                    if sock.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
        }
    }
}

/// Header and payload bytes of `f` with `trans` (and optionally more ranges) zeroed.
pub fn masked(f: &Frame, ranges: &[std::ops::Range<usize>]) -> Vec<u8> {
    let mut b = f.to_bytes();
    b[104..112].fill(0);
    for r in ranges {
        b[r.clone()].fill(0);
    }
    b
}

/// The `dnet_io_attr` at the start of `f`'s payload (READ, WRITE, DEL).
pub fn io_attr(f: &Frame) -> IoAttr {
    IoAttr::decode(&mut elliptics::proto::codec::Reader::new(&f.payload)).unwrap()
}

/// Decodes the structure `T` filling `f`'s payload.
pub fn body<T: Codec>(f: &Frame) -> T {
    T::decode_all(&f.payload).unwrap()
}
