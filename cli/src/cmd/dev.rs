//! `backrunner dev`: the whole product on one machine, no cluster and no config — two
//! embedded storage nodes (groups 1 and 2) with data under `./backrunner-data`. The HTTP
//! proxy joins them when it lands (issue 4).

use std::path::PathBuf;

use backrunner_node::Node;
use backrunner_node::config::{BackendConfig, NodeConfig};

/// Arguments of `backrunner dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Where the embedded nodes keep their data.
    #[arg(long, env = "BACKRUNNER_DEV_DATA", default_value = "./backrunner-data")]
    data: PathBuf,
    /// First storage-node port; the second node uses the next one.
    #[arg(long, default_value_t = 1025)]
    node_port: u16,
}

fn node_config(data: &std::path::Path, port: u16, group: u32, peer: u16) -> NodeConfig {
    NodeConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        advertise: None,
        protocol_version: "2.26.10.1".into(),
        remotes: vec![format!("127.0.0.1:{peer}:2")],
        auth_cookie: String::new(),
        max_payload: elliptics::proto::DEFAULT_MAX_PAYLOAD,
        max_connections: 4096,
        max_in_flight_per_connection: 256,
        peer_interval_secs: 5,
        backends: vec![BackendConfig {
            id: 1,
            group,
            dir: data.join(format!("node{group}")),
            size_limit: 0,
            blob_size: 256 << 20,
            sync: "interval:1000".into(),
            ring_ids: Vec::new(),
            ids_count: 8,
            read_only: false,
        }],
    }
}

/// Runs two nodes until SIGINT/SIGTERM.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let (p1, p2) = (args.node_port, args.node_port.wrapping_add(1));
    let n1 = Node::start(node_config(&args.data, p1, 1, p2).validate()?).await?;
    let n2 = Node::start(node_config(&args.data, p2, 2, p1).validate()?).await?;
    println!(
        "backrunner dev: storage nodes {} (group 1) and {} (group 2), data in {}",
        n1.addr(),
        n2.addr(),
        args.data.display()
    );
    println!("  statistics:  backrunner stat --remote {}", n1.addr());
    println!("  (the HTTP proxy on 127.0.0.1:9090 arrives with issue 4)");
    super::shutdown_signal().await;
    n1.shutdown().await;
    n2.shutdown().await;
    Ok(())
}
