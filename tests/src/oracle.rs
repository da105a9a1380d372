//! A real Elliptics 3.0 cluster for tests: `dnet_ioserv` nodes of
//! `../shared/elliptics-oracle` (or `$BACKRUNNER_ORACLE_DIR`) started through its
//! `run-node.sh` on free loopback ports, one group per node, data in a temporary directory,
//! stopped when the [`OracleCluster`] is dropped (with `BACKRUNNER_ORACLE_KEEP` set, the
//! data directory and the nodes' logs stay, for diagnosis).
//!
//! The oracle's libraries need two Debian packages (`install-deps.sh`; `test.sh` runs it).
//! When the oracle directory is missing the tests that need it say so and pass; when
//! `BACKRUNNER_ORACLE_REQUIRED=1` (set by `test.sh` whenever the directory exists) a missing
//! or broken oracle fails them instead.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use elliptics::client::{Client, ClientConfig, VersionPolicy};
use elliptics::proto::{NodeAddr, ProtocolVersion};

use crate::wait_until;

/// The oracle directory, when present.
pub fn oracle_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("BACKRUNNER_ORACLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/elliptics-oracle")
        });
    let present = dir.join("run-node.sh").is_file() && dir.join("bin/dnet_ioserv").is_file();
    if present {
        return Some(dir);
    }
    assert!(
        std::env::var("BACKRUNNER_ORACLE_REQUIRED").as_deref() != Ok("1"),
        "BACKRUNNER_ORACLE_REQUIRED=1 but no elliptics oracle at {}",
        dir.display()
    );
    eprintln!(
        "elliptics oracle not found at {} (set BACKRUNNER_ORACLE_DIR): test skipped",
        dir.display()
    );
    None
}

/// Running `dnet_ioserv` nodes, node `i` serving group `groups[i]`.
pub struct OracleCluster {
    /// Node addresses, in group order.
    pub addrs: Vec<NodeAddr>,
    children: Vec<tokio::process::Child>,
    _dir: tempfile::TempDir,
}

impl OracleCluster {
    /// Starts one node per group, each joining the first, and waits until a client sees
    /// them all. `None` when the oracle is not installed (see the module docs).
    pub async fn start(groups: &[u32]) -> Option<OracleCluster> {
        let oracle = oracle_dir()?;
        let mut dir = tempfile::tempdir().expect("tempdir");
        if std::env::var_os("BACKRUNNER_ORACLE_KEEP").is_some() {
            // For diagnosis: the nodes' logs and blobs stay after the test.
            dir.disable_cleanup(true);
            eprintln!("oracle data kept in {}", dir.path().display());
        }
        let mut addrs: Vec<NodeAddr> = Vec::new();
        let mut children = Vec::new();
        for (i, group) in groups.iter().enumerate() {
            let port = crate::ports::free_port();
            let data = dir.path().join(format!("n{}", i + 1));
            let mut cmd = tokio::process::Command::new(oracle.join("run-node.sh"));
            cmd.env("PORT", port.to_string())
                .env("GROUP", group.to_string())
                .env("DATA_DIR", &data)
                .env("MONITOR_PORT", crate::ports::free_port().to_string())
                .env(
                    "LOG_LEVEL",
                    std::env::var("BACKRUNNER_ORACLE_LOG_LEVEL").unwrap_or_else(|_| "error".into()),
                )
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true);
            if let Some(first) = addrs.first() {
                cmd.env("REMOTE", first.to_string());
            }
            children.push(cmd.spawn().expect("start run-node.sh"));
            let addr = NodeAddr::parse(&format!("127.0.0.1:{port}:2")).expect("address");
            let listening = async || {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            };
            assert!(
                wait_until(Duration::from_secs(30), listening).await,
                "oracle node on port {port} did not start; log: {}",
                std::fs::read_to_string(data.join("node.log")).unwrap_or_default()
            );
            addrs.push(addr);
        }
        let cluster = OracleCluster {
            addrs,
            children,
            _dir: dir,
        };
        let client = cluster.connect().await;
        let all = groups.len();
        assert!(
            wait_until(Duration::from_secs(30), async || client.nodes().len()
                == all)
            .await,
            "the client sees {} of {all} oracle nodes",
            client.nodes().len()
        );
        client.shutdown().await;
        Some(cluster)
    }

    /// Client configuration for the cluster (protocol 3.0, as the oracle requires).
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig {
            remotes: self.addrs.clone(),
            protocol_version: VersionPolicy::Fixed(ProtocolVersion::V3_0),
            wait_timeout: Duration::from_secs(10),
            check_interval: Duration::from_secs(1),
            ..ClientConfig::default()
        }
    }

    /// A connected client.
    pub async fn connect(&self) -> Client {
        Client::connect(self.client_config())
            .await
            .expect("client connects to the oracle")
    }

    /// The data directory of node `i` (its blobs are under `backend-*/blob/`).
    pub fn data_dir(&self, i: usize) -> std::path::PathBuf {
        self._dir.path().join(format!("n{}", i + 1))
    }

    /// `remotes` as the proxy's configuration spells them.
    pub fn remotes(&self) -> Vec<String> {
        self.addrs.iter().map(ToString::to_string).collect()
    }
}

impl Drop for OracleCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.start_kill();
        }
    }
}
