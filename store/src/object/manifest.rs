//! [`Manifest`]: the small record published at an object's key when its bytes are stored
//! in parts. It names the upload whose parts hold the bytes and the size of every part, so
//! a reader maps any byte range to parts without another lookup.
//!
//! Encoding (little-endian): `"BRM1"`, upload id (16 bytes), object size `u64`, part count
//! `u32`, then each part's size `u64`, then the ETag as a `u32`-length string (empty when
//! none), then the CRC-32 of everything before it. Decoding checks the CRC (a read that
//! raced an in-place overwrite on a real node fails it) and that the part sizes add up to
//! the size.

use super::upload_id::UploadId;
use super::wire::{Cursor, FormatError, put_string};

const MAGIC: &[u8] = b"BRM1";

/// Most parts one object may have (S3 allows 10,000; the margin is for chunked uploads).
pub const MAX_PARTS: u32 = 100_000;

/// Largest encoded manifest (the bound a reader applies before reading one).
pub const MAX_MANIFEST_BYTES: u64 = 32 + 8 * MAX_PARTS as u64 + 4 + 1024;

/// Where an object's bytes are, when they are stored in parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The upload whose parts hold the bytes.
    pub upload: UploadId,
    /// The object's size in bytes.
    pub size: u64,
    /// Each part's size, in order.
    pub parts: Vec<u64>,
    /// An ETag computed by the writer (S3 multipart), if any.
    pub etag: Option<String>,
}

/// One piece of a byte range inside one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartSlice {
    /// Part number (from 0).
    pub part: u32,
    /// Offset inside the part.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
}

impl Manifest {
    /// The encoded record.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(36 + 8 * self.parts.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.upload.0);
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&(self.parts.len() as u32).to_le_bytes());
        for p in &self.parts {
            out.extend_from_slice(&p.to_le_bytes());
        }
        put_string(&mut out, self.etag.as_deref().unwrap_or("").as_bytes());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes [`Manifest::encode`]'s form.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, FormatError> {
        let (body, crc) = match bytes.len().checked_sub(4) {
            Some(at) => bytes.split_at(at),
            None => return Err(Cursor::new("manifest", bytes).error("truncated")),
        };
        let mut c = Cursor::new("manifest", body);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err(c.error("CRC mismatch (torn or damaged)"));
        }
        c.magic(MAGIC)?;
        let upload = UploadId(c.array("upload id")?);
        let size = c.u64("size")?;
        let count = c.u32("part count")?;
        if count > MAX_PARTS {
            return Err(c.error(format!("{count} parts, more than {MAX_PARTS}")));
        }
        let mut parts = Vec::with_capacity(count as usize);
        let mut total = 0u64;
        for _ in 0..count {
            let p = c.u64("part size")?;
            total = total
                .checked_add(p)
                .ok_or_else(|| c.error("part sizes overflow"))?;
            parts.push(p);
        }
        if total != size {
            return Err(c.error(format!("parts hold {total} bytes, size says {size}")));
        }
        let etag = c.string(1024, "etag")?;
        let etag = match etag.is_empty() {
            true => None,
            false => {
                Some(String::from_utf8(etag.to_vec()).map_err(|_| c.error("etag is not UTF-8"))?)
            }
        };
        c.finish()?;
        Ok(Manifest {
            upload,
            size,
            parts,
            etag,
        })
    }

    /// The part slices that hold bytes `offset .. offset + len` (clipped to the object).
    pub fn slices(&self, offset: u64, len: u64) -> Vec<PartSlice> {
        let end = offset.saturating_add(len).min(self.size);
        let mut out = Vec::new();
        let mut start = 0u64;
        for (n, &size) in self.parts.iter().enumerate() {
            let part_end = start + size;
            if part_end > offset && start < end {
                let from = offset.max(start);
                let to = end.min(part_end);
                out.push(PartSlice {
                    part: n as u32,
                    offset: from - start,
                    len: to - from,
                });
            }
            if part_end >= end {
                break;
            }
            start = part_end;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn manifest(parts: Vec<u64>) -> Manifest {
        Manifest {
            upload: UploadId([7; 16]),
            size: parts.iter().sum(),
            parts,
            etag: None,
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let mut m = manifest(vec![4, 4, 2]);
        m.etag = Some("\"abc-3\"".into());
        assert_eq!(Manifest::decode(&m.encode()), Ok(m.clone()));
        let bytes = m.encode();
        for cut in 0..bytes.len() {
            assert!(Manifest::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut lying = m.encode();
        lying[20] ^= 1; // size no longer matches the parts
        assert!(Manifest::decode(&lying).is_err());
        assert!(Manifest::decode(b"BRU1xxxx").is_err());
        let mut trailing = m.encode();
        trailing.push(0);
        assert!(Manifest::decode(&trailing).is_err());
    }

    #[test]
    fn slices_cover_exactly_the_range() {
        let m = manifest(vec![4, 4, 2]);
        assert_eq!(
            m.slices(3, 3),
            vec![
                PartSlice {
                    part: 0,
                    offset: 3,
                    len: 1
                },
                PartSlice {
                    part: 1,
                    offset: 0,
                    len: 2
                },
            ]
        );
        assert_eq!(
            m.slices(8, 100),
            vec![PartSlice {
                part: 2,
                offset: 0,
                len: 2
            }]
        );
        assert_eq!(m.slices(10, 5), vec![]);
    }

    proptest! {
        #[test]
        fn slices_reassemble_any_range(parts in proptest::collection::vec(1u64..50, 1..20), a in 0u64..1200, l in 0u64..1200) {
            let m = manifest(parts.clone());
            // The object: byte i is (i % 251).
            let data: Vec<u8> = (0..m.size).map(|i| (i % 251) as u8).collect();
            let mut starts = vec![0u64];
            for p in &parts { starts.push(starts.last().copied().unwrap_or(0) + p); }
            let mut got = Vec::new();
            for s in m.slices(a, l) {
                let base = starts[s.part as usize] + s.offset;
                prop_assert!(s.offset + s.len <= parts[s.part as usize]);
                got.extend_from_slice(&data[base as usize..(base + s.len) as usize]);
            }
            let from = a.min(m.size) as usize;
            let to = a.saturating_add(l).min(m.size) as usize;
            prop_assert_eq!(&got[..], &data[from..to.max(from)]);
        }
    }
}
