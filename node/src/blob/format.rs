//! Everything about bytes on disk: blob file names, the file header, the record header, data
//! checksums, the LOCK file and the defragmentation manifest.
//!
//! Format:
//!
//! ```text
//! <dir>/LOCK                  flock(LOCK_EX) held while a store is open
//! <dir>/data-00000001.blob    blob files, numbered; name = "data-" + 8+ zero-padded digits + ".blob"
//! <dir>/DEFRAG-DELETE         defrag manifest (only between "copies are durable" and "old blobs gone")
//!
//! blob file = file header (64 bytes) + records; every record starts 8-byte aligned
//!
//! file header, little-endian:
//!   0   8  magic "BRNBLOB\0"
//!   8   4  format version (1)
//!  12   4  blob number (equals the number in the file name)
//!  16   4  checksum chunk size in bytes (power of two; 65536)
//!  20   4  flags: bit 0 SEALED (no more appends; fdatasync'ed unless sync = never)
//!  24   8  file length when sealed
//!  32  28  zero
//!  60   4  crc32 of bytes 0..60
//!
//! record = header (136 bytes)
//!        + [DATA, PREPARE] checksum table: ceil(reserved / chunk) x u32 crc32, padded to 8
//!        + [DATA, PREPARE] data area: `reserved` bytes, padded to 8
//!
//! record header, little-endian:
//!   0   4  magic "BRec"
//!   4   1  record version (1)
//!   5   1  kind: 1 DATA (committed object), 2 PREPARE (uncommitted reservation),
//!              3 COMMIT (marker: the object is the record at ref_blob/ref_offset),
//!              4 TOMBSTONE (object removed)
//!   6   2  flags (0)
//!   8  64  key id
//!  72   8  seq: store-wide sequence number; for one key the highest seq on disk wins
//!  80   8  size: object data size (DATA, COMMIT), else 0
//!  88   8  reserved: data area bytes (DATA, PREPARE); COMMIT: reservation of the target
//!  96   8  timestamp seconds
//! 104   8  timestamp nanoseconds
//! 112   8  user flags
//! 120   8  ref_offset: COMMIT: offset of the target record inside blob ref_blob, else 0
//! 128   4  ref_blob:   COMMIT: number of the blob holding the target record, else 0
//! 132   4  crc32 (IEEE) of bytes 0..132
//!
//! checksum table entry i = crc32 of data bytes [i*chunk, min((i+1)*chunk, size)); entries past
//! `size` are meaningless. DATA tables are written after the data; PREPARE tables are zero until
//! COMMIT fills them in place, just before the COMMIT marker is appended.
//! ```

use super::types::KeyId;

/// Magic bytes at the start of every blob file.
pub const FILE_MAGIC: [u8; 8] = *b"BRNBLOB\0";
/// Blob file format version.
pub const FILE_VERSION: u32 = 1;
/// Length of the blob file header.
pub const FILE_HEADER_LEN: u64 = 64;
/// File header flag: the blob takes no more appends.
pub const FILE_SEALED: u32 = 1;
/// Magic bytes at the start of every record.
pub const RECORD_MAGIC: [u8; 4] = *b"BRec";
/// Record header version.
pub const RECORD_VERSION: u8 = 1;
/// Length of a record header.
pub const HEADER_LEN: u64 = 136;
/// Default checksum chunk: 64 KiB of data per crc32.
pub const DEFAULT_CHUNK: u32 = 64 * 1024;
/// Largest data area a single record may reserve (1 TiB).
pub const MAX_RESERVED: u64 = 1 << 40;
/// Name of the lock file.
pub const LOCK_FILE: &str = "LOCK";
/// Name of the defragmentation manifest.
pub const MANIFEST_FILE: &str = "DEFRAG-DELETE";
/// Temporary name the manifest is written under before the rename.
pub const MANIFEST_TMP: &str = "DEFRAG-DELETE.tmp";
const MANIFEST_TAG: &str = "backrunner-blob-defrag v1";

/// Record kinds (byte 5 of the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A committed object: header, checksums, data.
    Data = 1,
    /// An uncommitted reservation written in place by later chunks.
    Prepare = 2,
    /// Commit marker pointing at a PREPARE (or DATA) record.
    Commit = 3,
    /// Removal of the key.
    Tombstone = 4,
}

impl RecordKind {
    fn from_u8(v: u8) -> Option<RecordKind> {
        Some(match v {
            1 => RecordKind::Data,
            2 => RecordKind::Prepare,
            3 => RecordKind::Commit,
            4 => RecordKind::Tombstone,
            _ => return None,
        })
    }

    /// Whether records of this kind carry a checksum table and a data area.
    pub fn has_area(self) -> bool {
        matches!(self, RecordKind::Data | RecordKind::Prepare)
    }
}

/// Why bytes are not a valid record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// Wrong magic or version.
    Magic,
    /// Header checksum mismatch.
    Crc,
    /// Checksum is fine but a field is out of range.
    Field,
}

/// A decoded record header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// Kind of record.
    pub kind: RecordKind,
    /// Key id.
    pub key: KeyId,
    /// Store-wide sequence number.
    pub seq: u64,
    /// Object data size.
    pub size: u64,
    /// Data area length (COMMIT: of the target).
    pub reserved: u64,
    /// Timestamp seconds.
    pub tsec: u64,
    /// Timestamp nanoseconds.
    pub tnsec: u64,
    /// User flags.
    pub user_flags: u64,
    /// COMMIT: target record offset.
    pub ref_offset: u64,
    /// COMMIT: target blob number.
    pub ref_blob: u32,
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

impl RecordHeader {
    /// Encodes the header with its checksum.
    pub fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut b = [0u8; HEADER_LEN as usize];
        b[0..4].copy_from_slice(&RECORD_MAGIC);
        b[4] = RECORD_VERSION;
        b[5] = self.kind as u8;
        b[8..72].copy_from_slice(&self.key);
        for (at, v) in [
            (72, self.seq),
            (80, self.size),
            (88, self.reserved),
            (96, self.tsec),
            (104, self.tnsec),
            (112, self.user_flags),
            (120, self.ref_offset),
        ] {
            b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        b[128..132].copy_from_slice(&self.ref_blob.to_le_bytes());
        let crc = crc32fast::hash(&b[..132]);
        b[132..136].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and validates a header from the first [`HEADER_LEN`] bytes of `b`.
    pub fn decode(b: &[u8]) -> Result<RecordHeader, HeaderError> {
        if b.len() < HEADER_LEN as usize || b[0..4] != RECORD_MAGIC || b[4] != RECORD_VERSION {
            return Err(HeaderError::Magic);
        }
        if crc32fast::hash(&b[..132]) != u32_at(b, 132) {
            return Err(HeaderError::Crc);
        }
        let kind = RecordKind::from_u8(b[5]).ok_or(HeaderError::Field)?;
        let mut key = [0u8; 64];
        key.copy_from_slice(&b[8..72]);
        let h = RecordHeader {
            kind,
            key,
            seq: u64_at(b, 72),
            size: u64_at(b, 80),
            reserved: u64_at(b, 88),
            tsec: u64_at(b, 96),
            tnsec: u64_at(b, 104),
            user_flags: u64_at(b, 112),
            ref_offset: u64_at(b, 120),
            ref_blob: u32_at(b, 128),
        };
        let ok = b[6] == 0
            && b[7] == 0
            && h.reserved <= MAX_RESERVED
            && match kind {
                RecordKind::Data | RecordKind::Commit => h.size <= h.reserved,
                RecordKind::Prepare | RecordKind::Tombstone => h.size == 0,
            };
        if ok { Ok(h) } else { Err(HeaderError::Field) }
    }

    /// Total length of the record on disk.
    pub fn record_len(&self, chunk: u32) -> u64 {
        record_len(self.kind, self.reserved, chunk)
    }
}

/// Rounds up to a multiple of 8 (inputs are bounded by [`MAX_RESERVED`]).
pub fn align8(x: u64) -> u64 {
    (x + 7) & !7
}

/// Number of checksum chunks covering `len` data bytes.
pub fn chunk_count(len: u64, chunk: u32) -> u64 {
    len.div_ceil(u64::from(chunk))
}

/// Length of the checksum table of a record reserving `reserved` bytes.
pub fn table_len(reserved: u64, chunk: u32) -> u64 {
    align8(chunk_count(reserved, chunk) * 4)
}

/// Total on-disk length of a record.
pub fn record_len(kind: RecordKind, reserved: u64, chunk: u32) -> u64 {
    if kind.has_area() {
        HEADER_LEN + table_len(reserved, chunk) + align8(reserved)
    } else {
        HEADER_LEN
    }
}

/// Offset of the data area of a record starting at `record_offset`.
pub fn data_offset(record_offset: u64, reserved: u64, chunk: u32) -> u64 {
    record_offset + HEADER_LEN + table_len(reserved, chunk)
}

/// Offset of checksum table entry `index` of a record starting at `record_offset`.
pub fn table_offset(record_offset: u64, index: u64) -> u64 {
    record_offset + HEADER_LEN + index * 4
}

/// Decodes little-endian crc32 table entries.
pub fn decode_table(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4).map(|c| u32_at(c, 0)).collect()
}

/// Encodes crc32 table entries, padded with zeros to `len` bytes.
pub fn encode_table(crcs: &[u32], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len.max(crcs.len() * 4));
    for c in crcs {
        out.extend_from_slice(&c.to_le_bytes());
    }
    out.resize(len.max(out.len()), 0);
    out
}

/// A decoded blob file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeader {
    /// Blob number.
    pub number: u32,
    /// Checksum chunk size.
    pub chunk: u32,
    /// File length recorded when the blob was sealed.
    pub sealed_len: Option<u64>,
}

impl FileHeader {
    /// Encodes the header with its checksum.
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN as usize] {
        let mut b = [0u8; FILE_HEADER_LEN as usize];
        b[0..8].copy_from_slice(&FILE_MAGIC);
        b[8..12].copy_from_slice(&FILE_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&self.number.to_le_bytes());
        b[16..20].copy_from_slice(&self.chunk.to_le_bytes());
        if let Some(len) = self.sealed_len {
            b[20..24].copy_from_slice(&FILE_SEALED.to_le_bytes());
            b[24..32].copy_from_slice(&len.to_le_bytes());
        }
        let crc = crc32fast::hash(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and validates a file header.
    pub fn decode(b: &[u8]) -> Option<FileHeader> {
        if b.len() < FILE_HEADER_LEN as usize
            || b[0..8] != FILE_MAGIC
            || u32_at(b, 8) != FILE_VERSION
            || crc32fast::hash(&b[..60]) != u32_at(b, 60)
        {
            return None;
        }
        let chunk = u32_at(b, 16);
        if !chunk.is_power_of_two() || chunk < 8 {
            return None;
        }
        let sealed = u32_at(b, 20) & FILE_SEALED != 0;
        Some(FileHeader {
            number: u32_at(b, 12),
            chunk,
            sealed_len: sealed.then(|| u64_at(b, 24)),
        })
    }
}

/// File name of blob `number`.
pub fn blob_file_name(number: u32) -> String {
    format!("data-{number:08}.blob")
}

/// Blob number of a file name, if it is the canonical name of a blob.
pub fn parse_blob_file_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("data-")?.strip_suffix(".blob")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = digits.parse().ok()?;
    (blob_file_name(n) == name).then_some(n)
}

/// Text of a manifest naming the blobs a finished defragmentation deletes.
pub fn encode_manifest(blobs: &[u32]) -> String {
    let mut s = format!("{MANIFEST_TAG}\n");
    for n in blobs {
        s.push_str(&format!("delete {n}\n"));
    }
    s.push_str("end\n");
    s
}

/// Parses a manifest; `None` if it is not a complete manifest of this version.
pub fn decode_manifest(text: &str) -> Option<Vec<u32>> {
    let mut lines = text.lines();
    if lines.next()? != MANIFEST_TAG {
        return None;
    }
    let mut out = Vec::new();
    for line in lines {
        if line == "end" {
            return Some(out);
        }
        out.push(line.strip_prefix("delete ")?.parse().ok()?);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: RecordKind) -> RecordHeader {
        RecordHeader {
            kind,
            key: [7; 64],
            seq: 42,
            size: 10,
            reserved: 100,
            tsec: 1,
            tnsec: 2,
            user_flags: 3,
            ref_offset: 4,
            ref_blob: 5,
        }
    }

    #[test]
    fn record_header_round_trips_and_detects_damage() {
        let h = header(RecordKind::Data);
        let b = h.encode();
        assert_eq!(RecordHeader::decode(&b).unwrap(), h);
        for i in 0..b.len() {
            let mut d = b;
            d[i] ^= 0x10;
            assert!(RecordHeader::decode(&d).is_err(), "flip at {i} undetected");
        }
        let mut t = header(RecordKind::Tombstone);
        assert_eq!(RecordHeader::decode(&t.encode()), Err(HeaderError::Field));
        t.size = 0;
        assert!(RecordHeader::decode(&t.encode()).is_ok());
        assert_eq!(RecordHeader::decode(&b[..100]), Err(HeaderError::Magic));
    }

    #[test]
    fn lengths() {
        assert_eq!(record_len(RecordKind::Tombstone, 0, 64), HEADER_LEN);
        assert_eq!(record_len(RecordKind::Data, 0, 64), HEADER_LEN);
        // 100 bytes in 64-byte chunks: 2 crcs (8 bytes), data padded to 104.
        assert_eq!(record_len(RecordKind::Data, 100, 64), HEADER_LEN + 8 + 104);
        assert_eq!(data_offset(1000, 100, 64), 1000 + HEADER_LEN + 8);
        assert_eq!(table_len(3 * 64 + 1, 64), 16);
        assert_eq!(HEADER_LEN % 8, 0);
        assert_eq!(FILE_HEADER_LEN % 8, 0);
    }

    #[test]
    fn file_header_round_trips() {
        for sealed_len in [None, Some(12345)] {
            let h = FileHeader {
                number: 9,
                chunk: DEFAULT_CHUNK,
                sealed_len,
            };
            let mut b = h.encode();
            assert_eq!(FileHeader::decode(&b), Some(h));
            b[13] ^= 1;
            assert_eq!(FileHeader::decode(&b), None);
        }
    }

    #[test]
    fn file_names_round_trip() {
        for n in [0, 1, 42, 99_999_999, 100_000_000, u32::MAX] {
            let name = blob_file_name(n);
            assert_eq!(parse_blob_file_name(&name), Some(n), "{name}");
        }
        assert_eq!(blob_file_name(3), "data-00000003.blob");
        for bad in [
            "data-3.blob",
            "data-000000003.blob",
            "data-0000000a.blob",
            "data-.blob",
            "data-00000003.blob.tmp",
            "LOCK",
            "data-99999999999.blob",
        ] {
            assert_eq!(parse_blob_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn manifest_round_trips() {
        let m = encode_manifest(&[1, 5, 7]);
        assert_eq!(decode_manifest(&m), Some(vec![1, 5, 7]));
        assert_eq!(decode_manifest(&m[..m.len() - 4]), None);
        assert_eq!(decode_manifest("garbage\nend\n"), None);
        assert_eq!(decode_manifest(&encode_manifest(&[])), Some(vec![]));
    }

    #[test]
    fn table_codec() {
        let t = encode_table(&[1, 2, 3], 16);
        assert_eq!(t.len(), 16);
        assert_eq!(decode_table(&t[..12]), vec![1, 2, 3]);
    }
}
