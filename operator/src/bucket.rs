//! The `Bucket` controller: reconciles each Bucket (with its AclPolicies' tokens) into the
//! Elliptics bucket metadata, the token-alias record, the bucket list and the ownership
//! record, inside the finalizer [`backrunner_crds::bucket::FINALIZER`] so that deletion
//! honours `reclaimPolicy`.
//!
//! | module | what |
//! |---|---|
//! | [`desired`] | pure: metadata, digest, aliases and ACL summary from spec and tokens |
//! | [`apply`] | the apply pass (validation, cluster, policies, ownership, writes, health) |
//! | [`cleanup`] | the deletion pass (protection, force release, Retain/Delete) |
//! | [`status`] | the status draft (coarse numbers, written at most once per status interval), condition-change events |
//! | [`resolve`] | the referenced EllipticsCluster and AclPolicies' tokens |
//! | [`watches`] | which Buckets a change of an AclPolicy, Secret or EllipticsCluster touches |
//!
//! Backoff, events, status writes and the run loop are the shared ones of
//! [`crate::controller`].

pub mod apply;
pub mod cleanup;
pub mod desired;
pub mod purge;
pub mod resolve;
pub mod status;
pub mod watches;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backrunner_crds::bucket::{Bucket, FINALIZER};
use backrunner_crds::{AclPolicy, EllipticsCluster};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::Recorder;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::watcher;

use crate::Context;
use crate::context::StorageError;
use crate::controller::backoff::{BACKOFF_BASE, BACKOFF_MAX};
use crate::controller::run::{CONCURRENCY, ticks};
use crate::controller::status::WriteInterval;
use crate::controller::{FailureBackoff, object_key, scoped_api};
use crate::metadata::{MetadataError, OwnerRecord};

/// Controller name in metrics and logs.
pub const CONTROLLER: &str = "bucket";

/// Why a Bucket reconcile failed (it is retried with per-object backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// No Elliptics client for the cluster.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// Reading or writing a record in the metadata groups failed.
    #[error("metadata: {0}")]
    Metadata(#[from] MetadataError),
    /// The object lacks a namespace, name or uid.
    #[error("object has no {0}")]
    InvalidObject(&'static str),
    /// Deletion waits (protection, cluster unavailable, cleanup failure); see DeletionBlocked.
    #[error("deletion blocked: {0}")]
    DeletionBlocked(String),
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    /// Low-cardinality label for `backrunner_operator_reconciles_total{result}`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube_error",
            Error::Storage(_) => "storage_error",
            Error::Metadata(_) => "metadata_error",
            Error::InvalidObject(_) => "invalid_object",
            Error::DeletionBlocked(_) => "deletion_blocked",
            Error::Finalizer(e) => match e.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(inner)
                | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner.metric_label(),
                _ => "finalizer_error",
            },
        }
    }
}

/// Serialises ownership decisions per Elliptics bucket within this process, so two Bucket
/// objects naming the same bucket cannot both claim it between a read and a write.
#[derive(Default)]
pub struct NameLocks {
    inner: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl NameLocks {
    /// The lock of `key` (`cluster/bucket`).
    pub fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_owned()).or_default().clone()
    }
}

/// State of the Bucket controller shared by its reconciles.
pub struct Reconciler {
    /// The operator context.
    pub ctx: Arc<Context>,
    /// Event recorder.
    pub recorder: Recorder,
    /// Per-object failure backoff.
    pub backoff: FailureBackoff,
    /// Per-bucket-name claim locks.
    pub locks: NameLocks,
    /// When each Bucket last had moving numbers (statistics) written into its status.
    pub numbers_written: WriteInterval,
}

impl Reconciler {
    /// A reconciler over `ctx`.
    pub fn new(ctx: Arc<Context>) -> Reconciler {
        Reconciler {
            recorder: Recorder::new(ctx.client.clone(), ctx.reporter.clone()),
            ctx,
            backoff: FailureBackoff::new(BACKOFF_BASE, BACKOFF_MAX),
            locks: NameLocks::default(),
            numbers_written: WriteInterval::new(),
        }
    }

    /// The Bucket API of `namespace`.
    pub fn buckets(&self, namespace: &str) -> Api<Bucket> {
        Api::namespaced(self.ctx.client.clone(), namespace)
    }

    /// The ownership record of this install for `bucket` (in `namespace`) at `now`.
    pub fn owner_record(
        &self,
        bucket: &Bucket,
        namespace: &str,
        now: u64,
    ) -> Result<OwnerRecord, Error> {
        let uid = bucket.uid().ok_or(Error::InvalidObject("uid"))?;
        Ok(OwnerRecord::new(
            &self.ctx.config.install_id,
            namespace,
            &bucket.name_any(),
            &uid,
            now,
        ))
    }
}

/// The Bucket's namespace; a Bucket without one is an invalid object.
pub(crate) fn namespace_of(bucket: &Bucket) -> Result<String, Error> {
    bucket.namespace().ok_or(Error::InvalidObject("namespace"))
}

/// One reconcile: the finalizer decides between [`apply::apply`] and [`cleanup::cleanup`].
pub async fn reconcile(bucket: Arc<Bucket>, r: Arc<Reconciler>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = namespace_of(&bucket)?;
    let api = r.buckets(&namespace);
    let result = finalizer(&api, FINALIZER, bucket.clone(), |event| async {
        match event {
            FinalizerEvent::Apply(b) => apply::apply(b, &r).await,
            FinalizerEvent::Cleanup(b) => cleanup::cleanup(b, &r).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    r.ctx.metrics.observe_reconcile(CONTROLLER, started);
    if result.is_ok() {
        r.backoff.succeeded(&object_key(bucket.as_ref()));
        r.ctx.metrics.count_reconcile(CONTROLLER, "ok");
    }
    result
}

/// Retry after a failure with per-object exponential backoff.
pub fn error_policy(bucket: Arc<Bucket>, error: &Error, r: Arc<Reconciler>) -> Action {
    let key = object_key(bucket.as_ref());
    let delay = r.backoff.failed(&key);
    r.ctx
        .metrics
        .count_reconcile(CONTROLLER, error.metric_label());
    tracing::warn!(bucket = %key, error = %error, retry_in = ?delay, "bucket reconcile failed");
    Action::requeue(delay)
}

/// Runs the Bucket controller until `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + 'static) {
    let client = ctx.client.clone();
    let ns = ctx.config.watch_namespace.clone();
    let buckets: Api<Bucket> = scoped_api(&client, &ns);
    let wc = watcher::Config::default().any_semantic();
    let controller = Controller::new(buckets, wc.clone());
    let store = controller.store();
    let (policy_store, secret_store, cluster_store) = (store.clone(), store.clone(), store.clone());
    let owned_secrets = watcher::Config::default().any_semantic().labels(&format!(
        "{}={}",
        crate::acl_policy::MANAGED_BY_LABEL,
        crate::acl_policy::MANAGED_BY_VALUE
    ));
    let tick = ctx.config.status_interval().max(Duration::from_secs(10));
    let reconciler = Arc::new(Reconciler::new(ctx));
    let controller = controller
        .watches(
            scoped_api::<AclPolicy>(&client, &ns),
            wc.clone(),
            move |p| watches::buckets_of_policy(&policy_store, &p),
        )
        .watches(
            scoped_api::<Secret>(&client, &ns),
            owned_secrets,
            move |s| watches::buckets_of_owned_secret(&secret_store, &s),
        )
        .watches(scoped_api::<EllipticsCluster>(&client, &ns), wc, move |c| {
            watches::buckets_of_cluster(&cluster_store, &c)
        })
        .reconcile_all_on(ticks(tick))
        .with_config(ControllerConfig::default().concurrency(CONCURRENCY));
    crate::controller::run::run(
        CONTROLLER,
        controller,
        reconcile,
        error_policy,
        reconciler,
        shutdown,
    )
    .await;
}

/// A Bucket spec for the unit tests: `groups` on cluster `cluster` (in the Bucket's own
/// namespace), every other field at its default.
#[cfg(test)]
pub(crate) fn test_spec(cluster: &str, groups: Vec<u32>) -> backrunner_crds::bucket::BucketSpec {
    backrunner_crds::bucket::BucketSpec {
        cluster_ref: backrunner_crds::bucket::ClusterRef {
            name: cluster.into(),
            namespace: None,
        },
        bucket_name: None,
        groups,
        quota: Default::default(),
        acl_policy_refs: vec![],
        public_read: false,
        auto_select: Default::default(),
        reclaim_policy: Default::default(),
        purge_data: None,
        deletion_protection: false,
        directory: None,
    }
}
