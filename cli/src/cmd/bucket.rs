//! `backrunner bucket put|get|list|delete`: manages bucket metadata in Elliptics without
//! Kubernetes, writing exactly the msgpack objects (and the bucket list) the operator
//! writes and the proxy — or an original Backrunner — reads.

use std::collections::BTreeMap;

use anyhow::Context;
use backrunner_proxy::config::DEFAULT_BUCKET_LIST_KEY;
use backrunner_store::bucket::{AclEntry, AclFlags, BucketMetadata};
use backrunner_store::{MetadataStore, WriteReport, valid_bucket_name};

/// Arguments of `backrunner bucket`.
#[derive(Debug, clap::Args)]
pub struct BucketArgs {
    /// Any storage node, `ip:port[:family]`.
    #[arg(
        long,
        global = true,
        env = "BACKRUNNER_REMOTE",
        default_value = "127.0.0.1:1025:2"
    )]
    remote: String,
    /// Groups holding bucket metadata, comma-separated.
    #[arg(
        long,
        global = true,
        env = "BACKRUNNER_METADATA_GROUPS",
        value_delimiter = ',',
        default_value = "1,2"
    )]
    metadata_groups: Vec<u32>,
    /// Key of the bucket list (empty = do not maintain one).
    #[arg(long, global = true, env = "BACKRUNNER_BUCKET_LIST_KEY", default_value = DEFAULT_BUCKET_LIST_KEY)]
    list_key: String,
    #[command(subcommand)]
    action: BucketAction,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum BucketAction {
    /// Create or replace a bucket and add it to the bucket list.
    Put {
        /// Bucket name.
        name: String,
        /// Data groups, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        groups: Vec<u32>,
        /// ACL entry `user:token:flags` (repeatable; flags 1 = read without token,
        /// 2 = write, 4 = admin). No entry = public bucket.
        #[arg(long = "acl")]
        acl: Vec<String>,
        /// Maximum object size in bytes (0 = unlimited).
        #[arg(long, default_value_t = 0)]
        max_size: u64,
        /// Maximum number of keys (0 = unlimited).
        #[arg(long, default_value_t = 0)]
        max_keys: u64,
    },
    /// Print a bucket as JSON (tokens hidden unless --show-tokens).
    Get {
        /// Bucket name.
        name: String,
        /// Print tokens too.
        #[arg(long)]
        show_tokens: bool,
    },
    /// Print the names in the bucket list.
    List,
    /// Remove a bucket's metadata and its bucket list entry (data is left alone).
    Delete {
        /// Bucket name.
        name: String,
    },
}

/// Parses `user:token:flags`.
pub fn parse_acl(spec: &str) -> anyhow::Result<AclEntry> {
    let mut parts = spec.rsplitn(2, ':');
    let (Some(flags), Some(rest)) = (parts.next(), parts.next()) else {
        anyhow::bail!("--acl {spec:?}: expected user:token:flags");
    };
    let (user, token) = rest
        .split_once(':')
        .with_context(|| format!("--acl {spec:?}: expected user:token:flags"))?;
    let flags: u64 = flags
        .parse()
        .with_context(|| format!("--acl {spec:?}: flags must be a number"))?;
    anyhow::ensure!(!user.is_empty(), "--acl {spec:?}: empty user");
    Ok(AclEntry {
        version: 1,
        user: user.to_owned(),
        token: token.to_owned(),
        flags: AclFlags::from_bits_retain(flags),
    })
}

/// Runs the subcommand.
pub async fn run(args: BucketArgs) -> anyhow::Result<()> {
    let (_, client) = super::connect_remote(&args.remote).await?;
    let store = MetadataStore::new(&client, args.metadata_groups.clone());
    let result = act(&store, &args).await;
    client.shutdown().await;
    result
}

async fn act(store: &MetadataStore, args: &BucketArgs) -> anyhow::Result<()> {
    match &args.action {
        BucketAction::Put {
            name,
            groups,
            acl,
            max_size,
            max_keys,
        } => {
            anyhow::ensure!(
                valid_bucket_name(name).is_some(),
                "invalid bucket name {name:?}"
            );
            let mut meta = BucketMetadata::new(name.clone());
            meta.groups = groups.clone();
            meta.max_size = *max_size;
            meta.max_key_num = *max_keys;
            for spec in acl {
                let entry = parse_acl(spec)?;
                meta.acl.insert(entry.user.clone(), entry);
            }
            taken_by_one(store.write_bucket(&meta).await).context("writing bucket metadata")?;
            if !args.list_key.is_empty() {
                store
                    .add_to_list(&args.list_key, name)
                    .await
                    .context("adding the bucket to the bucket list")?;
            }
            println!(
                "bucket {name} written (groups {groups:?}, {} ACL entries)",
                meta.acl.len()
            );
        }
        BucketAction::Get { name, show_tokens } => {
            let meta = store
                .read_bucket(name)
                .await?
                .with_context(|| format!("bucket {name} not found"))?;
            let acl: BTreeMap<_, _> = meta
                .acl
                .values()
                .map(|e| {
                    let token = if *show_tokens {
                        e.token.as_str()
                    } else {
                        "<hidden>"
                    };
                    (
                        e.user.clone(),
                        serde_json::json!({"token": token, "flags": e.flags.bits()}),
                    )
                })
                .collect();
            let doc = serde_json::json!({
                "name": meta.name, "groups": meta.groups, "acl": acl, "flags": meta.flags,
                "max_size": meta.max_size, "max_keys": meta.max_key_num,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        BucketAction::List => {
            for name in store.read_list(&args.list_key).await?.names() {
                println!("{name}");
            }
        }
        BucketAction::Delete { name } => {
            taken_by_one(store.remove_bucket(name).await).context("removing bucket metadata")?;
            if !args.list_key.is_empty() {
                store
                    .remove_from_list(&args.list_key, name)
                    .await
                    .context("removing the bucket from the bucket list")?;
            }
            println!("bucket {name} removed");
        }
    }
    Ok(())
}

/// `Ok` when at least one metadata group took a write (the others are named on stderr: the
/// operator's drift detection or a rerun repairs them), an error when none did.
fn taken_by_one(report: WriteReport) -> anyhow::Result<()> {
    for (group, error) in report.check_any()? {
        eprintln!("warning: metadata group {group} did not take the write: {error}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_acl;

    #[test]
    fn acl_specs() {
        let e = parse_acl("alice:s3cr:et:3").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (e.user.as_str(), e.token.as_str(), e.flags.bits()),
            ("alice", "s3cr:et", 3)
        );
        assert!(parse_acl("alice:3").is_err());
        assert!(parse_acl("alice:t:x").is_err());
    }
}
