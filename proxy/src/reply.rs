//! Reply bodies: the JSON error reply of every [`ApiError`], and the per-group result
//! document of uploads and lookups in Backrunner's format (protocol reference §14.6):
//! `{"info":[{"group","backend","id","csum","filename","size","offset-within-data-file",
//! "mtime","server","error"}],"success-groups":[],"error-groups":[]}`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use elliptics::client::GroupResult;
use elliptics::proto::{FileInfoReply, Id};
use http::{HeaderValue, header};
use serde::Serialize;

use crate::error::ApiError;
use crate::range::unsatisfied_content_range;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = self.www_authenticate() {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let ApiError::RangeNotSatisfiable { size } = self {
            if let Ok(v) = HeaderValue::try_from(unsatisfied_content_range(size)) {
                headers.insert(header::CONTENT_RANGE, v);
            }
        }
        response
    }
}

/// One group's entry of [`GroupReply::info`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GroupInfo {
    /// Replica group.
    pub group: u32,
    /// Backend id that answered (-1 when unknown).
    pub backend: i32,
    /// Object id, hex (128 digits).
    pub id: String,
    /// Stored checksum, hex (all zeros when the store keeps none).
    pub csum: String,
    /// Blob file holding the object.
    pub filename: String,
    /// Object size.
    pub size: u64,
    /// Offset of the data inside the blob file.
    #[serde(rename = "offset-within-data-file")]
    pub offset_within_data_file: u64,
    /// Record timestamp, RFC 3339 UTC with nanoseconds (Go's `time.Time` JSON form).
    pub mtime: String,
    /// Storage node, `ip:port:family`.
    pub server: String,
    /// Why the group failed; empty on success.
    pub error: String,
}

/// Per-group results of an upload or lookup.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GroupReply {
    /// One entry per group.
    pub info: Vec<GroupInfo>,
    /// Groups that succeeded.
    #[serde(rename = "success-groups")]
    pub success_groups: Vec<u32>,
    /// Groups that failed.
    #[serde(rename = "error-groups")]
    pub error_groups: Vec<u32>,
}

impl GroupReply {
    /// Builds the document for object `id` from per-group file-info results.
    pub fn new(id: &Id, results: &[GroupResult<FileInfoReply>]) -> GroupReply {
        let mut reply = GroupReply {
            info: Vec::with_capacity(results.len()),
            success_groups: Vec::new(),
            error_groups: Vec::new(),
        };
        for r in results {
            let server = r.addr.map(|a| a.to_string()).unwrap_or_default();
            let entry = match &r.result {
                Ok(f) => {
                    reply.success_groups.push(r.group);
                    GroupInfo {
                        group: r.group,
                        backend: r.backend_id,
                        id: id.to_hex(),
                        csum: f.info.checksum.to_hex(),
                        filename: f.path.clone(),
                        size: f.info.size,
                        offset_within_data_file: f.info.offset,
                        mtime: f.info.mtime.to_rfc3339(),
                        server: f.addr.to_string(),
                        error: String::new(),
                    }
                }
                Err(e) => {
                    reply.error_groups.push(r.group);
                    GroupInfo {
                        group: r.group,
                        backend: r.backend_id,
                        id: id.to_hex(),
                        csum: String::new(),
                        filename: String::new(),
                        size: 0,
                        offset_within_data_file: 0,
                        mtime: String::new(),
                        server,
                        error: e.to_string(),
                    }
                }
            };
            reply.info.push(entry);
        }
        reply
    }
}

/// The upload reply: `{"bucket","key","reply":{...}}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UploadReply {
    /// Bucket written to.
    pub bucket: String,
    /// Key written (lossy UTF-8 for non-UTF-8 keys).
    pub key: String,
    /// Per-group results.
    pub reply: GroupReply,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_reply_is_json_with_headers() {
        let r = ApiError::RangeNotSatisfiable { size: 7 }.into_response();
        assert_eq!(r.status().as_u16(), 416);
        assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes */7");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let r = ApiError::Unauthorized("x".into()).into_response();
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
