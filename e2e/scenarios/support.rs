//! Shared steps of the scenarios: start the system, apply the examples (optionally edited),
//! wait until everything is Ready, and look up names and credentials.

use backrunner_crds::{AclPolicy, Bucket, EllipticsCluster};
use backrunner_e2e::error::ensure;
use backrunner_e2e::manifests::{self, kind, name};
use backrunner_e2e::proxy::{Credentials, ProxyClient};
use backrunner_e2e::resources::{wait_condition, wait_deleted, writer_of};
use backrunner_e2e::storage::METADATA_GROUP;
use backrunner_e2e::system::NAMESPACE;
use backrunner_e2e::{Result, System, SystemOptions};
use backrunner_store::MetadataStore;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Typed APIs of the test namespace.
pub struct Apis {
    /// EllipticsClusters.
    pub clusters: Api<EllipticsCluster>,
    /// AclPolicies.
    pub policies: Api<AclPolicy>,
    /// Buckets.
    pub buckets: Api<Bucket>,
}

impl Apis {
    pub fn new(system: &System) -> Apis {
        Apis {
            clusters: Api::namespaced(system.client(), NAMESPACE),
            policies: Api::namespaced(system.client(), NAMESPACE),
            buckets: Api::namespaced(system.client(), NAMESPACE),
        }
    }
}

/// Starts the system with `options`.
pub async fn start(options: SystemOptions) -> Result<System> {
    System::start(options).await
}

/// Starts the default system, applies the examples as they are and waits until they are
/// Ready, then runs `scenario` with the namespace's APIs.
pub async fn run_on_examples(
    scenario: impl AsyncFnOnce(&System, &Apis) -> Result<()>,
) -> Result<()> {
    start(SystemOptions::default())
        .await?
        .run(async |system| {
            apply_examples_and_wait(system, |_| {}).await?;
            let apis = Apis::new(system);
            scenario(system, &apis).await
        })
        .await
}

/// Applies the examples after `edit`, then waits for every EllipticsCluster, AclPolicy and
/// Bucket to be Ready. Returns the applied documents.
pub async fn apply_examples_and_wait(
    system: &System,
    edit: impl FnOnce(&mut Vec<Value>),
) -> Result<Vec<Value>> {
    let mut docs = system.examples().await?;
    edit(&mut docs);
    system.apply(&docs, "examples.json").await?;
    wait_all_ready(system, &docs).await?;
    Ok(docs)
}

/// Waits for Ready=True on every Backrunner object of `docs`.
pub async fn wait_all_ready(system: &System, docs: &[Value]) -> Result<()> {
    let apis = Apis::new(system);
    // Dependencies first: the cluster, then the policies, then the buckets.
    let mut ordered: Vec<&Value> = docs.iter().collect();
    ordered.sort_by_key(|d| match kind(d) {
        "EllipticsCluster" => 0,
        "AclPolicy" => 1,
        _ => 2,
    });
    for doc in ordered {
        match kind(doc) {
            "EllipticsCluster" => {
                wait_condition(&apis.clusters, name(doc), "Ready", "True").await?;
            }
            "AclPolicy" => {
                wait_condition(&apis.policies, name(doc), "Ready", "True").await?;
            }
            "Bucket" => {
                wait_condition(&apis.buckets, name(doc), "Ready", "True").await?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The Elliptics name of a Bucket (`spec.bucketName`, else `metadata.name`).
pub fn elliptics_name(bucket: &Bucket) -> String {
    bucket
        .spec
        .bucket_name
        .clone()
        .or_else(|| bucket.metadata.name.clone())
        .unwrap_or_default()
}

/// The Bucket object `name` and a user allowed to write to it (none for a public bucket).
pub async fn bucket_and_writer(
    system: &System,
    name: &str,
) -> Result<(Bucket, Option<Credentials>)> {
    let apis = Apis::new(system);
    let bucket = apis.buckets.get(name).await?;
    let creds = writer_of(&system.client(), NAMESPACE, &bucket).await?;
    Ok((bucket, creds))
}

/// Clients of both proxies.
pub fn proxies(system: &System) -> Vec<ProxyClient> {
    system.proxies.iter().map(|p| p.client()).collect()
}

/// Uploads `body` under `key` through `via` and reads it back through every proxy.
pub async fn round_trip(
    system: &System,
    bucket: &str,
    key: &str,
    body: &[u8],
    creds: Option<&Credentials>,
    via: usize,
) -> Result<()> {
    let clients = proxies(system);
    let up = clients[via]
        .upload(bucket, key, body.to_vec(), creds)
        .await?;
    ensure(up.status.is_success(), || {
        format!("upload {bucket}/{key} via proxy-{via}: {up}")
    })?;
    for (i, c) in clients.iter().enumerate() {
        let got = c.get(bucket, key, creds).await?;
        ensure(got.status.is_success() && got.body == body, || {
            format!("get {bucket}/{key} via proxy-{i}: {got}")
        })?;
    }
    Ok(())
}

/// The metadata store of the harness (metadata group) over a fresh client.
pub async fn metadata_store(system: &System) -> MetadataStore {
    let client = system.storage.client().await;
    MetadataStore::new(&client, vec![METADATA_GROUP])
}

/// Edits the document of `kind`/`name` in place.
pub fn edit_doc(docs: &mut [Value], k: &str, n: &str, f: impl FnOnce(&mut Value)) {
    if let Some(d) = docs
        .iter_mut()
        .find(|d| manifests::kind(d) == k && manifests::name(d) == n)
    {
        f(d);
    }
}

/// Merge-patches object `name` with `patch`.
pub async fn merge_patch<K>(api: &Api<K>, name: &str, patch: &Value) -> Result<()>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    Ok(())
}

/// Deletes Bucket `name` and waits until it is gone (finalizer released).
pub async fn delete_bucket(apis: &Apis, name: &str) -> Result<()> {
    apis.buckets.delete(name, &DeleteParams::default()).await?;
    wait_deleted(&apis.buckets, name).await
}
