//! The protocol server: binds the listener, opens the backends, accepts connections and
//! owns the node-wide state (backends, known peers, subscribers to route pushes, command
//! counters). [`Node::start`] returns a handle that stops everything on shutdown.

mod cmd;
mod conn;
mod counters;
mod monitor;
mod peers;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use elliptics::proto::{
    AddrContainer, CmdFlags, Command, Frame, Header, IdContainer, NodeAddr, NodeAnnouncement,
};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::backend::{Backend, OpenError};
use crate::blob::SyncPolicy;
use crate::config::ValidNodeConfig;

pub use counters::CommandCounters;

/// Errors that stop a node from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A backend failed to open.
    #[error(transparent)]
    Backend(#[from] OpenError),
    /// The listener could not be bound.
    #[error("listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// A blocking task failed.
    #[error("startup task failed: {0}")]
    Join(String),
}

/// A connection that received our ids and gets UPDATE_IDS pushes.
struct Subscriber {
    tx: mpsc::Sender<Frame>,
}

/// Node-wide state shared by every connection.
pub(crate) struct NodeState {
    /// The validated configuration.
    pub(crate) config: ValidNodeConfig,
    /// The first (and only) advertised address.
    pub(crate) addr: NodeAddr,
    /// Backends by id.
    pub(crate) backends: BTreeMap<u32, Arc<Backend>>,
    /// Joined server peers: address → how many connections vouch for it.
    peers: Mutex<HashMap<NodeAddr, u64>>,
    /// Connections (by id) that get UPDATE_IDS pushes.
    subscribers: Mutex<HashMap<u64, Subscriber>>,
    /// Per-command counters for MONITOR_STAT.
    pub(crate) counters: CommandCounters,
    /// One permit per connection served; `max_connections` in all.
    pub(crate) connections: Arc<Semaphore>,
    /// Running iterators (ITERATOR), by id.
    pub(crate) iterators: cmd::iterator::IteratorRegistry,
}

impl NodeState {
    /// What this node announces: its address and enabled backends' ids.
    pub(crate) fn announcement(&self) -> NodeAnnouncement {
        NodeAnnouncement {
            addrs: AddrContainer::single_node(vec![self.addr]),
            ids: IdContainer {
                backends: self
                    .backends
                    .values()
                    .filter(|b| b.is_enabled())
                    .map(|b| b.announcement())
                    .collect(),
            },
        }
    }

    /// Every joined server, including this node, except `exclude`.
    pub(crate) fn route_list(&self, exclude: Option<NodeAddr>) -> AddrContainer {
        let mut addrs = vec![self.addr];
        let peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        let mut others: Vec<NodeAddr> = peers.keys().copied().filter(|a| *a != self.addr).collect();
        others.sort();
        addrs.extend(others);
        addrs.retain(|a| Some(*a) != exclude);
        AddrContainer {
            node_addr_num: 1,
            addrs,
        }
    }

    /// Counts one more connection vouching for the joined server `addr`.
    pub(crate) fn add_peer(&self, addr: NodeAddr) {
        let mut p = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        *p.entry(addr).or_insert(0) += 1;
    }

    /// Undoes [`add_peer`](Self::add_peer); the server leaves the route list when no
    /// connection vouches for it any more.
    pub(crate) fn remove_peer(&self, addr: NodeAddr) {
        let mut p = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = p.get_mut(&addr) {
            *n -= 1;
            if *n == 0 {
                p.remove(&addr);
            }
        }
    }

    /// Sends UPDATE_IDS pushes to connection `conn_id` through `tx` from now on.
    pub(crate) fn subscribe(&self, conn_id: u64, tx: mpsc::Sender<Frame>) {
        let mut s = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        s.insert(conn_id, Subscriber { tx });
    }

    /// Stops the pushes to connection `conn_id`.
    pub(crate) fn unsubscribe(&self, conn_id: u64) {
        let mut s = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        s.remove(&conn_id);
    }

    /// Pushes UPDATE_IDS for `backend` to every connection that received our ids. A
    /// subscriber whose queue is full misses the push (it refreshes routes periodically).
    pub(crate) fn push_route_update(&self, backend: &Backend) {
        let mut h = Header::new(Command::UpdateIds);
        h.flags = CmdFlags::DIRECT | CmdFlags::NOLOCK;
        let frame = Frame::with_body(
            h,
            &IdContainer {
                backends: vec![backend.announcement()],
            },
        );
        let s = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for sub in s.values() {
            let _ = sub.tx.try_send(frame.clone());
        }
    }

    /// The local backend that owns `id` in `group` by the ring rule, among enabled
    /// backends of this node.
    pub(crate) fn local_owner(
        &self,
        id: &elliptics::proto::Id,
        group: u32,
    ) -> Option<&Arc<Backend>> {
        let mut best: Option<(&elliptics::proto::Id, &Arc<Backend>)> = None;
        let mut greatest: Option<(&elliptics::proto::Id, &Arc<Backend>)> = None;
        for b in self
            .backends
            .values()
            .filter(|b| b.group == group && b.is_enabled())
        {
            for rid in &b.ring_ids {
                if rid <= id && best.is_none_or(|(x, _)| rid > x) {
                    best = Some((rid, b));
                }
                if greatest.is_none_or(|(x, _)| rid > x) {
                    greatest = Some((rid, b));
                }
            }
        }
        best.or(greatest).map(|(_, b)| b)
    }
}

/// A running node.
pub struct Node {
    state: Arc<NodeState>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Node {
    /// Opens the backends, binds the listener and starts serving.
    pub async fn start(config: ValidNodeConfig) -> Result<Node, StartError> {
        let mut backends = BTreeMap::new();
        for b in &config.backends {
            let cfg = b.clone();
            let backend = tokio::task::spawn_blocking(move || Backend::open(&cfg))
                .await
                .map_err(|e| StartError::Join(e.to_string()))??;
            backends.insert(b.id, Arc::new(backend));
        }
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let bound = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let addr = config.advertise.unwrap_or_else(|| {
            let ip = if bound.ip().is_unspecified() {
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
            } else {
                bound.ip()
            };
            NodeAddr(SocketAddr::new(ip, bound.port()))
        });
        let state = Arc::new(NodeState {
            connections: Arc::new(Semaphore::new(config.max_connections)),
            config,
            addr,
            backends,
            peers: Mutex::new(HashMap::new()),
            subscribers: Mutex::new(HashMap::new()),
            counters: CommandCounters::default(),
            iterators: Default::default(),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(conn::accept_loop(
            state.clone(),
            listener,
            shutdown_rx.clone(),
        ));
        tasks.spawn(peers::maintain(state.clone(), shutdown_rx.clone()));
        for b in state.backends.values() {
            if let SyncPolicy::Interval(every) = b.config.sync {
                tasks.spawn(sync_loop(b.clone(), every, shutdown_rx.clone()));
            }
        }
        tracing::info!(%addr, backends = state.backends.len(), version = %state.config.version, "node serving");
        Ok(Node {
            state,
            shutdown,
            tasks,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> NodeAddr {
        self.state.addr
    }

    /// The backends of this node.
    pub fn backends(&self) -> Vec<Arc<Backend>> {
        self.state.backends.values().cloned().collect()
    }

    /// Ids of the iterators (ITERATOR) running on this node, ascending.
    pub fn running_iterators(&self) -> Vec<u64> {
        self.state.iterators.ids()
    }

    /// Stops accepting, closes connections, syncs the stores.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        for b in self.state.backends.values() {
            let store = b.store.clone();
            let _ = tokio::task::spawn_blocking(move || store.sync()).await;
        }
    }

    /// Runs until `shutdown` resolves, then shuts down.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()>) {
        shutdown.await;
        self.shutdown().await;
    }
}

async fn sync_loop(backend: Arc<Backend>, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let store = backend.store.clone();
        match tokio::task::spawn_blocking(move || store.sync()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(backend = backend.id, error = %e, "periodic fsync failed"),
            Err(e) => {
                tracing::warn!(backend = backend.id, error = %e, "periodic fsync task failed")
            }
        }
    }
}
