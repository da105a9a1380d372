//! The `AclPolicy` controller: resolves every user's token (from its `tokenSecretRef` or
//! generated) into the operator-owned Secret ([`generated_secret_name`], owner reference to
//! the policy, label [`MANAGED_BY_LABEL`]), runs rotations with their overlap window
//! ([`rotation`]), and reports fingerprints, rotation progress and the number of bound
//! Buckets in status. The Bucket controller reads tokens from the owned Secret only, so a
//! change of a user's referenced Secret reaches the buckets through this controller.
//!
//! A user whose referenced Secret disappears or loses its key keeps its last token (buckets
//! keep working) while Synced=False says what is wrong.

pub mod rotation;
pub mod secrets;
pub mod status;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backrunner_crds::acl_policy::{AclPolicy, generated_secret_name, reasons};
use backrunner_crds::bucket::Bucket;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use crate::Context;
use crate::controller::backoff::{BACKOFF_BASE, BACKOFF_MAX};
use crate::controller::events;
use crate::controller::run::CONCURRENCY;
use crate::controller::{FailureBackoff, object_key, scoped_api, unix_now};
use rotation::{TokenBook, TokenSource, Transition};
pub use secrets::owned_by;
use secrets::{UserProblem, referenced_token, write_secret};
use status::{apply_policy_status, build_status, publish_transition};

/// Controller name in metrics and logs.
pub const CONTROLLER: &str = "acl_policy";

/// Label on every Secret the operator owns.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "backrunner-operator";

/// Why an AclPolicy reconcile failed (retried with per-object backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Writing the owned token Secret failed.
    #[error("writing the token Secret: {0}")]
    SecretWrite(#[source] kube::Error),
    /// The object lacks a namespace or uid.
    #[error("object has no {0}")]
    InvalidObject(&'static str),
}

impl Error {
    /// Low-cardinality label for `backrunner_operator_reconciles_total{result}`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube_error",
            Error::SecretWrite(_) => "secret_write_error",
            Error::InvalidObject(_) => "invalid_object",
        }
    }
}

/// State of the AclPolicy controller shared by its reconciles.
pub struct PolicyReconciler {
    /// The operator context.
    pub ctx: Arc<Context>,
    /// Event recorder.
    pub recorder: Recorder,
    /// Per-object failure backoff.
    pub backoff: FailureBackoff,
}

/// One reconcile of a policy.
pub async fn reconcile(policy: Arc<AclPolicy>, r: Arc<PolicyReconciler>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = sync(&policy, &r).await;
    r.ctx.metrics.observe_reconcile(CONTROLLER, started);
    if result.is_ok() {
        r.backoff.succeeded(&object_key(policy.as_ref()));
        r.ctx.metrics.count_reconcile(CONTROLLER, "ok");
    }
    result
}

async fn sync(policy: &AclPolicy, r: &PolicyReconciler) -> Result<Action, Error> {
    let ns = policy
        .namespace()
        .ok_or(Error::InvalidObject("namespace"))?;
    let name = policy.name_any();
    let client = r.ctx.client.clone();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret_name = generated_secret_name(&name);
    let now = unix_now();

    let existing = secrets.get_opt(&secret_name).await?;
    let foreign = existing.as_ref().is_some_and(|s| !owned_by(s, policy));
    let book = existing
        .as_ref()
        .filter(|s| owned_by(s, policy))
        .and_then(|s| s.data.as_ref())
        .map(TokenBook::from_secret_data)
        .unwrap_or_default();

    let mut problems: Vec<(String, UserProblem)> = Vec::new();
    let mut next = TokenBook::default();
    let mut transitions: Vec<(String, Transition)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut cache = HashMap::new();
    for user in &policy.spec.users {
        if !seen.insert(user.name.clone()) {
            problems.push((
                user.name.clone(),
                (
                    reasons::INVALID_SPEC,
                    format!("user {} is listed twice", user.name),
                ),
            ));
            continue;
        }
        let previous = book.users.get(&user.name);
        let (source_label, value) = match &user.token_secret_ref {
            None => (rotation::SOURCE_GENERATED.to_owned(), None),
            Some(sref) => {
                match referenced_token(&secrets, &mut cache, &sref.name, &sref.key).await? {
                    Ok(v) => (format!("secret:{}/{}", sref.name, sref.key), Some(v)),
                    Err(problem) => {
                        problems.push((user.name.clone(), problem));
                        if let Some(p) = previous {
                            next.users.insert(user.name.clone(), p.clone());
                        }
                        continue;
                    }
                }
            }
        };
        let source = match &value {
            None => TokenSource::Generated,
            Some(v) => TokenSource::Referenced {
                source: &source_label,
                value: v,
            },
        };
        let (state, moved) = rotation::step(
            previous,
            &user.rotation,
            source,
            now,
            rotation::generate_token,
        );
        transitions.extend(moved.into_iter().map(|t| (user.name.clone(), t)));
        next.users.insert(user.name.clone(), state);
    }

    let mut write_error = None;
    if foreign {
        let msg = format!("Secret {secret_name} exists and is not owned by this AclPolicy");
        problems.push((String::new(), (reasons::SECRET_WRITE_FAILED, msg)));
    } else if existing.is_none() || next != book {
        if let Err(e) = write_secret(&secrets, policy, &secret_name, &next).await {
            problems.push((String::new(), (reasons::SECRET_WRITE_FAILED, e.to_string())));
            write_error = Some(e);
        }
    }
    if write_error.is_none() {
        for (user, t) in &transitions {
            publish_transition(r, policy, user, *t, next.users.get(user)).await;
        }
    }

    let buckets: Api<Bucket> = Api::namespaced(client.clone(), &ns);
    let bound = buckets
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|b| b.spec.acl_policy_refs.contains(&name))
        .count();

    // Status reflects the tokens in effect: the new book when written, else the old one.
    let effective = if write_error.is_none() && !foreign {
        &next
    } else {
        &book
    };
    let status = build_status(policy, effective, &problems, bound, now);
    let api: Api<AclPolicy> = Api::namespaced(client, &ns);
    let before: Vec<_> = policy
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    apply_policy_status(&api, &name, policy.status.as_ref(), &status).await?;
    for c in &status.conditions {
        let changed = before
            .iter()
            .find(|b| b.type_ == c.type_)
            .is_none_or(|b| b.status != c.status || b.reason != c.reason);
        if changed && c.reason != reasons::PENDING {
            let note = format!("{} is {}: {}", c.type_, c.status, c.message);
            events::publish(&r.recorder, policy, c.status == "False", &c.reason, note).await;
        }
    }
    if let Some(e) = write_error {
        return Err(Error::SecretWrite(e));
    }
    let mut requeue = r.ctx.config.resync();
    if let Some(expiry) = effective.next_expiry(now) {
        requeue = requeue.min(Duration::from_secs(expiry.saturating_sub(now) + 1));
    }
    Ok(Action::requeue(requeue))
}

/// Retry after a failure with per-object exponential backoff.
pub fn error_policy(policy: Arc<AclPolicy>, error: &Error, r: Arc<PolicyReconciler>) -> Action {
    let key = object_key(policy.as_ref());
    let delay = r.backoff.failed(&key);
    r.ctx
        .metrics
        .count_reconcile(CONTROLLER, error.metric_label());
    tracing::warn!(policy = %key, error = %error, retry_in = ?delay, "AclPolicy reconcile failed");
    Action::requeue(delay)
}

/// Policies a Secret change touches: its AclPolicy owner, and every policy of its namespace
/// with a `tokenSecretRef` naming it.
pub fn policies_of_secret(store: &Store<AclPolicy>, secret: &Secret) -> Vec<ObjectRef<AclPolicy>> {
    let ns = secret.namespace().unwrap_or_default();
    let name = secret.name_any();
    let mut out: Vec<ObjectRef<AclPolicy>> = secret
        .owner_references()
        .iter()
        .filter(|o| o.kind == "AclPolicy" && o.api_version == backrunner_crds::API_VERSION)
        .map(|o| ObjectRef::new(&o.name).within(&ns))
        .collect();
    for p in store.state() {
        let refers = p.namespace().as_deref() == Some(ns.as_str())
            && p.spec
                .users
                .iter()
                .any(|u| u.token_secret_ref.as_ref().is_some_and(|s| s.name == name));
        if refers {
            out.push(ObjectRef::from_obj(p.as_ref()));
        }
    }
    out
}

/// Policies a Bucket change touches (their bound count).
pub fn policies_of_bucket(bucket: &Bucket) -> Vec<ObjectRef<AclPolicy>> {
    let ns = bucket.namespace().unwrap_or_default();
    bucket
        .spec
        .acl_policy_refs
        .iter()
        .map(|p| ObjectRef::new(p).within(&ns))
        .collect()
}

/// Runs the AclPolicy controller until `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + 'static) {
    let client = ctx.client.clone();
    let ns = ctx.config.watch_namespace.clone();
    let wc = watcher::Config::default().any_semantic();
    let controller = Controller::new(scoped_api::<AclPolicy>(&client, &ns), wc.clone());
    let store = controller.store();
    let reconciler = Arc::new(PolicyReconciler {
        recorder: Recorder::new(ctx.client.clone(), ctx.reporter.clone()),
        ctx,
        backoff: FailureBackoff::new(BACKOFF_BASE, BACKOFF_MAX),
    });
    let controller = controller
        .watches(scoped_api::<Secret>(&client, &ns), wc.clone(), move |s| {
            policies_of_secret(&store, &s)
        })
        .watches(scoped_api::<Bucket>(&client, &ns), wc, |b| {
            policies_of_bucket(&b)
        })
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
