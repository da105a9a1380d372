//! Shared state of a client: live connections by address, the route table, remembered
//! protocol versions and the reconnect list; connecting to a node and discovering the
//! cluster through ROUTE_LIST.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::ClientConfig;
use super::conn::{Conn, ConnHooks, ConnLimits};
use super::handshake::{ConnectParams, establish};
use super::route::RouteTable;
use crate::error::Error;
use crate::proto::{AddrContainer, Codec, Id, NodeAddr, ProtocolVersion, request};

/// Reconnect schedule of one address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub due: Instant,
    pub delay: Duration,
}

pub(crate) struct ClientInner {
    pub config: ClientConfig,
    routes: RwLock<Arc<RouteTable>>,
    conns: RwLock<HashMap<NodeAddr, Conn>>,
    versions: Mutex<HashMap<NodeAddr, ProtocolVersion>>,
    pub reconnect: Mutex<HashMap<NodeAddr, Backoff>>,
    serial: AtomicU64,
    pub wake: Arc<Notify>,
    pub shutdown_tx: watch::Sender<bool>,
    pub task: Mutex<Option<JoinHandle<()>>>,
    weak: Weak<ClientInner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ClientInner {
    pub fn new(config: ClientConfig) -> Arc<ClientInner> {
        Arc::new_cyclic(|weak| ClientInner {
            config,
            routes: RwLock::new(Arc::new(RouteTable::new())),
            conns: RwLock::new(HashMap::new()),
            versions: Mutex::new(HashMap::new()),
            reconnect: Mutex::new(HashMap::new()),
            serial: AtomicU64::new(1),
            wake: Arc::new(Notify::new()),
            shutdown_tx: watch::channel(false).0,
            task: Mutex::new(None),
            weak: weak.clone(),
        })
    }

    pub fn is_shut_down(&self) -> bool {
        *self.shutdown_tx.borrow()
    }

    /// Connects the remotes and discovers the cluster. Fails only if no remote connects.
    pub async fn bootstrap(&self) -> Result<(), Error> {
        let remotes = self.config.remotes.clone();
        let results = join_all(remotes.iter().map(|a| self.connect_node(*a))).await;
        let mut errors = Vec::new();
        let mut conns = Vec::new();
        for (addr, r) in remotes.iter().zip(results) {
            match r {
                Ok(c) => conns.push(c),
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "remote not connected");
                    errors.push((*addr, e));
                }
            }
        }
        if conns.is_empty() {
            return Err(match errors.len() {
                1 => errors.remove(0).1,
                _ => Error::Unreachable {
                    addr: remotes.first().copied().unwrap_or_else(|| errors[0].0),
                    reason: errors
                        .iter()
                        .map(|(a, e)| format!("{a}: {e}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                },
            });
        }
        join_all(conns.iter().map(|c| self.discover(c))).await;
        Ok(())
    }

    fn params(&self) -> ConnectParams {
        ConnectParams {
            connect_timeout: self.config.connect_timeout,
            handshake_timeout: self.config.wait_timeout,
            max_payload: self.config.max_payload,
        }
    }

    /// The version to try first with `addr`: what worked with it before, else what worked
    /// with any node of the cluster (so `auto` against a 3.0 cluster tries 2.26 only on
    /// the very first connection, instead of leaving a `VERSION MISMATCH` error in every
    /// node's log once per connection).
    fn remembered_version(&self, addr: &NodeAddr) -> Option<ProtocolVersion> {
        let versions = lock(&self.versions);
        versions
            .get(addr)
            .or_else(|| versions.values().next())
            .copied()
    }

    /// The live connection to `addr`, or a new one (handshake, routes applied). A failed
    /// attempt puts the address on the reconnect list.
    pub async fn connect_node(&self, addr: NodeAddr) -> Result<Conn, Error> {
        if let Some(c) = self.live_conn(&addr) {
            return Ok(c);
        }
        if self.is_shut_down() {
            return Err(Error::ConnectionClosed);
        }
        let remembered = self.remembered_version(&addr);
        let candidates = self.config.protocol_version.candidates(remembered);
        let est = match establish(addr, &candidates, self.params()).await {
            Ok(est) => est,
            Err(e) => {
                self.schedule_reconnect(addr);
                return Err(e);
            }
        };
        lock(&self.versions).insert(addr, est.version);
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let limits = ConnLimits {
            max_payload: self.config.max_payload,
            max_in_flight: self.config.max_in_flight,
        };
        let conn = Conn::start(est, serial, limits, self.hooks());
        let (conn, replaced) = {
            let mut map = self.conns.write().unwrap_or_else(|p| p.into_inner());
            match map.get(&addr) {
                Some(existing) if !existing.is_closed() => (existing.clone(), Some(conn)),
                _ => (conn.clone(), map.insert(addr, conn)),
            }
        };
        drop(replaced);
        self.update_routes(|t| t.apply(addr, &conn.announcement().ids));
        lock(&self.reconnect).remove(&addr);
        if conn.is_closed() || self.is_shut_down() {
            self.forget(addr, conn.serial());
            return Err(Error::ConnectionClosed);
        }
        Ok(conn)
    }

    /// A new connection to `addr` used by one caller alone and not shared with other
    /// requests (a long reply stream can back-pressure it without stalling anybody):
    /// handshake as usual, routes not applied, route pushes ignored. It closes when the
    /// last handle is dropped; [`ClientInner::shutdown`] does not know it. A non-zero
    /// `recv_buffer` caps the socket's receive buffer (SO_RCVBUF).
    pub async fn dedicated_conn(&self, addr: NodeAddr, recv_buffer: usize) -> Result<Conn, Error> {
        if self.is_shut_down() {
            return Err(Error::ConnectionClosed);
        }
        let remembered = self.remembered_version(&addr);
        let candidates = self.config.protocol_version.candidates(remembered);
        let est = establish(addr, &candidates, self.params()).await?;
        lock(&self.versions).insert(addr, est.version);
        if recv_buffer > 0 {
            if let Err(e) = socket2::SockRef::from(&est.stream).set_recv_buffer_size(recv_buffer) {
                tracing::debug!(%addr, error = %e, "receive buffer not set");
            }
        }
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let limits = ConnLimits {
            max_payload: self.config.max_payload,
            max_in_flight: self.config.max_in_flight,
        };
        let hooks = ConnHooks {
            on_update_ids: Box::new(|_, _| {}),
            on_close: Box::new(|_, _| {}),
        };
        Ok(Conn::start(est, serial, limits, hooks))
    }

    fn hooks(&self) -> ConnHooks {
        let (w1, w2) = (self.weak.clone(), self.weak.clone());
        ConnHooks {
            on_update_ids: Box::new(move |addr, ids| {
                if let Some(inner) = w1.upgrade() {
                    inner.update_routes(|t| t.apply(addr, ids));
                }
            }),
            on_close: Box::new(move |addr, serial| {
                if let Some(inner) = w2.upgrade() {
                    if inner.forget(addr, serial) && !inner.is_shut_down() {
                        inner.schedule_reconnect(addr);
                        inner.wake.notify_one();
                    }
                }
            }),
        }
    }

    /// Drops connection `serial` to `addr` and its routes; false if it was not current.
    pub fn forget(&self, addr: NodeAddr, serial: u64) -> bool {
        let removed = {
            let mut map = self.conns.write().unwrap_or_else(|p| p.into_inner());
            match map.get(&addr) {
                Some(c) if c.serial() == serial => map.remove(&addr),
                _ => None,
            }
        };
        let was_current = removed.is_some();
        drop(removed);
        if was_current {
            self.update_routes(|t| t.remove_node(&addr));
        }
        was_current
    }

    /// Puts `addr` on the reconnect list, doubling its delay if it already is there.
    pub fn schedule_reconnect(&self, addr: NodeAddr) {
        let max = self.config.check_interval.max(Duration::from_secs(1));
        let first = Duration::from_millis(500).min(max);
        let mut list = lock(&self.reconnect);
        let b = list.entry(addr).or_insert(Backoff {
            due: Instant::now(),
            delay: first / 2,
        });
        b.delay = (b.delay * 2).clamp(first, max);
        b.due = Instant::now() + b.delay;
    }

    /// Asks `conn` for its route list and connects to every node in it not yet
    /// connected (using the connection's address index).
    pub async fn discover(&self, conn: &Conn) {
        let addrs = match self.route_list(conn).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(addr = %conn.addr(), error = %e, "route list failed");
                return;
            }
        };
        let new: Vec<NodeAddr> = addrs
            .into_iter()
            .filter(|a| self.live_conn(a).is_none())
            .collect();
        for (addr, r) in new
            .iter()
            .zip(join_all(new.iter().map(|a| self.connect_node(*a))).await)
        {
            if let Err(e) = r {
                tracing::warn!(%addr, error = %e, "node from route list not connected");
            }
        }
    }

    async fn route_list(&self, conn: &Conn) -> Result<Vec<NodeAddr>, Error> {
        let txn = conn
            .request(request::route_list(), self.config.wait_timeout)
            .await?;
        let reply = txn.final_reply().await?;
        let list = AddrContainer::decode_all(&reply.payload)?;
        if list.addrs.iter().any(|a| a.is_empty()) {
            return Err(Error::Protocol("route list with an empty address".into()));
        }
        Ok(list.node_addresses(conn.idx())?)
    }

    pub fn update_routes(&self, f: impl FnOnce(&mut RouteTable)) {
        let mut g = self.routes.write().unwrap_or_else(|p| p.into_inner());
        f(Arc::make_mut(&mut g));
    }

    pub fn routes(&self) -> Arc<RouteTable> {
        self.routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn live_conn(&self, addr: &NodeAddr) -> Option<Conn> {
        let map = self.conns.read().unwrap_or_else(|p| p.into_inner());
        map.get(addr).filter(|c| !c.is_closed()).cloned()
    }

    /// Live connections, by address ascending.
    pub fn live_conns(&self) -> Vec<Conn> {
        let map = self.conns.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<Conn> = map.values().filter(|c| !c.is_closed()).cloned().collect();
        v.sort_by_key(|c| c.addr());
        v
    }

    pub fn live_nodes(&self) -> Vec<NodeAddr> {
        self.live_conns().iter().map(Conn::addr).collect()
    }

    /// The owner of `id` in `group` ([`Error::NoRoute`] if none).
    pub fn route(&self, id: &Id, group: u32) -> Result<(NodeAddr, i32), Error> {
        self.routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .owner(id, group)
            .ok_or(Error::NoRoute { group })
    }

    /// The live connection to `addr` ([`Error::Unreachable`] if none).
    pub fn conn(&self, addr: &NodeAddr) -> Result<Conn, Error> {
        self.live_conn(addr).ok_or_else(|| Error::Unreachable {
            addr: *addr,
            reason: "not connected".into(),
        })
    }

    /// Stops the background task, closes every connection, clears routes.
    pub async fn shutdown(&self) {
        self.shutdown_tx.send_replace(true);
        let task = lock(&self.task).take();
        if let Some(t) = task {
            let _ = t.await;
        }
        let conns: Vec<Conn> = {
            let mut map = self.conns.write().unwrap_or_else(|p| p.into_inner());
            map.drain().map(|(_, c)| c).collect()
        };
        for c in &conns {
            c.kill(Error::ConnectionClosed);
        }
        drop(conns);
        lock(&self.reconnect).clear();
        self.update_routes(|t| *t = RouteTable::new());
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        self.shutdown_tx.send_replace(true);
    }
}
