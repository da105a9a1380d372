//! The digests of an upload body: its MD5 (the ETag), and the digests the client declared
//! — `Content-MD5` and `x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256}` — hashed
//! while the body streams to storage and checked before the object is published
//! ([`backrunner_store::object::BeforePublish`]): a mismatch publishes nothing (the
//! previous version stays) and is answered `BadDigest`.
//!
//! A checksum sent as a trailer (`x-amz-trailer`, aws-chunked bodies) is checked too: the
//! store reads a body to its end (trailer included) before it calls the check. A declared
//! trailer that never came is not verified (s3s refuses such bodies when it decodes them).

use std::sync::{Arc, Mutex};

use backrunner_proxy::handlers::upload::BodyError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use md5::{Digest, Md5};
use s3s::TrailingHeaders;
use s3s::checksum::ChecksumHasher;
use s3s::dto::PutObjectInput;

use crate::etag::quoted_md5;

/// The checksum algorithms and their header names.
const ALGORITHMS: [&str; 5] = [
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
];

struct Hashing {
    md5: Md5,
    checksums: Option<ChecksumHasher>,
}

/// An upload body's digests (module docs). Cheap to clone; clones share the hashers.
#[derive(Clone)]
pub struct BodyDigests {
    hashing: Arc<Mutex<Hashing>>,
    /// `Content-MD5` (base64).
    content_md5: Option<String>,
    /// Declared checksums: header name, value from the headers (else from the trailer).
    declared: Vec<(&'static str, Option<String>)>,
    trailers: Option<TrailingHeaders>,
    mismatch: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for BodyDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyDigests")
            .field("content_md5", &self.content_md5)
            .field("declared", &self.declared)
            .finish_non_exhaustive()
    }
}

impl BodyDigests {
    /// MD5 only (a copy: nothing declared).
    pub fn md5_only() -> BodyDigests {
        BodyDigests {
            hashing: Arc::new(Mutex::new(Hashing {
                md5: Md5::new(),
                checksums: None,
            })),
            content_md5: None,
            declared: Vec::new(),
            trailers: None,
            mismatch: Arc::default(),
        }
    }

    /// The digests a PutObject declares: `Content-MD5`, checksum headers, and the checksum
    /// named by `x-amz-trailer`.
    pub fn for_put(
        input: &PutObjectInput,
        headers: &http::HeaderMap,
        trailers: Option<TrailingHeaders>,
    ) -> BodyDigests {
        let trailer = headers
            .get("x-amz-trailer")
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        let header_values = [
            input.checksum_crc32.clone(),
            input.checksum_crc32c.clone(),
            input.checksum_crc64nvme.clone(),
            input.checksum_sha1.clone(),
            input.checksum_sha256.clone(),
        ];
        let declared: Vec<(&'static str, Option<String>)> = ALGORITHMS
            .iter()
            .zip(header_values)
            .filter(|(name, value)| value.is_some() || trailer.as_deref() == Some(**name))
            .map(|(name, value)| (*name, value))
            .collect();
        let mut hasher = ChecksumHasher::default();
        for (name, _) in &declared {
            match *name {
                "x-amz-checksum-crc32" => hasher.crc32 = Some(Default::default()),
                "x-amz-checksum-crc32c" => hasher.crc32c = Some(Default::default()),
                "x-amz-checksum-crc64nvme" => hasher.crc64nvme = Some(Default::default()),
                "x-amz-checksum-sha1" => hasher.sha1 = Some(Default::default()),
                _ => hasher.sha256 = Some(Default::default()),
            }
        }
        BodyDigests {
            hashing: Arc::new(Mutex::new(Hashing {
                md5: Md5::new(),
                checksums: (!declared.is_empty()).then_some(hasher),
            })),
            content_md5: input.content_md5.clone(),
            declared,
            trailers,
            mismatch: Arc::default(),
        }
    }

    /// `stream`, every chunk hashed as it passes.
    pub fn hash<S, E>(&self, stream: S) -> impl Stream<Item = Result<Bytes, E>> + use<S, E>
    where
        S: Stream<Item = Result<Bytes, E>>,
    {
        let hashing = Arc::clone(&self.hashing);
        stream.inspect_ok(move |chunk| {
            if let Ok(mut h) = hashing.lock() {
                h.md5.update(chunk);
                if let Some(c) = &mut h.checksums {
                    c.update(chunk);
                }
            }
        })
    }

    /// The quoted MD5 ETag of the bytes hashed so far.
    pub fn etag(&self) -> Option<String> {
        let hashing = self.hashing.lock().ok()?;
        Some(quoted_md5(&hashing.md5.clone().finalize()))
    }

    /// The check before publishing: every declared digest against the body; the quoted
    /// MD5 ETag when they all match (for the manifest of an object stored in parts).
    pub fn check(&self) -> Result<Option<String>, std::io::Error> {
        let (md5, checksums) = {
            let mut hashing = self
                .hashing
                .lock()
                .map_err(|_| std::io::Error::other("digest state poisoned"))?;
            (hashing.md5.clone().finalize(), hashing.checksums.take())
        };
        if let Some(declared) = &self.content_md5
            && STANDARD.encode(md5) != *declared
        {
            return Err(self.refuse("Content-MD5"));
        }
        if let Some(hasher) = checksums {
            let computed = hasher.finalize();
            for (name, value) in &self.declared {
                let expected = value.clone().or_else(|| self.trailer(name));
                let Some(expected) = expected else {
                    tracing::debug!(
                        checksum = name,
                        "trailing checksum not read yet; not verified"
                    );
                    continue;
                };
                let actual = match *name {
                    "x-amz-checksum-crc32" => computed.checksum_crc32.as_deref(),
                    "x-amz-checksum-crc32c" => computed.checksum_crc32c.as_deref(),
                    "x-amz-checksum-crc64nvme" => computed.checksum_crc64nvme.as_deref(),
                    "x-amz-checksum-sha1" => computed.checksum_sha1.as_deref(),
                    _ => computed.checksum_sha256.as_deref(),
                };
                if actual != Some(expected.as_str()) {
                    return Err(self.refuse(name));
                }
            }
        }
        Ok(Some(quoted_md5(&md5)))
    }

    /// Which declared digest the body did not match, if one did not.
    pub fn mismatch(&self) -> Option<String> {
        self.mismatch.lock().ok()?.clone()
    }

    fn trailer(&self, name: &str) -> Option<String> {
        self.trailers
            .as_ref()?
            .read(|h| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned))?
    }

    fn refuse(&self, name: &str) -> std::io::Error {
        if let Ok(mut m) = self.mismatch.lock() {
            *m = Some(name.to_owned());
        }
        tracing::info!(
            digest = name,
            "upload body does not match its declared digest"
        );
        std::io::Error::other(BodyError::Digest(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn put(md5: Option<&str>, crc32: Option<&str>) -> PutObjectInput {
        let mut b = PutObjectInput::builder();
        b.set_bucket("b".into());
        b.set_key("k".into());
        b.set_content_md5(md5.map(str::to_owned));
        b.set_checksum_crc32(crc32.map(str::to_owned));
        b.build()
            .unwrap_or_else(|_| unreachable!("bucket and key are set"))
    }

    async fn feed(d: &BodyDigests, data: &'static [u8]) {
        let chunks =
            futures_util::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(data))]);
        let _: Vec<_> = d.hash(chunks).collect().await;
    }

    #[tokio::test]
    async fn declared_digests_are_checked() {
        let headers = http::HeaderMap::new();
        // MD5("hello") = 5d41402abc4b2a76b9719d911017c592; CRC32("hello") = 0x3610a686.
        let good = BodyDigests::for_put(
            &put(Some("XUFAKrxLKna5cZ2REBfFkg=="), Some("NhCmhg==")),
            &headers,
            None,
        );
        feed(&good, b"hello").await;
        assert_eq!(
            good.check().ok().flatten().as_deref(),
            Some("\"5d41402abc4b2a76b9719d911017c592\"")
        );
        let bad_md5 =
            BodyDigests::for_put(&put(Some("AAAAAAAAAAAAAAAAAAAAAA=="), None), &headers, None);
        feed(&bad_md5, b"hello").await;
        assert!(bad_md5.check().is_err());
        assert_eq!(bad_md5.mismatch().as_deref(), Some("Content-MD5"));
        let bad_crc = BodyDigests::for_put(&put(None, Some("AAAAAA==")), &headers, None);
        feed(&bad_crc, b"hello").await;
        assert!(bad_crc.check().is_err());
        assert_eq!(bad_crc.mismatch().as_deref(), Some("x-amz-checksum-crc32"));
        let plain = BodyDigests::md5_only();
        feed(&plain, b"hello").await;
        assert_eq!(plain.check().ok().flatten(), plain.etag());
    }
}
