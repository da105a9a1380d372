//! `backrunner sweep`: removes the parts of uploads no object names any more (abandoned by
//! a proxy that stopped mid-upload, or left behind by an overwrite or delete), across the
//! given groups, and tombstones past their retention; prints the report as one JSON line. See `backrunner_store::object::sweep`.

use std::time::Duration;

use anyhow::Context;
use backrunner_store::object::{SweepOptions, sweep};

/// Arguments of `backrunner sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// Any node of the cluster, `ip:port[:family]`.
    #[arg(long)]
    remote: String,
    /// Replica groups to walk and clean, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    groups: Vec<u32>,
    /// Leave uploads whose record was written within this many seconds (a running upload
    /// rewrites its record every minute).
    #[arg(long, default_value_t = 3600)]
    grace_secs: u64,
    /// Remove tombstones (deleted objects) older than this many seconds; recovery between
    /// the groups must run more often, or a group that missed a delete brings it back.
    #[arg(long, default_value_t = 7 * 24 * 3600)]
    tombstone_retention_secs: u64,
    /// Report only; remove nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs one sweep and prints its report.
pub async fn run(args: SweepArgs) -> anyhow::Result<()> {
    let (_, client) = super::connect_remote(&args.remote).await?;
    let options = SweepOptions {
        groups: args.groups,
        grace: Duration::from_secs(args.grace_secs),
        tombstone_retention: Duration::from_secs(args.tombstone_retention_secs),
        dry_run: args.dry_run,
    };
    let report = sweep(&client, &options).await.context("sweep");
    client.shutdown().await;
    println!("{}", serde_json::to_string(&report?)?);
    Ok(())
}
