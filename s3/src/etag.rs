//! ETags of the S3 front.
//!
//! - A single PUT (or a copy) hashes its body with MD5 while the body streams to storage
//!   ([`Md5Body`]): the ETag is `"<md5 hex>"`, as S3's. It is logged with the upload in
//!   the key index (listings show it) and, for an object stored in parts, recorded in its
//!   manifest.
//! - Reading, the ETag of an object is: its MD5 when it is one record no larger than the
//!   part size (`write_chunk_size`: read whole anyway to be verified) — so objects written
//!   through `/upload` get S3's ETag too; the manifest's ETag for an object in parts that
//!   has one; else the proxy's identity tag (id, size, timestamp), which is visibly not an
//!   MD5 (clients such as rclone then treat the hash as unknown rather than wrong).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use md5::{Digest, Md5};

/// An MD5 fed by a body as it streams, readable at any time.
#[derive(Clone, Default)]
pub struct Md5Body {
    hasher: Arc<Mutex<Md5>>,
}

impl std::fmt::Debug for Md5Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Md5Body")
    }
}

impl Md5Body {
    /// A fresh hasher.
    pub fn new() -> Md5Body {
        Md5Body::default()
    }

    /// `stream`, every chunk hashed as it passes.
    pub fn hash<S, E>(&self, stream: S) -> impl Stream<Item = Result<Bytes, E>> + use<S, E>
    where
        S: Stream<Item = Result<Bytes, E>>,
    {
        let hasher = Arc::clone(&self.hasher);
        stream.inspect_ok(move |chunk| {
            if let Ok(mut h) = hasher.lock() {
                h.update(chunk);
            }
        })
    }

    /// The quoted ETag of the bytes hashed so far (`None` if the hasher was poisoned).
    pub fn etag(&self) -> Option<String> {
        let hasher = self.hasher.lock().ok()?.clone();
        Some(quoted_md5(&hasher.finalize()))
    }
}

/// `"<hex>"` of an MD5 digest.
pub fn quoted_md5(digest: &[u8]) -> String {
    format!("\"{}\"", hex::encode(digest))
}

/// The quoted ETag of `bytes` (MD5).
pub fn md5_of(bytes: &[u8]) -> String {
    quoted_md5(&Md5::digest(bytes))
}

/// An ETag as s3s carries it: the value without its quotes.
pub fn to_dto(quoted: &str) -> s3s::dto::ETag {
    let value = quoted
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(quoted);
    s3s::dto::ETag::Strong(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn hashes_what_streams_past() {
        let body = Md5Body::new();
        let chunks = futures_util::stream::iter(vec![
            Ok::<_, std::io::Error>(Bytes::from_static(b"hello, ")),
            Ok(Bytes::from_static(b"world")),
        ]);
        let passed: Vec<_> = body.hash(chunks).collect().await;
        assert_eq!(passed.len(), 2);
        assert_eq!(body.etag(), Some(md5_of(b"hello, world")));
        assert_eq!(
            md5_of(b""),
            "\"d41d8cd98f00b204e9800998ecf8427e\"".to_owned()
        );
        assert_eq!(to_dto("\"abc\""), s3s::dto::ETag::Strong("abc".to_owned()));
    }
}
