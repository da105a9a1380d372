//! Plumbing shared by every controller (Bucket, AclPolicy, EllipticsCluster), below all of
//! them so that none borrows from another. Here: the clock ([`unix_now`]), object keys
//! ([`object_key`]) and namespace-scoped APIs ([`scoped_api`]); in submodules:
//!
//! | module | what |
//! |---|---|
//! | [`backoff`] | per-object exponential backoff of `error_policy`, one for all controllers |
//! | [`run`] | the run loop: concurrency, graceful shutdown, periodic "reconcile all" ticks |
//! | [`events`] | Kubernetes Events (best effort) and their stable reasons |
//! | [`status`] | status writes (server-side apply), coarse numbers, the per-object write interval |

pub mod backoff;
pub mod events;
pub mod run;
pub mod status;

use std::time::{SystemTime, UNIX_EPOCH};

use kube::api::Api;
use kube::{Resource, ResourceExt};

pub use backoff::FailureBackoff;

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `namespace/name` of an object: the key of the per-object backoff and write-interval maps.
pub fn object_key<K: Resource>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// An API over every namespace, or over `namespace` when set (the operator's
/// `watch_namespace`).
pub fn scoped_api<K>(client: &kube::Client, namespace: &str) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        "" => Api::all(client.clone()),
        ns => Api::namespaced(client.clone(), ns),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::test_spec;
    use backrunner_crds::bucket::Bucket;

    #[test]
    fn object_key_is_namespace_slash_name() {
        let mut b = Bucket::new("b", test_spec("c", vec![1]));
        assert_eq!(object_key(&b), "/b");
        b.metadata.namespace = Some("ns".into());
        assert_eq!(object_key(&b), "ns/b");
        assert!(unix_now() > 1_600_000_000);
    }
}
