//! Resolution of what a Bucket refers to: its EllipticsCluster (with the cluster's
//! `allowedNamespaces` rule) and its AclPolicies with the token books of their owned Secrets.

use backrunner_crds::bucket::{Bucket, reasons};
use backrunner_crds::{AclPolicy, EllipticsCluster};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::ResourceExt;
use kube::api::Api;

use super::desired::PolicyTokens;
use super::status::StatusDraft;
use super::{Error, Reconciler};
use crate::acl_policy::rotation::TokenBook;
use backrunner_crds::condition::{ConditionStatus, types};

/// The EllipticsCluster of `bucket`, or `None` with Synced=False set.
pub async fn resolve_cluster(
    bucket: &Bucket,
    namespace: &str,
    r: &Reconciler,
    draft: &mut StatusDraft,
) -> Result<Option<EllipticsCluster>, Error> {
    let cref = &bucket.spec.cluster_ref;
    let cluster_ns = cref.namespace.as_deref().unwrap_or(namespace);
    let api: Api<EllipticsCluster> = Api::namespaced(r.ctx.client.clone(), cluster_ns);
    let Some(cluster) = api.get_opt(&cref.name).await? else {
        let msg = format!("EllipticsCluster {cluster_ns}/{} not found", cref.name);
        draft.set(
            types::SYNCED,
            ConditionStatus::False,
            reasons::CLUSTER_NOT_FOUND,
            msg,
        );
        return Ok(None);
    };
    let allowed = &cluster.spec.allowed_namespaces;
    let labels = match (cluster_ns == namespace, allowed.from) {
        (false, backrunner_crds::cluster::NamespacesFrom::Selector) => {
            let ns_api: Api<Namespace> = Api::all(r.ctx.client.clone());
            ns_api
                .get_opt(namespace)
                .await?
                .map(|n| n.labels().clone())
                .unwrap_or_default()
        }
        _ => Default::default(),
    };
    if !allowed.permits(cluster_ns, namespace, &labels) {
        let msg = format!(
            "EllipticsCluster {cluster_ns}/{} does not allow namespace {namespace}",
            cref.name
        );
        draft.set(
            types::SYNCED,
            ConditionStatus::False,
            reasons::NAMESPACE_NOT_ALLOWED,
            msg,
        );
        return Ok(None);
    }
    Ok(Some(cluster))
}

/// The referenced policies with their token books; the inner `Err` is a Synced reason and
/// message (missing policy).
pub async fn resolve_policies(
    bucket: &Bucket,
    namespace: &str,
    r: &Reconciler,
) -> Result<Result<Vec<PolicyTokens>, (&'static str, String)>, Error> {
    let policies: Api<AclPolicy> = Api::namespaced(r.ctx.client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(r.ctx.client.clone(), namespace);
    let mut out = Vec::new();
    for name in &bucket.spec.acl_policy_refs {
        let Some(policy) = policies.get_opt(name).await? else {
            return Ok(Err((
                reasons::ACL_POLICY_NOT_FOUND,
                format!("AclPolicy {namespace}/{name} not found"),
            )));
        };
        let secret_name = backrunner_crds::acl_policy::generated_secret_name(name);
        let book = secrets
            .get_opt(&secret_name)
            .await?
            .filter(|s| crate::acl_policy::owned_by(s, &policy))
            .map(|s| TokenBook::from_secret_data(&s.data.unwrap_or_default()));
        out.push(PolicyTokens {
            name: name.clone(),
            spec: policy.spec.clone(),
            book,
        });
    }
    Ok(Ok(out))
}
