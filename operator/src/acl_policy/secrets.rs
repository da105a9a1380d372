//! The Secrets of an AclPolicy: reading a user's `tokenSecretRef`, and writing the
//! operator-owned token Secret by server-side apply (owner reference to the policy, label
//! [`super::MANAGED_BY_LABEL`]).

use std::collections::{BTreeMap, HashMap};

use backrunner_crds::acl_policy::{AclPolicy, reasons};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use kube::{Resource, ResourceExt};

use super::rotation::TokenBook;
use super::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use crate::controller::status::FIELD_MANAGER;

/// Whether `secret` has an owner reference to `policy` (by uid).
pub fn owned_by(secret: &Secret, policy: &AclPolicy) -> bool {
    let uid = policy.uid();
    secret
        .owner_references()
        .iter()
        .any(|o| o.kind == "AclPolicy" && Some(&o.uid) == uid.as_ref())
}

/// A user problem: condition reason and message.
pub type UserProblem = (&'static str, String);

/// Reads the token of a `tokenSecretRef` (cached per Secret within one pass).
pub async fn referenced_token(
    secrets: &Api<Secret>,
    cache: &mut HashMap<String, Option<Secret>>,
    name: &str,
    key: &str,
) -> Result<Result<String, UserProblem>, kube::Error> {
    if !cache.contains_key(name) {
        let s = secrets.get_opt(name).await?;
        cache.insert(name.to_owned(), s);
    }
    let Some(secret) = cache.get(name).and_then(Option::as_ref) else {
        return Ok(Err((
            reasons::SECRET_NOT_FOUND,
            format!("Secret {name} not found"),
        )));
    };
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key).map(|b| b.0.clone()))
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|s| s.clone().into_bytes())
        });
    let Some(value) = value else {
        return Ok(Err((
            reasons::SECRET_KEY_MISSING,
            format!("Secret {name} has no key {key}"),
        )));
    };
    match String::from_utf8(value) {
        Ok(v) if !v.trim().is_empty() => Ok(Ok(v.trim().to_owned())),
        _ => Ok(Err((
            reasons::INVALID_TOKEN,
            format!("Secret {name} key {key}: token is empty or not UTF-8"),
        ))),
    }
}

/// Server-side apply of the owned Secret holding `book`.
pub async fn write_secret(
    secrets: &Api<Secret>,
    policy: &AclPolicy,
    name: &str,
    book: &TokenBook,
) -> Result<(), kube::Error> {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: policy.namespace(),
            labels: Some(BTreeMap::from([(
                MANAGED_BY_LABEL.to_owned(),
                MANAGED_BY_VALUE.to_owned(),
            )])),
            owner_references: policy.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        data: Some(book.to_secret_data()),
        type_: Some("Opaque".into()),
        ..Secret::default()
    };
    let mut body = serde_json::to_value(&secret).unwrap_or_default();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("apiVersion".into(), "v1".into());
        obj.insert("kind".into(), "Secret".into());
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    secrets.patch(name, &params, &Patch::Apply(&body)).await?;
    Ok(())
}
