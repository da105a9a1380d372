//! Which Buckets a change of a related object touches, looked up in the controller's own
//! Bucket store (no extra caches, no globals):
//!
//! - an AclPolicy → the Buckets of its namespace naming it in `aclPolicyRefs`;
//! - an operator-owned token Secret → through its AclPolicy owner reference, the same;
//! - an EllipticsCluster → the Buckets whose `clusterRef` names it.

use backrunner_crds::bucket::Bucket;
use backrunner_crds::{AclPolicy, EllipticsCluster};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

/// Buckets in `namespace` that reference policy `policy`.
pub fn buckets_referencing(
    buckets: &[std::sync::Arc<Bucket>],
    namespace: &str,
    policy: &str,
) -> Vec<ObjectRef<Bucket>> {
    buckets
        .iter()
        .filter(|b| b.namespace().as_deref() == Some(namespace))
        .filter(|b| b.spec.acl_policy_refs.iter().any(|r| r == policy))
        .map(|b| ObjectRef::from_obj(b.as_ref()))
        .collect()
}

/// Buckets using `cluster` (`clusterRef.namespace` defaults to the Bucket's own).
pub fn buckets_on_cluster(
    buckets: &[std::sync::Arc<Bucket>],
    cluster_ns: &str,
    cluster: &str,
) -> Vec<ObjectRef<Bucket>> {
    buckets
        .iter()
        .filter(|b| b.spec.cluster_ref.name == cluster)
        .filter(|b| {
            let ns = b
                .spec
                .cluster_ref
                .namespace
                .clone()
                .or_else(|| b.namespace());
            ns.as_deref() == Some(cluster_ns)
        })
        .map(|b| ObjectRef::from_obj(b.as_ref()))
        .collect()
}

/// Mapper of AclPolicy changes.
pub fn buckets_of_policy(store: &Store<Bucket>, policy: &AclPolicy) -> Vec<ObjectRef<Bucket>> {
    let ns = policy.namespace().unwrap_or_default();
    buckets_referencing(&store.state(), &ns, &policy.name_any())
}

/// Mapper of owned token Secret changes (through the AclPolicy owner reference).
pub fn buckets_of_owned_secret(store: &Store<Bucket>, secret: &Secret) -> Vec<ObjectRef<Bucket>> {
    let ns = secret.namespace().unwrap_or_default();
    let state = store.state();
    secret
        .owner_references()
        .iter()
        .filter(|o| o.kind == "AclPolicy" && o.api_version == backrunner_crds::API_VERSION)
        .flat_map(|o| buckets_referencing(&state, &ns, &o.name))
        .collect()
}

/// Mapper of EllipticsCluster changes.
pub fn buckets_of_cluster(
    store: &Store<Bucket>,
    cluster: &EllipticsCluster,
) -> Vec<ObjectRef<Bucket>> {
    buckets_on_cluster(
        &store.state(),
        &cluster.namespace().unwrap_or_default(),
        &cluster.name_any(),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use backrunner_crds::bucket::{BucketSpec, ClusterRef};

    use super::*;
    use crate::bucket::test_spec;

    fn bucket(ns: &str, name: &str, cluster: (&str, Option<&str>), refs: &[&str]) -> Arc<Bucket> {
        let mut b = Bucket::new(
            name,
            BucketSpec {
                cluster_ref: ClusterRef {
                    name: cluster.0.into(),
                    namespace: cluster.1.map(Into::into),
                },
                acl_policy_refs: refs.iter().map(|s| s.to_string()).collect(),
                ..test_spec(cluster.0, vec![1])
            },
        );
        b.metadata.namespace = Some(ns.into());
        Arc::new(b)
    }

    fn names(refs: Vec<ObjectRef<Bucket>>) -> Vec<String> {
        let mut v: Vec<String> = refs
            .into_iter()
            .map(|r| format!("{}/{}", r.namespace.unwrap_or_default(), r.name))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn policies_map_to_buckets_of_their_namespace() {
        let all = vec![
            bucket("a", "b1", ("c", None), &["p", "q"]),
            bucket("a", "b2", ("c", None), &["q"]),
            bucket("b", "b3", ("c", None), &["p"]),
        ];
        assert_eq!(names(buckets_referencing(&all, "a", "p")), ["a/b1"]);
        assert_eq!(names(buckets_referencing(&all, "a", "q")), ["a/b1", "a/b2"]);
        assert!(buckets_referencing(&all, "a", "zzz").is_empty());
    }

    #[test]
    fn clusters_map_with_the_default_namespace() {
        let all = vec![
            bucket("a", "b1", ("c", None), &[]),
            bucket("b", "b2", ("c", Some("a")), &[]),
            bucket("b", "b3", ("c", None), &[]),
            bucket("a", "b4", ("other", None), &[]),
        ];
        assert_eq!(names(buckets_on_cluster(&all, "a", "c")), ["a/b1", "b/b2"]);
        assert_eq!(names(buckets_on_cluster(&all, "b", "c")), ["b/b3"]);
    }
}
