//! A two-group cluster of either kind — our nodes or a real Elliptics 3.0 cluster
//! (`../shared/elliptics-oracle`) — with `backrunner proxy` processes in front: the
//! harness of the tests that must hold on both (integrity, listing).

use std::path::{Path, PathBuf};

use backrunner_store::object;
use backrunner_store::{BucketMetadata, MetadataStore};
use backrunner_tests::oracle::OracleCluster;
use backrunner_tests::proxy_process::ProxyProcess;
use backrunner_tests::{allocated_bytes, connect, start_two_groups};
use bytes::Bytes;
use elliptics::Client;
use futures_util::TryStreamExt;

/// A two-group cluster of either kind, with what the tests need of it.
pub struct Cluster {
    /// A client connected to both groups.
    pub client: Client,
    /// The nodes' addresses, as a proxy's `remotes`.
    pub remotes: Vec<String>,
    /// The `protocol_version` proxies use.
    pub protocol: &'static str,
    /// Each group's data directory.
    pub data: Vec<PathBuf>,
    _keep: Box<dyn std::any::Any + Send>,
}

impl Cluster {
    pub async fn ours(dir: &Path) -> Cluster {
        let (a, b) = start_two_groups(dir).await;
        let client = connect(&[a.addr(), b.addr()]).await;
        let remotes = vec![a.addr().to_string(), b.addr().to_string()];
        Cluster {
            client,
            remotes,
            protocol: "2.26",
            data: vec![dir.join("a"), dir.join("b")],
            _keep: Box::new((a, b)),
        }
    }

    pub async fn oracle() -> Option<Cluster> {
        let cluster = OracleCluster::start(&[1, 2]).await?;
        let client = cluster.connect().await;
        Some(Cluster {
            client,
            remotes: cluster.remotes(),
            protocol: "3.0",
            data: vec![cluster.data_dir(0), cluster.data_dir(1)],
            _keep: Box::new(cluster),
        })
    }

    /// A public bucket `media` in groups 1 and 2, and `n` proxies in front of the cluster.
    pub async fn proxies(&self, dir: &Path, n: usize) -> Vec<ProxyProcess> {
        let mut media = BucketMetadata::new("media");
        media.groups = vec![1, 2];
        self.proxies_with(dir, n, &[media], "").await
    }

    /// `buckets` written and listed, and `n` proxies in front of the cluster, their
    /// configuration ending with `extra` (TOML lines).
    pub async fn proxies_with(
        &self,
        dir: &Path,
        n: usize,
        buckets: &[BucketMetadata],
        extra: &str,
    ) -> Vec<ProxyProcess> {
        let store = MetadataStore::new(&self.client, vec![1, 2]);
        for bucket in buckets {
            store.write_bucket(bucket).await.check().unwrap();
            store
                .add_to_list("backrunner-bucket-list", &bucket.name)
                .await
                .unwrap();
        }
        let remotes = self
            .remotes
            .iter()
            .map(|r| format!("\"{r}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let config = format!(
            "remotes = [{remotes}]\nmetadata_groups = [1, 2]\nprotocol_version = \"{}\"\n{extra}",
            self.protocol
        );
        let mut out = Vec::new();
        for i in 0..n {
            let d = dir.join(format!("proxy{i}"));
            std::fs::create_dir_all(&d).unwrap();
            out.push(ProxyProcess::start(&d, &config).await);
        }
        out
    }

    /// The object's bytes as group `group` alone holds them (any layout).
    pub async fn group_copy(&self, group: u32, key: &str) -> Result<Bytes, String> {
        let session = self.client.session().groups(vec![group]).namespace("media");
        let (_, body) = object::open(&session, key.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let chunks: Vec<Bytes> = body.try_collect().await.map_err(|e| e.to_string())?;
        Ok(chunks.concat().into())
    }

    /// Allocated bytes in every file under group `i`'s data directory.
    pub fn disk_bytes(&self, i: usize) -> u64 {
        allocated_bytes(&self.data[i])
    }
}

/// `GET path` of a listing (`/list/...`): the status and body of the first answer that is
/// not `503 … retry`. A listing answers 503 when no group answered its index reads in time,
/// which a real Elliptics node does on a machine whose cores are saturated (its network
/// thread then waits seconds in the kernel); clients retry that answer, and so does this,
/// for up to 90 s, saying so on stderr.
pub async fn list_get(proxy: &ProxyProcess, path: &str) -> (u16, Bytes) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let (status, body) = proxy.get(path, &[]).await;
        let retry = status == 503 && String::from_utf8_lossy(&body).contains("retry");
        if !retry || std::time::Instant::now() > deadline {
            return (status, body);
        }
        eprintln!("{path}: 503, retrying: {}", String::from_utf8_lossy(&body));
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
