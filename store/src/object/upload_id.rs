//! [`UploadId`]: 128 random bits naming one upload of an object stored in parts, and the
//! keys derived from it in the bucket's parts namespace.

use std::fmt;

/// The namespace suffix of a bucket's parts and upload records: `"{bucket}/parts"`. Bucket
/// names cannot contain `/`, so no bucket's own namespace can ever equal it.
pub const PARTS_SUFFIX: &[u8] = b"/parts";

/// The namespace holding the parts and upload records of objects in `namespace`.
pub fn parts_namespace(namespace: &[u8]) -> Vec<u8> {
    [namespace, PARTS_SUFFIX].concat()
}

/// One upload's id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UploadId(pub [u8; 16]);

impl UploadId {
    /// A fresh random id.
    pub fn random() -> UploadId {
        UploadId(rand::random())
    }

    /// Lower-case hex (32 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses [`UploadId::to_hex`]'s form.
    pub fn from_hex(s: &str) -> Option<UploadId> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(UploadId(out))
    }

    /// The key of part `n` (from 0) in the parts namespace: `"{hex}/{n}"`.
    pub fn part_key(&self, n: u32) -> Vec<u8> {
        format!("{}/{n}", self.to_hex()).into_bytes()
    }

    /// The key of the upload record in the parts namespace: `"{hex}"`.
    pub fn record_key(&self) -> Vec<u8> {
        self.to_hex().into_bytes()
    }
}

impl fmt::Debug for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UploadId({})", self.to_hex())
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_hex() {
        let id = UploadId([0xab; 16]);
        assert_eq!(UploadId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(UploadId::from_hex("xyz"), None);
        assert_eq!(
            id.part_key(3),
            format!("{}/3", "ab".repeat(16)).into_bytes()
        );
        assert_eq!(parts_namespace(b"media"), b"media/parts");
        assert_ne!(UploadId::random(), UploadId::random());
    }
}
