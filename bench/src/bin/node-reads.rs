//! Prints the bytes every backend of a cluster has read for READs so far (`reads_size` of
//! the eblob global statistics in MONITOR_STAT), summed: the node side of S3's
//! range-amplification check (node bytes read vs object bytes served).
//!
//! Run: `node-reads <any node ip:port[:family]>`.

use std::process::ExitCode;

use elliptics::client::{Client, ClientConfig, VersionPolicy};
use elliptics::proto::{NodeAddr, ProtocolVersion};
use elliptics::stats::MonitorCategories;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(node) = std::env::args().nth(1) else {
        eprintln!("usage: node-reads <node ip:port[:family]>");
        return ExitCode::from(2);
    };
    let Ok(addr) = NodeAddr::parse(&node) else {
        eprintln!("node-reads: bad node address {node}");
        return ExitCode::from(2);
    };
    let client = match Client::connect(ClientConfig {
        remotes: vec![addr],
        protocol_version: VersionPolicy::Fixed(ProtocolVersion::V2_26),
        ..ClientConfig::default()
    })
    .await
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("node-reads: connect: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Let the route list bring in the other nodes.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut total = 0u64;
    for (node, report) in client.monitor_stat(MonitorCategories::BACKEND.0).await {
        match report {
            Ok(r) => {
                let backends = r.backends.unwrap_or_default();
                total += backends
                    .values()
                    .filter_map(|b| b.backend.as_ref()?.global_stats.as_ref())
                    .map(|s| s.reads_size)
                    .sum::<u64>();
            }
            Err(e) => {
                eprintln!("node-reads: {node}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("{total}");
    ExitCode::SUCCESS
}
