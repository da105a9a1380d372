//! Reading Backrunner objects back: conditions, observed generations, the tokens of a
//! Bucket's users (from the Secrets the operator owns or the ones referenced), the Lease
//! holder — all polled with deadlines.

use std::fmt::Debug;
use std::time::Duration;

use backrunner_crds::acl_policy::generated_secret_name;
use backrunner_crds::{AclPolicy, Bucket};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{E2eError, Result};
use crate::proxy::Credentials;
use crate::wait::{Probe, wait_for};

/// Default deadline for the operator to reconcile something.
pub const RECONCILE_LIMIT: Duration = Duration::from_secs(90);

/// `(type, status, reason)` of each condition of an object, read from its JSON form.
pub fn conditions<K: Serialize>(obj: &K) -> Vec<(String, String, String)> {
    let v = serde_json::to_value(obj).unwrap_or_default();
    v["status"]["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let s = |k: &str| c[k].as_str().unwrap_or("").to_owned();
                    (s("type"), s("status"), s("reason"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `status.observedGeneration` and `metadata.generation`.
pub fn generations<K: Serialize + Resource>(obj: &K) -> (Option<i64>, Option<i64>) {
    let v = serde_json::to_value(obj).unwrap_or_default();
    (
        v["status"]["observedGeneration"].as_i64(),
        obj.meta().generation,
    )
}

/// The kind of `K` (`Bucket`, …), for messages.
fn kind_of<K: Resource>() -> String
where
    K::DynamicType: Default,
{
    K::kind(&K::DynamicType::default()).into_owned()
}

/// Waits until `name` has condition `type_` = `status`, reconciled at its current
/// generation; returns the object.
pub async fn wait_condition<K>(api: &Api<K>, name: &str, type_: &str, status: &str) -> Result<K>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
    K::DynamicType: Default,
{
    let what = format!("{} {name}: {type_}={status}", kind_of::<K>());
    wait_for(&what, RECONCILE_LIMIT, async || {
        let Some(obj) = api.get_opt(name).await? else {
            return Ok(Probe::Pending("object absent".into()));
        };
        let conds = conditions(&obj);
        let (observed, generation) = generations(&obj);
        let ok = conds.iter().any(|(t, s, _)| t == type_ && s == status)
            && (observed.is_none() || observed == generation);
        Ok(if ok {
            Probe::Done(obj)
        } else {
            Probe::Pending(format!(
                "conditions {conds:?}, observedGeneration {observed:?} of {generation:?}"
            ))
        })
    })
    .await
}

/// Waits until `name` is gone (finalizers released).
pub async fn wait_deleted<K>(api: &Api<K>, name: &str) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
    K::DynamicType: Default,
{
    let what = format!("{} {name} to be deleted", kind_of::<K>());
    wait_for(&what, RECONCILE_LIMIT, async || {
        Ok(match api.get_opt(name).await? {
            None => Probe::Done(()),
            Some(obj) => Probe::Pending(format!(
                "finalizers {:?}, conditions {:?}",
                obj.meta().finalizers,
                conditions(&obj)
            )),
        })
    })
    .await
}

/// The token of `user` of `policy`: from its `tokenSecretRef`, else from the Secret the
/// operator generates.
pub async fn user_token(
    client: &kube::Client,
    ns: &str,
    policy: &AclPolicy,
    user: &str,
) -> Result<String> {
    let u = policy
        .spec
        .user(user)
        .ok_or_else(|| E2eError::Check(format!("policy has no user {user}")))?;
    let (secret, key) = match &u.token_secret_ref {
        Some(r) => (r.name.clone(), r.key.clone()),
        None => (
            generated_secret_name(&policy.metadata.name.clone().unwrap_or_default()),
            user.to_owned(),
        ),
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let s = secrets.get(&secret).await?;
    let bytes = s
        .data
        .as_ref()
        .and_then(|d| d.get(&key))
        .map(|b| b.0.clone())
        .ok_or_else(|| E2eError::Check(format!("Secret {secret} has no key {key}")))?;
    String::from_utf8(bytes)
        .map_err(|_| E2eError::Check(format!("Secret {secret}/{key} is not UTF-8")))
}

/// Credentials of a user that may write to `bucket`: the first user with `write` among its
/// policies, in reference order.
pub async fn writer_of(
    client: &kube::Client,
    ns: &str,
    bucket: &Bucket,
) -> Result<Option<Credentials>> {
    let policies: Api<AclPolicy> = Api::namespaced(client.clone(), ns);
    for p in &bucket.spec.acl_policy_refs {
        let policy = policies.get(p).await?;
        if let Some(u) = policy.spec.users.iter().find(|u| u.permissions.write) {
            let token = user_token(client, ns, &policy, &u.name).await?;
            return Ok(Some(Credentials {
                user: u.name.clone(),
                token,
            }));
        }
    }
    Ok(None)
}

/// The holder of Lease `name` in `ns`, if any.
pub async fn lease_holder(client: &kube::Client, ns: &str, name: &str) -> Result<Option<String>> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    Ok(leases
        .get_opt(name)
        .await?
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity))
}
