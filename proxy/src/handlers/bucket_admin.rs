//! RIFT's bucket management: `POST /update-bucket/{dir}/{bucket}` creates or changes a
//! bucket (the same [`BucketMetadata`] the operator and `backrunner bucket put` write),
//! adds it to the bucket list and puts it in directory `dir`; `GET /read-bucket/{bucket}`
//! answers its metadata (tokens only for its admins); `POST /delete-bucket/{bucket}`
//! removes its metadata, its token aliases, its name from the bucket list and from its
//! directory (its objects stay). Who may do what: [`management`](super::management).
//!
//! The body of update-bucket (every field optional when the bucket exists: absent ones
//! keep their value; a new bucket needs `groups`):
//!
//! ```json
//! {"groups": [1, 2], "acl": [{"user": "u", "token": "t", "flags": 3}], "flags": 0,
//!  "max-size": 0, "max-key-num": 0}
//! ```
//!
//! A bucket a Kubernetes `Bucket` resource owns (a live ownership record) is refused with
//! 409 naming the resource. Every write must reach every metadata group (else 503, and
//! the request can be repeated). Concurrent changes of one directory through different
//! proxies may lose a member name (read-modify-write, like the bucket list); repeating
//! update-bucket puts it back.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use backrunner_store::bucket::BucketMetadata;
use backrunner_store::{BucketDirectory, DirectoryMembership, TokenAliases};
use serde::Deserialize;
use serde_json::{Value, json};

use super::management::{
    AclEntryBody, Caller, acl_of, bucket_doc, bucket_what, directory_of, directory_what, groups_of,
    json_body, metadata_error, path_names, read_bucket, read_directory, refuse_owned, store,
};
use crate::error::{ApiError, BadRequest};
use crate::state::AppState;

/// The body of update-bucket (see the module docs).
#[derive(Debug, Default, Deserialize)]
pub struct UpdateBucketBody {
    /// The bucket's groups.
    pub groups: Option<Vec<u32>>,
    /// The bucket's ACL (replaces the whole ACL).
    pub acl: Option<Vec<AclEntryBody>>,
    /// Bucket flags.
    pub flags: Option<u64>,
    /// Largest object, bytes (0 = unlimited).
    #[serde(rename = "max-size", alias = "max_size")]
    pub max_size: Option<u64>,
    /// Most keys (0 = unlimited).
    #[serde(rename = "max-key-num", alias = "max_key_num")]
    pub max_key_num: Option<u64>,
}

impl UpdateBucketBody {
    /// `existing` (or a new bucket `name`) with the body's fields applied.
    fn apply(
        self,
        name: &str,
        existing: Option<BucketMetadata>,
    ) -> Result<BucketMetadata, ApiError> {
        let new = existing.is_none();
        let mut meta = existing.unwrap_or_else(|| BucketMetadata::new(name));
        match self.groups {
            Some(groups) => meta.groups = groups_of(groups)?,
            None if new => return Err(BadRequest::MissingGroups.into()),
            None => {}
        }
        if let Some(acl) = self.acl {
            meta.acl = acl_of(acl)?;
        }
        if let Some(flags) = self.flags {
            meta.flags = flags;
        }
        if let Some(max_size) = self.max_size {
            meta.max_size = max_size;
        }
        if let Some(max_key_num) = self.max_key_num {
            meta.max_key_num = max_key_num;
        }
        Ok(meta)
    }
}

/// `POST /update-bucket/{dir}/{bucket}`.
pub async fn update_bucket(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, ApiError> {
    let [dir, name] = path_names::<2>(&caller.info, BadRequest::ExpectedDirectoryAndBucket)?;
    let target = read_directory(&state, &dir)
        .await?
        .ok_or_else(|| ApiError::DirectoryNotFound(dir.clone()))?;
    let existing = read_bucket(&state, &name).await?;
    let current = directory_of(&state, &name).await?;
    let current_dir = match current.as_deref() {
        Some(d) if d == dir => None,
        Some(d) => read_directory(&state, d).await?,
        None => None,
    };
    authorize_update(
        &state,
        &caller,
        &name,
        existing.as_ref(),
        &target,
        current.as_deref(),
        current_dir.as_ref(),
    )?;
    let request: UpdateBucketBody = json_body(body).await?;
    refuse_owned(&state, &name).await?;
    let created = existing.is_none();
    let meta = request.apply(&name, existing)?;

    let store = store(&state);
    store
        .write_bucket(&meta)
        .await
        .check()
        .map_err(|e| metadata_error("bucket metadata write", &e))?;
    let list_key = state.buckets.list_key();
    if !list_key.is_empty() {
        store
            .add_to_list(list_key, &name)
            .await
            .map_err(|e| metadata_error("bucket list update", &e))?;
    }
    store
        .move_to_directory(&name, Some(&dir), false)
        .await
        .map_err(|e| metadata_error("directory membership write", &e))?;
    state.buckets.insert(meta.clone());
    tracing::info!(bucket = %name, directory = %dir, user = %caller.auth.user, created, "bucket updated");
    let mut doc = bucket_doc(&meta, false);
    doc["directory"] = json!(dir);
    doc["created"] = json!(created);
    Ok(Json(doc).into_response())
}

/// Who may update: a new bucket needs an admin of the target directory; an existing one
/// an admin of the bucket (its ACL or its current directory's) and, when it moves to
/// another directory, of that one too.
fn authorize_update(
    state: &AppState,
    caller: &Caller,
    name: &str,
    existing: Option<&BucketMetadata>,
    target: &BucketDirectory,
    current: Option<&str>,
    current_dir: Option<&BucketDirectory>,
) -> Result<(), ApiError> {
    let Some(existing) = existing else {
        return caller.require_admin(state, &directory_what(&target.name), None, &[target]);
    };
    if current == Some(target.name.as_str()) {
        return caller.require_admin(state, &bucket_what(name), Some(existing), &[target]);
    }
    let current_dirs: Vec<&BucketDirectory> = current_dir.into_iter().collect();
    caller.require_admin(state, &bucket_what(name), Some(existing), &current_dirs)?;
    caller.require_admin(state, &directory_what(&target.name), None, &[target])
}

/// Read-modify-write of directory `name`'s member list (written only when `change` says
/// it changed); a directory that no longer exists is left alone.
async fn update_members(
    state: &AppState,
    name: &str,
    change: impl FnOnce(&mut BucketDirectory) -> bool,
) -> Result<(), ApiError> {
    let Some(mut directory) = read_directory(state, name).await? else {
        return Ok(());
    };
    if !change(&mut directory) {
        return Ok(());
    }
    store(state)
        .write_directory(&directory)
        .await
        .check()
        .map_err(|e| metadata_error("bucket directory write", &e))
}

/// `GET /read-bucket/{bucket}`: the bucket's metadata and directory; tokens only for its
/// admins, readers see the rest.
pub async fn read_bucket_handler(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let [name] = path_names::<1>(&caller.info, BadRequest::ExpectedBucketOnly)?;
    let meta = read_bucket(&state, &name)
        .await?
        .ok_or_else(|| ApiError::BucketNotFound(name.clone()))?;
    let dir = directory_of(&state, &name).await?;
    let directory = match dir.as_deref() {
        Some(d) => read_directory(&state, d).await?,
        None => None,
    };
    let dirs: Vec<&BucketDirectory> = directory.iter().collect();
    let admin = caller.is_admin_of(&state, Some(&meta), &dirs);
    if !admin {
        let read = caller.may_read_bucket(&state, &meta);
        let via_directory = directory
            .as_ref()
            .is_some_and(|d| !d.acl.is_empty() && caller.may_read_directory(d).is_ok());
        if !via_directory {
            read?;
        }
    }
    let mut doc = bucket_doc(&meta, admin);
    doc["directory"] = dir.map_or(Value::Null, Value::from);
    Ok(Json(doc).into_response())
}

/// `POST /delete-bucket/{bucket}`: removes the bucket's name from its directory, its
/// membership and token alias records, its name from the bucket list, then its metadata
/// (last, so an interrupted delete can be repeated). Objects are not touched.
pub async fn delete_bucket(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let [name] = path_names::<1>(&caller.info, BadRequest::ExpectedBucketOnly)?;
    let meta = read_bucket(&state, &name)
        .await?
        .ok_or_else(|| ApiError::BucketNotFound(name.clone()))?;
    let dir = directory_of(&state, &name).await?;
    let directory = match dir.as_deref() {
        Some(d) => read_directory(&state, d).await?,
        None => None,
    };
    let dirs: Vec<&BucketDirectory> = directory.iter().collect();
    caller.require_admin(&state, &bucket_what(&name), Some(&meta), &dirs)?;
    refuse_owned(&state, &name).await?;

    let store = store(&state);
    if let Some(d) = dir.as_deref() {
        update_members(&state, d, |d| d.remove(&name)).await?;
        store
            .remove_record::<DirectoryMembership>(&name)
            .await
            .check()
            .map_err(|e| metadata_error("directory membership removal", &e))?;
    }
    let list_key = state.buckets.list_key();
    if !list_key.is_empty() {
        store
            .remove_from_list(list_key, &name)
            .await
            .map_err(|e| metadata_error("bucket list update", &e))?;
    }
    store
        .remove_record::<TokenAliases>(&name)
        .await
        .check()
        .map_err(|e| metadata_error("token alias removal", &e))?;
    store
        .remove_bucket(&name)
        .await
        .check()
        .map_err(|e| metadata_error("bucket metadata removal", &e))?;
    state.buckets.forget(&name);
    tracing::info!(bucket = %name, user = %caller.auth.user, "bucket deleted");
    Ok(Json(json!({"bucket": name, "deleted": true, "directory": dir})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> UpdateBucketBody {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn applies_rift_bodies() {
        let meta = body(
            r#"{"groups":[1,2],"acl":[{"user":"u","token":"t","flags":3}],"flags":0,"max-size":10,"max-key-num":5}"#,
        )
        .apply("b", None)
        .unwrap_or_default();
        assert_eq!(meta.name, "b");
        assert_eq!(meta.groups, [1, 2]);
        assert_eq!(meta.acl["u"].flags.bits(), 3);
        assert_eq!((meta.max_size, meta.max_key_num), (10, 5));
        let changed = body(r#"{"max-size":7}"#)
            .apply("b", Some(meta.clone()))
            .unwrap_or_default();
        assert_eq!(changed.groups, [1, 2], "absent fields keep their value");
        assert_eq!(changed.acl, meta.acl);
        assert_eq!(changed.max_size, 7);
        let status =
            |r: Result<BucketMetadata, ApiError>| r.map_or_else(|e| e.status().as_u16(), |_| 200);
        assert_eq!(status(body("{}").apply("b", None)), 400, "groups required");
        assert_eq!(status(body(r#"{"groups":[]}"#).apply("b", Some(meta))), 400);
        assert!(serde_json::from_str::<UpdateBucketBody>(r#"{"groups":[-1]}"#).is_err());
    }
}
