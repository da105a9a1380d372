//! `backrunner reconcile`: compares the disks of a bucket's groups with its key index and
//! prints one JSON line — ids on disk the index does not name (by record kind, with bytes
//! and a sample), and, for names given with `--keys`, those stored but not listed; with
//! `--apply` those are logged in the index so listings show them. Removes nothing. See
//! `backrunner_store::index::reconcile`.

use std::path::PathBuf;

use anyhow::Context;
use backrunner_store::MetadataStore;
use backrunner_store::index::{BucketIndex, IndexOptions};

/// Arguments of `backrunner reconcile`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// Any node of the cluster, `ip:port[:family]`.
    #[arg(long)]
    remote: String,
    /// The bucket.
    #[arg(long)]
    bucket: String,
    /// Groups holding bucket metadata, comma-separated.
    #[arg(
        long,
        env = "BACKRUNNER_METADATA_GROUPS",
        value_delimiter = ',',
        default_value = "1,2"
    )]
    metadata_groups: Vec<u32>,
    /// A file of candidate key names, one per line (e.g. from the application's records).
    #[arg(long)]
    keys: Option<PathBuf>,
    /// Log the candidates found on disk but not in the index (at the objects' own
    /// timestamps and sizes).
    #[arg(long)]
    apply: bool,
}

/// Runs one reconcile pass and prints its report.
pub async fn run(args: ReconcileArgs) -> anyhow::Result<()> {
    let candidates: Vec<Vec<u8>> = match &args.keys {
        Some(path) => tokio::fs::read(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?
            .split(|b| *b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line).to_vec())
            .filter(|line| !line.is_empty())
            .collect(),
        None => Vec::new(),
    };
    let (_, client) = super::connect_remote(&args.remote).await?;
    let result = async {
        let store = MetadataStore::new(&client, args.metadata_groups.clone());
        let meta = store
            .read_bucket(&args.bucket)
            .await
            .context("reading the bucket's metadata")?
            .with_context(|| format!("no bucket {:?}", args.bucket))?;
        let objects = client
            .session()
            .groups(meta.groups.clone())
            .namespace(meta.name.as_bytes());
        let index = BucketIndex::new(&objects, IndexOptions::default());
        index
            .reconcile(&client, &candidates, args.apply)
            .await
            .context("reconcile")
    }
    .await;
    client.shutdown().await;
    println!("{}", serde_json::to_string(&result?)?);
    Ok(())
}
