//! [`UploadRecord`]: written in the parts namespace before the first part of an upload,
//! it names the object (namespace and key) the parts are for and when the upload began.
//! A sweep that finds it (ITERATOR, by its `user_flags`) can decide whether the parts
//! are live — the object's manifest names this upload — or garbage.
//!
//! The writer rewrites it while a long upload runs (every [`REFRESH`]), so its record
//! timestamp says the upload is alive; a sweep leaves uploads refreshed within its grace
//! period alone.
//!
//! Encoding (little-endian): `"BRU1"`, upload id (16 bytes), namespace and key as
//! `u32`-length strings, start time (`tsec`, `tnsec` as `u64`), part size `u64`.

use elliptics::proto::DnetTime;

use super::upload_id::UploadId;
use super::wire::{Cursor, FormatError, put_string};

/// How often a running upload rewrites its record.
pub const REFRESH: std::time::Duration = std::time::Duration::from_secs(60);

const MAGIC: &[u8] = b"BRU1";

/// Which object an upload's parts belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// The upload.
    pub upload: UploadId,
    /// The object's namespace (the bucket name).
    pub namespace: Vec<u8>,
    /// The object's key.
    pub key: Vec<u8>,
    /// When the upload began.
    pub started: DnetTime,
    /// The size of every part but the last.
    pub part_size: u64,
}

impl UploadRecord {
    /// The encoded record.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + self.namespace.len() + self.key.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.upload.0);
        put_string(&mut out, &self.namespace);
        put_string(&mut out, &self.key);
        out.extend_from_slice(&self.started.tsec.to_le_bytes());
        out.extend_from_slice(&self.started.tnsec.to_le_bytes());
        out.extend_from_slice(&self.part_size.to_le_bytes());
        out
    }

    /// Decodes [`UploadRecord::encode`]'s form.
    pub fn decode(bytes: &[u8]) -> Result<UploadRecord, FormatError> {
        let mut c = Cursor::new("upload record", bytes);
        c.magic(MAGIC)?;
        let upload = UploadId(c.array("upload id")?);
        let namespace = c.string(4096, "namespace")?.to_vec();
        let key = c.string(64 << 10, "key")?.to_vec();
        let started = DnetTime {
            tsec: c.u64("tsec")?,
            tnsec: c.u64("tnsec")?,
        };
        let part_size = c.u64("part size")?;
        c.finish()?;
        Ok(UploadRecord {
            upload,
            namespace,
            key,
            started,
            part_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let r = UploadRecord {
            upload: UploadId([3; 16]),
            namespace: b"media".to_vec(),
            key: b"dir/a b.mp4".to_vec(),
            started: DnetTime { tsec: 5, tnsec: 6 },
            part_size: 4 << 20,
        };
        let bytes = r.encode();
        assert_eq!(UploadRecord::decode(&bytes), Ok(r));
        for cut in 0..bytes.len() {
            assert!(UploadRecord::decode(&bytes[..cut]).is_err());
        }
    }
}
