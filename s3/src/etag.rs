//! ETags of the S3 front.
//!
//! - A single PUT (or a copy) hashes its body with MD5 while the body streams to storage
//!   ([`crate::digest`]): the ETag is `"<md5 hex>"`, as S3's. It is logged with the upload in
//!   the key index (listings show it) and, for an object stored in parts, recorded in its
//!   manifest.
//! - Reading, the ETag of an object is: its MD5 when it is one record no larger than the
//!   part size (`write_chunk_size`: read whole anyway to be verified) — so objects written
//!   through `/upload` get S3's ETag too; the manifest's ETag for an object in parts that
//!   has one; else the proxy's identity tag (id, size, timestamp), which is visibly not an
//!   MD5 (clients such as rclone then treat the hash as unknown rather than wrong).

use md5::{Digest, Md5};

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

    #[test]
    fn md5_etags() {
        assert_eq!(
            md5_of(b"hello"),
            "\"5d41402abc4b2a76b9719d911017c592\"".to_owned()
        );
        assert_eq!(to_dto("\"abc\""), s3s::dto::ETag::Strong("abc".to_owned()));
    }
}
