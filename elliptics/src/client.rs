//! The async Elliptics client: connections to storage nodes (one multiplexed TCP
//! connection per node), the route table they feed, background route refresh and
//! reconnects, and sessions carrying the per-operation settings.
//!
//! ```no_run
//! # async fn demo() -> Result<(), elliptics::Error> {
//! use elliptics::client::{Client, ClientConfig};
//! use elliptics::proto::NodeAddr;
//! use futures_util::StreamExt;
//!
//! let remote = NodeAddr::parse("127.0.0.1:1025:2").map_err(elliptics::Error::InvalidArgument)?;
//! let client = Client::connect(ClientConfig { remotes: vec![remote], ..Default::default() }).await?;
//! let session = client.session().groups(vec![1, 2]).namespace("bucket");
//! session.write(b"key", &b"hello"[..], 5, 0).await?;
//! let mut stream = session.read(b"key", 0, 0).await?;
//! while let Some(chunk) = stream.next().await {
//!     let _bytes = chunk?;
//! }
//! client.shutdown().await;
//! # Ok(()) }
//! ```

mod conn;
mod handshake;
mod inner;
mod iterator;
mod maintenance;
mod node_ops;
mod plan;
mod read;
mod result;
mod route;
mod session;
mod transaction;
mod write;
mod write_stream;

use std::sync::Arc;
use std::time::Duration;

pub use crate::remote::{Remote, resolve_all};
pub use handshake::VersionPolicy;
pub use iterator::{
    IteratorEnd, IteratorEntry, IteratorHandle, IteratorOptions, IteratorProgress, IteratorStream,
    IteratorTarget,
};
pub use plan::{WriteChunk, WriteKind, write_plan};
pub use read::ReadStream;
pub use result::{GroupResult, WriteOutcome};
pub use route::{RouteBackend, RouteOwner, RouteTable};
pub use session::{Session, SessionOptions};

use crate::error::Error;
use crate::proto::{DEFAULT_MAX_PAYLOAD, IoAttr, NodeAddr, NodeAnnouncement, ProtocolVersion};
use inner::ClientInner;

/// Client configuration. `Default` gives the elliptics-go/Backrunner defaults with no
/// remotes.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Nodes to connect to first; the rest of the cluster is learnt from their route
    /// lists. At least one must be reachable.
    pub remotes: Vec<NodeAddr>,
    /// Protocol version announced in the handshake (default [`VersionPolicy::Auto`]).
    pub protocol_version: VersionPolicy,
    /// Default per-request inactivity timeout (15 s), overridable per session.
    pub wait_timeout: Duration,
    /// Period of route refresh and reconnect passes (30 s).
    pub check_interval: Duration,
    /// TCP connect timeout (5 s).
    pub connect_timeout: Duration,
    /// Largest frame payload accepted from a node (64 MiB); bigger frames drop the
    /// connection with a protocol error before anything is allocated.
    pub max_payload: u64,
    /// Transactions in flight per connection (1024); further requests wait.
    pub max_in_flight: usize,
    /// Writes larger than this are sent as prepare/plain/commit chunks of this size
    /// (4 MiB).
    pub write_chunk_size: usize,
    /// Reads fetch at most this many bytes per request (1 MiB).
    pub read_chunk_size: usize,
    /// Timed-out transactions on a connection before it is pinged and, if the ping
    /// times out too, reset (3).
    pub stall_count: u32,
    /// Receive buffer (SO_RCVBUF) of an iterator's own connection (1 MiB; Linux doubles
    /// it): what the kernel holds for a slow iterator consumer before the node must wait.
    /// 0 leaves it to kernel autotuning (up to `net.ipv4.tcp_rmem`, often 6–32 MiB).
    pub iterator_recv_buffer: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            remotes: Vec::new(),
            protocol_version: VersionPolicy::Auto,
            wait_timeout: Duration::from_secs(15),
            check_interval: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_in_flight: 1024,
            write_chunk_size: 4 << 20,
            read_chunk_size: 1 << 20,
            stall_count: 3,
            iterator_recv_buffer: 1 << 20,
        }
    }
}

impl ClientConfig {
    /// Checks the settings against each other.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::InvalidArgument(m.into()));
        if self.remotes.is_empty() {
            return bad("no remotes configured");
        }
        if self.write_chunk_size == 0 || self.read_chunk_size == 0 {
            return bad("chunk sizes must be positive");
        }
        if (self.read_chunk_size as u64).saturating_add(IoAttr::SIZE as u64) > self.max_payload {
            return bad("max_payload must hold a read chunk plus its 208-byte io_attr");
        }
        if self.wait_timeout.is_zero() || self.check_interval.is_zero() {
            return bad("timeouts must be positive");
        }
        Ok(())
    }
}

/// What the client knows about one connected node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The address the client connected to.
    pub addr: NodeAddr,
    /// Its index among the node's advertised addresses.
    pub addr_index: usize,
    /// The protocol version the client announced.
    pub version: ProtocolVersion,
    /// The node's version from the handshake reply.
    pub server_version: ProtocolVersion,
    /// The node's addresses and backends as announced in the handshake.
    pub announcement: NodeAnnouncement,
}

/// A connected Elliptics client. Cheap to clone; all clones share the connections.
/// Background maintenance stops on [`Client::shutdown`] or when the last clone is
/// dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("nodes", &self.nodes())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the configured remotes (concurrently; fails only if none connects),
    /// asks them for their route lists, connects to every node revealed, and starts the
    /// background task (route refresh, reconnects with exponential backoff, stall
    /// pings).
    pub async fn connect(config: ClientConfig) -> Result<Client, Error> {
        config.validate()?;
        let inner = ClientInner::new(config);
        inner.bootstrap().await?;
        maintenance::spawn(&inner);
        Ok(Client { inner })
    }

    /// A session with no groups, empty namespace and the client's default timeout.
    pub fn session(&self) -> Session {
        Session::new(self.clone())
    }

    /// A snapshot of the route table.
    pub fn route_table(&self) -> Arc<RouteTable> {
        self.inner.routes()
    }

    /// Nodes with a live connection, ascending.
    pub fn nodes(&self) -> Vec<NodeAddr> {
        self.inner.live_nodes()
    }

    /// Per live node: addresses, protocol versions and handshake announcement.
    pub fn node_info(&self) -> Vec<NodeInfo> {
        self.inner
            .live_conns()
            .iter()
            .map(|c| {
                let (version, server_version) = c.versions();
                NodeInfo {
                    addr: c.addr(),
                    addr_index: c.idx(),
                    version,
                    server_version,
                    announcement: c.announcement().clone(),
                }
            })
            .collect()
    }

    /// The configuration the client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Stops the background task and closes every connection; pending requests fail
    /// with [`Error::ConnectionClosed`], later ones with [`Error::NoRoute`] or
    /// [`Error::Unreachable`].
    pub async fn shutdown(&self) {
        self.inner.shutdown().await;
    }

    pub(crate) fn inner(&self) -> &ClientInner {
        &self.inner
    }
}
