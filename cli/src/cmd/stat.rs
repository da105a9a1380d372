//! `backrunner stat`: prints per-backend statistics of every node of a cluster, as JSON
//! lines (one per backend), from MONITOR_STAT.

use elliptics::stats::MonitorCategories;

/// Arguments of `backrunner stat`.
#[derive(Debug, clap::Args)]
pub struct StatArgs {
    /// Any node of the cluster, `ip:port[:family]`.
    #[arg(long)]
    remote: String,
}

/// Prints the statistics.
pub async fn run(args: StatArgs) -> anyhow::Result<()> {
    let (_, client) = super::connect_remote(&args.remote).await?;
    for (node, report) in client.monitor_stat(MonitorCategories::BACKRUNNER.0).await {
        match report {
            Ok(r) => {
                for b in r.backend_stats() {
                    println!(
                        "{}",
                        serde_json::json!({
                            "node": node.to_string(), "backend": b.backend_id, "group": b.group,
                            "state": b.state, "defrag_state": b.defrag_state, "read_only": b.read_only,
                            "used": b.used_size, "removed": b.removed_size, "limit": b.total_size_limit,
                            "records": b.records_total, "records_removed": b.records_removed,
                        })
                    );
                }
            }
            Err(e) => eprintln!("{node}: {e}"),
        }
    }
    client.shutdown().await;
    Ok(())
}
