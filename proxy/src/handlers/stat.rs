//! `GET /stat[/b1,b2]`: bucket metadata without tokens, the bucket's object count and
//! bytes from its key index (`"objects"`, `"bytes"`; `null` with `"usage_error"` when the
//! index could not be read in time) and, per group of each bucket, the polled statistics
//! of every backend serving that group (protocol reference §14.2: from the cached
//! statistics). Usage is read for a few buckets at a time and cached for a moment.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use backrunner_store::bucket::BucketMetadata;
use backrunner_store::index::BucketUsage;
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

use crate::error::{ApiError, BadRequest};
use crate::request::Info;
use crate::state::AppState;

/// The handler: every cached bucket, or the comma-separated names after `/stat/`.
pub async fn stat(State(state): State<AppState>, Info(info): Info) -> Result<Response, ApiError> {
    let path =
        std::str::from_utf8(info.decoded_path()?).map_err(|_| BadRequest::BucketListNotUtf8)?;
    let list = path.trim_start_matches("/stat").trim_matches('/');
    let buckets = if list.is_empty() {
        state.buckets.snapshot()
    } else {
        let mut found = Vec::new();
        for name in list.split(',').filter(|n| !n.is_empty()) {
            found.push(state.buckets.get(name).await?);
        }
        found
    };
    let routes = state.client.route_table();
    let now = Instant::now();
    let usages: Vec<Result<BucketUsage, String>> = stream::iter(buckets.clone())
        .map(|b| {
            let state = state.clone();
            async move { usage(&state, &b).await }
        })
        .buffered(USAGE_CONCURRENCY)
        .collect()
        .await;
    let docs: Vec<Value> = buckets
        .iter()
        .zip(usages)
        .map(|(b, usage)| {
            let mut doc = bucket_doc(&state, &routes, b, now);
            match usage {
                Ok(u) => {
                    doc["objects"] = json!(u.objects);
                    doc["bytes"] = json!(u.bytes);
                }
                Err(e) => {
                    doc["objects"] = Value::Null;
                    doc["bytes"] = Value::Null;
                    doc["usage_error"] = json!(e);
                }
            }
            doc
        })
        .collect();
    Ok(Json(json!({ "buckets": docs, "stats_loaded": state.cluster.is_loaded() })).into_response())
}

/// Buckets whose usage is read at once.
const USAGE_CONCURRENCY: usize = 8;

/// How long one bucket's usage may take.
const USAGE_TIMEOUT: Duration = Duration::from_secs(3);

/// `bucket`'s objects and bytes from its key index, or why not.
pub(crate) async fn usage(
    state: &AppState,
    bucket: &BucketMetadata,
) -> Result<BucketUsage, String> {
    match tokio::time::timeout(USAGE_TIMEOUT, state.indexes.usage(bucket)).await {
        Ok(None) => Err("the key index is switched off on this proxy (key_index = false)".into()),
        Ok(Some(Ok(u))) => Ok(u),
        Ok(Some(Err(e))) => {
            tracing::info!(bucket = %bucket.name, error = %e, "bucket usage unavailable");
            Err(e.to_string())
        }
        Err(_) => Err(format!("the key index did not answer in {USAGE_TIMEOUT:?}")),
    }
}

fn bucket_doc(
    state: &AppState,
    routes: &elliptics::client::RouteTable,
    bucket: &BucketMetadata,
    now: Instant,
) -> Value {
    let acl: Vec<Value> = bucket
        .acl
        .values()
        .map(|e| json!({"user": e.user, "flags": e.flags.bits()}))
        .collect();
    let all_backends = routes.backends();
    let groups: Vec<Value> = bucket
        .groups
        .iter()
        .map(|g| {
            let backends: Vec<Value> = all_backends
                .iter()
                .filter(|rb| rb.group == *g)
                .map(|rb| {
                    let owner = (rb.addr, rb.backend_id);
                    match state.cluster.stat(&owner, now) {
                        Some(s) => json!({
                            "node": rb.addr.to_string(), "backend": rb.backend_id,
                            "state": s.state, "defrag_state": s.defrag_state,
                            "read_only": s.read_only, "error": s.error_code,
                            "used_size": s.used_size, "removed_size": s.removed_size,
                            "total_size_limit": s.total_size_limit, "vfs_avail": s.vfs_avail,
                            "records_total": s.records_total, "records_removed": s.records_removed,
                        }),
                        None => json!({
                            "node": rb.addr.to_string(), "backend": rb.backend_id, "stats": null,
                        }),
                    }
                })
                .collect();
            json!({"group": g, "backends": backends})
        })
        .collect();
    json!({
        "name": bucket.name, "groups": groups, "acl": acl, "flags": bucket.flags,
        "max_size": bucket.max_size, "max_key_num": bucket.max_key_num,
    })
}
