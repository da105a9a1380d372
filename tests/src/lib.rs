//! Test harness for integration tests: starts real storage nodes — as tasks in the test
//! process or as `backrunner node` processes — on ephemeral loopback ports with data in
//! temporary directories, and connects `elliptics` clients to them.

// Test and benchmark support: a failed setup step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod capture;
pub mod oracle;
pub mod ports;
pub mod proxy_process;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use backrunner_node::Node;
use backrunner_node::config::{BackendConfig, NodeConfig};
use elliptics::client::{Client, ClientConfig, VersionPolicy};
use elliptics::proto::{NodeAddr, ProtocolVersion};
use tokio::io::{AsyncBufReadExt, BufReader};

/// One backend of a test node: (backend id, group).
#[derive(Debug, Clone, Copy)]
pub struct BackendSpec {
    /// Backend id.
    pub id: u32,
    /// Group.
    pub group: u32,
    /// Size limit in bytes (0 = none).
    pub size_limit: u64,
}

impl BackendSpec {
    /// Backend `id` serving `group`, unlimited.
    pub fn new(id: u32, group: u32) -> Self {
        Self {
            id,
            group,
            size_limit: 0,
        }
    }
}

/// Builds a node configuration for tests: loopback, port 0 unless given, sync `never`
/// unless `sync` says otherwise, small blobs so rotation happens.
pub fn node_config(
    dir: &Path,
    port: u16,
    backends: &[BackendSpec],
    remotes: &[NodeAddr],
    sync: &str,
) -> NodeConfig {
    NodeConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        advertise: None,
        protocol_version: "2.26.10.1".into(),
        remotes: remotes.iter().map(|a| a.to_string()).collect(),
        auth_cookie: String::new(),
        max_payload: 64 << 20,
        max_connections: 512,
        max_in_flight_per_connection: 256,
        peer_interval_secs: 1,
        backends: backends
            .iter()
            .map(|b| BackendConfig {
                id: b.id,
                group: b.group,
                dir: dir.join(format!("b{}", b.id)),
                size_limit: b.size_limit,
                blob_size: 8 << 20,
                sync: sync.into(),
                ring_ids: Vec::new(),
                ids_count: 4,
                read_only: false,
            })
            .collect(),
    }
}

/// Starts a node as a task of this process.
pub async fn start_node(dir: &Path, backends: &[BackendSpec], remotes: &[NodeAddr]) -> Node {
    let cfg = node_config(dir, 0, backends, remotes, "never");
    Node::start(cfg.validate().expect("valid test config"))
        .await
        .expect("node starts")
}

/// Two nodes in `dir/a` and `dir/b`: `a` serves group 1 and `b` group 2 (backend 1 each),
/// `b` joining `a`.
pub async fn start_two_groups(dir: &Path) -> (Node, Node) {
    let a = start_node(&dir.join("a"), &[BackendSpec::new(1, 1)], &[]).await;
    let b = start_node(&dir.join("b"), &[BackendSpec::new(1, 2)], &[a.addr()]).await;
    (a, b)
}

/// Client configuration for tests: short timeouts, fixed 2.26 handshake.
pub fn client_config(remotes: &[NodeAddr]) -> ClientConfig {
    ClientConfig {
        remotes: remotes.to_vec(),
        protocol_version: VersionPolicy::Fixed(ProtocolVersion::V2_26),
        wait_timeout: Duration::from_secs(10),
        check_interval: Duration::from_secs(1),
        ..ClientConfig::default()
    }
}

/// Connects a client to `remotes`.
pub async fn connect(remotes: &[NodeAddr]) -> Client {
    Client::connect(client_config(remotes))
        .await
        .expect("client connects")
}

/// Waits until `f` returns true, polling every 50 ms, up to `limit`.
pub async fn wait_until(limit: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + limit;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() > end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits up to `limit` until `GET <base>/readyz` answers 200.
pub async fn wait_ready(http: &reqwest::Client, base: &str, limit: Duration) -> bool {
    let ready = async || {
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    };
    wait_until(limit, ready).await
}

/// `backrunner <subcommand>` with warn-level logs and stderr passed through, killed when
/// dropped; the caller adds the arguments, chooses stdout and spawns it.
pub fn backrunner_command(subcommand: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(backrunner_bin());
    command
        .arg(subcommand)
        .env("BACKRUNNER_LOG", "warn")
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    command
}

/// The `backrunner` binary: `$BACKRUNNER_BIN`, or the one built beside the running test
/// (`target/<profile>/backrunner` for a test in `target/<profile>/deps/`), so a stale
/// binary of another profile is never picked up.
pub fn backrunner_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BACKRUNNER_BIN") {
        return PathBuf::from(p);
    }
    let beside = std::env::current_exe().ok().and_then(|exe| {
        let profile_dir = exe.parent()?.parent()?;
        Some(profile_dir.join("backrunner"))
    });
    match beside {
        Some(p) if p.exists() => p,
        _ => panic!(
            "backrunner binary not found beside the test executable: build it (cargo build --bin backrunner) or set BACKRUNNER_BIN"
        ),
    }
}

/// A `backrunner node` child process.
pub struct NodeProcess {
    /// The child.
    pub child: tokio::process::Child,
    /// Its advertised address.
    pub addr: NodeAddr,
    /// Its configuration file.
    pub config: PathBuf,
}

impl NodeProcess {
    /// Writes `cfg` to `<dir>/node.toml` and starts `backrunner node` with it; returns once
    /// the node prints its address.
    pub async fn start(dir: &Path, cfg: &NodeConfig) -> NodeProcess {
        let path = dir.join("node.toml");
        std::fs::create_dir_all(dir).expect("mkdir");
        std::fs::write(&path, to_toml(cfg)).expect("write config");
        Self::start_with(path).await
    }

    /// Starts `backrunner node --config path`.
    pub async fn start_with(config: PathBuf) -> NodeProcess {
        let mut child = backrunner_command("node")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn backrunner node");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("node prints its address in time")
            .expect("read stdout")
            .expect("node printed a line");
        let addr = line
            .rsplit(' ')
            .next()
            .and_then(|a| NodeAddr::parse(a).ok())
            .unwrap_or_else(|| panic!("unexpected first line from node: {line}"));
        NodeProcess {
            child,
            addr,
            config,
        }
    }

    /// SIGKILLs the process and waits for it.
    pub async fn kill9(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Renders a node configuration as TOML (the format `backrunner node` reads).
pub fn to_toml(cfg: &NodeConfig) -> String {
    let mut s = format!(
        "listen = \"{}\"\nprotocol_version = \"{}\"\nremotes = [{}]\nmax_payload = {}\npeer_interval_secs = {}\n",
        cfg.listen,
        cfg.protocol_version,
        cfg.remotes
            .iter()
            .map(|r| format!("\"{r}\""))
            .collect::<Vec<_>>()
            .join(", "),
        cfg.max_payload,
        cfg.peer_interval_secs,
    );
    for b in &cfg.backends {
        s += &format!(
            "\n[[backends]]\nid = {}\ngroup = {}\ndir = \"{}\"\nsize_limit = {}\nblob_size = {}\nsync = \"{}\"\nids_count = {}\n",
            b.id,
            b.group,
            b.dir.display(),
            b.size_limit,
            b.blob_size,
            b.sync,
            b.ids_count
        );
    }
    s
}

/// Allocated bytes of every file under `dir` (blob files may be created sparse at full
/// length, so the length would overstate them).
pub fn allocated_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => allocated_bytes(&e.path()),
            Ok(_) => e.metadata().map(|m| m.blocks() * 512).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// Two `backrunner node` processes (group 1 in `dir/n1`, group 2 in `dir/n2` joining the
/// first, fsync policy `sync`) and a client of both speaking 2.26.
pub async fn two_node_processes(dir: &Path, sync: &str) -> (NodeProcess, NodeProcess, Client) {
    let (d1, d2) = (dir.join("n1"), dir.join("n2"));
    let n1 = NodeProcess::start(
        &d1,
        &node_config(&d1, 0, &[BackendSpec::new(1, 1)], &[], sync),
    )
    .await;
    let n2 = NodeProcess::start(
        &d2,
        &node_config(&d2, 0, &[BackendSpec::new(1, 2)], &[n1.addr], sync),
    )
    .await;
    let client = Client::connect(ClientConfig {
        remotes: vec![n1.addr, n2.addr],
        protocol_version: VersionPolicy::Fixed(ProtocolVersion::V2_26),
        ..ClientConfig::default()
    })
    .await
    .expect("connect to the node processes");
    (n1, n2, client)
}
