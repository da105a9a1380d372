//! RIFT's bucket directories: `POST /update-bucket-directory/{dir}` creates a directory
//! (the bootstrap admin only) or changes one (its admins), with the optional body
//! `{"acl": [{"user": "u", "token": "t", "flags": N}], "flags": 0}` (absent fields keep
//! their value); `GET /list-bucket-directory/{dir}` lists its buckets with their groups,
//! object count and bytes (from each bucket's key index); `POST
//! /delete-bucket-directory/{dir}` removes it (its buckets stay, in no directory).
//! Who may do what: [`management`](super::management).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use backrunner_store::bucket::BucketMetadata;
use backrunner_store::{BucketDirectory, DirectoryMembership};
use futures_util::{StreamExt, stream};
use serde::Deserialize;
use serde_json::{Value, json};

use super::management::{
    AclEntryBody, Caller, acl_doc, acl_of, directory_of, directory_what, json_body, metadata_error,
    path_names, read_bucket, read_directory, store,
};
use crate::error::{ApiError, BadRequest};
use crate::state::AppState;

/// The body of update-bucket-directory.
#[derive(Debug, Default, Deserialize)]
pub struct UpdateDirectoryBody {
    /// The directory's ACL (replaces the whole ACL).
    pub acl: Option<Vec<AclEntryBody>>,
    /// Directory flags.
    pub flags: Option<u64>,
}

/// A directory as JSON (no tokens), without its buckets.
fn directory_doc(directory: &BucketDirectory) -> Value {
    json!({
        "directory": directory.name,
        "acl": acl_doc(&directory.acl, false),
        "flags": directory.flags,
    })
}

/// `POST /update-bucket-directory/{dir}`.
pub async fn update_bucket_directory(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, ApiError> {
    let [name] = path_names::<1>(&caller.info, BadRequest::ExpectedDirectoryOnly)?;
    let existing = read_directory(&state, &name).await?;
    match &existing {
        Some(d) => caller.require_admin(&state, &directory_what(&name), None, &[d])?,
        // Nobody but the bootstrap admin is an admin of a directory that does not exist.
        None => caller.require_admin(&state, &directory_what(&name), None, &[])?,
    }
    let request: UpdateDirectoryBody = json_body(body).await?;
    let created = existing.is_none();
    let mut directory = existing.unwrap_or_else(|| BucketDirectory::new(&name));
    if let Some(acl) = request.acl {
        directory.acl = acl_of(acl)?;
    }
    if let Some(flags) = request.flags {
        directory.flags = flags;
    }
    store(&state)
        .write_directory(&directory)
        .await
        .check()
        .map_err(|e| metadata_error("bucket directory write", &e))?;
    tracing::info!(directory = %name, user = %caller.auth.user, created, "bucket directory updated");
    let mut doc = directory_doc(&directory);
    doc["buckets"] = json!(directory.buckets);
    doc["created"] = json!(created);
    Ok(Json(doc).into_response())
}

/// Buckets read at once while listing.
const LIST_CONCURRENCY: usize = 8;

/// `GET /list-bucket-directory/{dir}`: the directory (no tokens) and its buckets, each
/// with `name`, `groups`, `flags`, `max-size`, `max-key-num`, `objects` and `bytes`
/// (`null` with `usage_error` when its key index could not be read in time). A member
/// whose metadata is gone, or that moved to another directory, is left out.
pub async fn list_bucket_directory(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let [name] = path_names::<1>(&caller.info, BadRequest::ExpectedDirectoryOnly)?;
    let directory = read_directory(&state, &name)
        .await?
        .ok_or_else(|| ApiError::DirectoryNotFound(name.clone()))?;
    if !caller.is_admin_of(&state, None, &[&directory]) {
        caller.may_read_directory(&directory)?;
    }
    let docs: Vec<Option<Value>> = stream::iter(directory.buckets.clone())
        .map(|bucket| {
            let (state, dir) = (&state, name.as_str());
            async move { member_doc(state, dir, &bucket).await }
        })
        .buffered(LIST_CONCURRENCY)
        .collect::<Vec<Result<Option<Value>, ApiError>>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let mut doc = directory_doc(&directory);
    doc["buckets"] = Value::Array(docs.into_iter().flatten().collect());
    Ok(Json(doc).into_response())
}

/// One listed member: its metadata (fresh) and usage; `None` when it has no metadata or
/// its membership record names another directory.
async fn member_doc(state: &AppState, dir: &str, name: &str) -> Result<Option<Value>, ApiError> {
    let (meta, member_of) = tokio::join!(read_bucket(state, name), directory_of(state, name));
    let (Some(meta), Some(member_of)) = (meta?, member_of?) else {
        return Ok(None);
    };
    if member_of != dir {
        return Ok(None);
    }
    let mut doc = json!({
        "name": meta.name,
        "groups": meta.groups,
        "flags": meta.flags,
        "max-size": meta.max_size,
        "max-key-num": meta.max_key_num,
    });
    match usage(state, &meta).await {
        Ok((objects, bytes)) => {
            doc["objects"] = json!(objects);
            doc["bytes"] = json!(bytes);
        }
        Err(e) => {
            doc["objects"] = Value::Null;
            doc["bytes"] = Value::Null;
            doc["usage_error"] = json!(e);
        }
    }
    Ok(Some(doc))
}

/// `bucket`'s objects and bytes from its key index, or why not (as `/stat` shows them).
async fn usage(state: &AppState, bucket: &BucketMetadata) -> Result<(u64, u64), String> {
    super::stat::usage(state, bucket)
        .await
        .map(|u| (u.objects, u.bytes))
}

/// `POST /delete-bucket-directory/{dir}`: removes the membership record of every bucket
/// still in it, then the directory. The buckets themselves stay.
pub async fn delete_bucket_directory(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let [name] = path_names::<1>(&caller.info, BadRequest::ExpectedDirectoryOnly)?;
    let directory = read_directory(&state, &name)
        .await?
        .ok_or_else(|| ApiError::DirectoryNotFound(name.clone()))?;
    caller.require_admin(&state, &directory_what(&name), None, &[&directory])?;
    let store = store(&state);
    let mut released = Vec::new();
    for bucket in &directory.buckets {
        if directory_of(&state, bucket).await?.as_deref() == Some(name.as_str()) {
            store
                .remove_record::<DirectoryMembership>(bucket)
                .await
                .check()
                .map_err(|e| metadata_error("directory membership removal", &e))?;
            released.push(bucket.clone());
        }
    }
    store
        .remove_directory(&name)
        .await
        .check()
        .map_err(|e| metadata_error("bucket directory removal", &e))?;
    tracing::info!(directory = %name, user = %caller.auth.user, "bucket directory deleted");
    Ok(Json(json!({"directory": name, "deleted": true, "buckets": released})).into_response())
}
