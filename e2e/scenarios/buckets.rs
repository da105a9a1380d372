//! Buckets end to end: the examples become Ready, objects go in and out through both proxies
//! with the operator-generated and user-provided tokens, quota changes reach the proxies,
//! and deletion honours `reclaimPolicy` (with `purgeData`, every object goes first).

use std::time::Duration;

use backrunner_e2e::error::ensure;
use backrunner_e2e::proxy::Credentials;
use backrunner_e2e::resources::wait_condition;
use backrunner_e2e::wait::{Probe, wait_for};
use backrunner_e2e::{Result, System};
use serde_json::json;

use crate::support::{self, Apis, bucket_and_writer, elliptics_name, proxies, round_trip};

#[tokio::test]
async fn buckets_become_ready_and_serve_through_both_proxies() -> Result<()> {
    support::run_on_examples(async |system, apis| {
        let clients = proxies(system);
        for name in ["videos", "private", "uploads"] {
            let (bucket, creds) = bucket_and_writer(system, name).await?;
            let b = elliptics_name(&bucket);
            let body = format!("hello from {name}").into_bytes();
            // Each proxy serves what the other stored (metadata from Elliptics, not local).
            round_trip(system, &b, "a/key.txt", &body, creds.as_ref(), 0).await?;
            round_trip(system, &b, "b/key.txt", &body, creds.as_ref(), 1).await?;
            let Some(creds) = creds else { continue };
            // ACL: unsigned and wrongly signed writes are refused.
            let anon = clients[0].upload(&b, "anon", b"x".to_vec(), None).await?;
            ensure(anon.status.is_client_error(), || {
                format!("unsigned upload to {b} was not refused: {anon}")
            })?;
            let forged = Credentials {
                user: creds.user.clone(),
                token: "not-the-token".into(),
            };
            let bad = clients[1]
                .upload(&b, "forged", b"x".to_vec(), Some(&forged))
                .await?;
            ensure(bad.status.is_client_error(), || {
                format!("upload with a wrong token to {b} was not refused: {bad}")
            })?;
            // publicRead: anonymous reads of `videos` work, of `private` do not.
            let read = clients[0].get(&b, "a/key.txt", None).await?;
            ensure(read.status.is_success() == bucket.spec.public_read, || {
                format!(
                    "anonymous read of {b} (publicRead={}): {read}",
                    bucket.spec.public_read
                )
            })?;
        }
        // Each Bucket's status counts its objects from the key index (2 keys each).
        for name in ["videos", "private", "uploads"] {
            wait_for(
                &format!("status.usage of {name} to count its 2 objects"),
                Duration::from_secs(30),
                async || {
                    let b = apis.buckets.get(name).await?;
                    let usage = b.status.and_then(|s| s.usage);
                    Ok(Probe::done_if(
                        usage.as_ref().is_some_and(|u| u.objects == 2),
                        || format!("{usage:?}"),
                    ))
                },
            )
            .await?;
        }
        // The user-provided token of `partner` works on `private` too.
        let (private, _) = bucket_and_writer(system, "private").await?;
        let partner_token = backrunner_e2e::resources::user_token(
            &system.client(),
            backrunner_e2e::system::NAMESPACE,
            &apis.policies.get("partner").await?,
            "partner",
        )
        .await?;
        let partner = Credentials {
            user: "partner".into(),
            token: partner_token,
        };
        round_trip(
            system,
            &elliptics_name(&private),
            "partner.bin",
            b"p",
            Some(&partner),
            1,
        )
        .await
    })
    .await
}

#[tokio::test]
async fn quota_change_reaches_the_proxies() -> Result<()> {
    support::run_on_examples(async |system, apis| {
        let (bucket, creds) = bucket_and_writer(system, "videos").await?;
        let b = elliptics_name(&bucket);
        round_trip(system, &b, "big-before", &[7u8; 4096], creds.as_ref(), 0).await?;
        set_max_size(apis, "videos", 1000).await?;
        for (i, client) in proxies(system).iter().enumerate() {
            wait_for(
                &format!("proxy-{i} to refuse a 4 KiB upload to {b} (maxSize 1000)"),
                Duration::from_secs(30),
                async || {
                    let r = client
                        .upload(&b, "big", vec![1u8; 4096], creds.as_ref())
                        .await?;
                    Ok(Probe::done_if(
                        r.status == reqwest::StatusCode::PAYLOAD_TOO_LARGE,
                        || r.to_string(),
                    ))
                },
            )
            .await?;
            let small = client
                .upload(&b, "small", vec![1u8; 500], creds.as_ref())
                .await?;
            ensure(small.status.is_success(), || {
                format!("500-byte upload: {small}")
            })?;
        }
        set_max_size(apis, "videos", 0).await?;
        let client = &proxies(system)[1];
        wait_for(
            "4 KiB uploads to work again (maxSize 0)",
            Duration::from_secs(30),
            async || {
                let r = client
                    .upload(&b, "big", vec![1u8; 4096], creds.as_ref())
                    .await?;
                Ok(Probe::done_if(r.status.is_success(), || r.to_string()))
            },
        )
        .await
    })
    .await
}

async fn set_max_size(apis: &Apis, name: &str, max: u64) -> Result<()> {
    let quota = json!({"spec": {"quota": {"maxSize": max}}});
    support::merge_patch(&apis.buckets, name, &quota).await?;
    wait_condition(&apis.buckets, name, "Ready", "True").await?;
    Ok(())
}

#[tokio::test]
async fn bucket_deletion_honours_reclaim_policy() -> Result<()> {
    support::run_on_examples(async |system, apis| {
        let store = support::metadata_store(system).await;
        let clients = proxies(system);

        // uploads: reclaimPolicy Retain. The object goes, the metadata and data stay.
        let (u, creds) = write_then_delete(system, apis, "uploads", "kept", 0).await?;
        let meta = store.read_bucket(&u).await.map_err(storage_err)?;
        ensure(meta.is_some(), || {
            format!("Retain: metadata of {u} is gone")
        })?;
        let got = clients[1].get(&u, "kept", creds.as_ref()).await?;
        ensure(got.status.is_success(), || {
            format!("Retain: {u}/kept after deletion: {got}")
        })?;

        // private: reclaimPolicy Delete. Metadata removed, proxies answer 404.
        let (p, creds) = write_then_delete(system, apis, "private", "gone", 1).await?;
        let meta = store.read_bucket(&p).await.map_err(storage_err)?;
        ensure(meta.is_none(), || {
            format!("Delete: metadata of {p} still there: {meta:?}")
        })?;
        for (i, client) in clients.iter().enumerate() {
            wait_for(
                &format!("proxy-{i} to answer 404 for {p}"),
                Duration::from_secs(30),
                async || {
                    let r = client.get(&p, "gone", creds.as_ref()).await?;
                    Ok(Probe::done_if(
                        r.status == reqwest::StatusCode::NOT_FOUND,
                        || r.to_string(),
                    ))
                },
            )
            .await?;
        }
        // The list the proxies read no longer names it; `videos` is untouched.
        let list = store
            .read_list(backrunner_e2e::manifests::DEFAULT_BUCKET_LIST_KEY)
            .await
            .map_err(storage_err)?;
        ensure(
            !list.names().contains(&p) && list.names().iter().any(|n| n == "videos"),
            || format!("bucket list after deletions: {:?}", list.names()),
        )
    })
    .await
}

#[tokio::test]
async fn spec_directory_puts_the_bucket_in_a_rift_directory() -> Result<()> {
    support::run_on_examples(async |system, apis| {
        let clients = proxies(system);
        let store = support::metadata_store(system).await;
        // The directory a proxy lists (anyone may list a directory without an ACL).
        let members = async |dir: &str| -> Result<Vec<String>> {
            let r = clients[0]
                .send(
                    reqwest::Method::GET,
                    &format!("/list-bucket-directory/{dir}"),
                    Vec::new(),
                    None,
                )
                .await?;
            if r.status == reqwest::StatusCode::NOT_FOUND {
                return Ok(Vec::new());
            }
            let doc: serde_json::Value = serde_json::from_slice(&r.body)
                .map_err(|e| backrunner_e2e::E2eError::Check(format!("{e}: {r}")))?;
            Ok(doc["buckets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| b["name"].as_str().map(str::to_owned))
                .collect())
        };
        let wait_members = async |dir: &str, want: &[&str]| -> Result<()> {
            wait_for(
                &format!("directory {dir} to hold {want:?}"),
                Duration::from_secs(30),
                async || {
                    let got = members(dir).await?;
                    Ok(Probe::done_if(got == want, || format!("{got:?}")))
                },
            )
            .await
        };
        let patch = json!({"spec": {"directory": "media"}});
        support::merge_patch(&apis.buckets, "videos", &patch).await?;
        wait_members("media", &["videos"]).await?;
        // Moved: the old directory lets it go.
        let patch = json!({"spec": {"directory": "archive"}});
        support::merge_patch(&apis.buckets, "videos", &patch).await?;
        wait_members("archive", &["videos"]).await?;
        wait_members("media", &[]).await?;
        // Out of every directory.
        let patch = json!({"spec": {"directory": null}});
        support::merge_patch(&apis.buckets, "videos", &patch).await?;
        wait_members("archive", &[]).await?;
        let dir = store.read_directory("archive").await.map_err(storage_err)?;
        ensure(dir.is_some_and(|d| d.buckets.is_empty()), || {
            "directory archive after the bucket left".to_owned()
        })
    })
    .await
}

#[tokio::test]
async fn purge_data_removes_every_object_before_the_metadata() -> Result<()> {
    support::run_on_examples(async |system, apis| {
        let clients = proxies(system);
        let (bucket, creds) = bucket_and_writer(system, "private").await?;
        let name = elliptics_name(&bucket);
        let keys: Vec<String> = (0..40).map(|i| format!("dir{}/obj {i}", i % 4)).collect();
        for (i, key) in keys.iter().enumerate() {
            let up = clients[i % 2]
                .upload(&name, key, key.as_bytes().to_vec(), creds.as_ref())
                .await?;
            ensure(up.status.is_success(), || format!("upload {key}: {up}"))?;
        }
        // A wrong confirmation blocks the deletion and removes nothing.
        let patch = json!({"spec": {"purgeData": {"confirm": "not-the-name"}}});
        support::merge_patch(&apis.buckets, "private", &patch).await?;
        apis.buckets
            .delete("private", &kube::api::DeleteParams::default())
            .await?;
        wait_condition(&apis.buckets, "private", "DeletionBlocked", "True").await?;
        let got = clients[0].get(&name, &keys[0], creds.as_ref()).await?;
        ensure(got.status.is_success(), || {
            format!("an unconfirmed purge removed {}: {got}", keys[0])
        })?;
        // Confirmed: every object goes, then the metadata and the Bucket.
        let patch = json!({"spec": {"purgeData": {"confirm": name}}});
        support::merge_patch(&apis.buckets, "private", &patch).await?;
        backrunner_e2e::resources::wait_deleted(&apis.buckets, "private").await?;
        let client = system.storage.client().await;
        let session = client
            .session()
            .groups(bucket.spec.groups.clone())
            .namespace(name.as_bytes());
        for key in &keys {
            let head = backrunner_store::object::head(&session, key.as_bytes()).await;
            ensure(head.as_ref().is_err_and(|e| e.is_not_found()), || {
                format!("{key} survived the purge: {head:?}")
            })?;
        }
        let store = support::metadata_store(system).await;
        let meta = store.read_bucket(&name).await.map_err(storage_err)?;
        ensure(meta.is_none(), || {
            format!("metadata of {name} after the purge")
        })
    })
    .await
}

/// Writes `key` (its name as the body) into Bucket `name` through proxy `via` and reads it
/// back through every proxy, then deletes the Bucket and waits until it is gone. Returns the
/// Elliptics bucket name and the writer.
async fn write_then_delete(
    system: &System,
    apis: &Apis,
    name: &str,
    key: &str,
    via: usize,
) -> Result<(String, Option<Credentials>)> {
    let (bucket, creds) = bucket_and_writer(system, name).await?;
    let elliptics = elliptics_name(&bucket);
    round_trip(system, &elliptics, key, key.as_bytes(), creds.as_ref(), via).await?;
    support::delete_bucket(apis, name).await?;
    Ok((elliptics, creds))
}

fn storage_err(e: backrunner_store::MetadataError) -> backrunner_e2e::E2eError {
    backrunner_e2e::E2eError::Check(format!("reading metadata from storage: {e}"))
}
