//! Journal entries: what a writer APPENDs to a journal lane (`journal/{shard}/{g}/{lane}`).
//!
//! An entry is self-delimiting and self-checking, so a reader of a record that many
//! connections appended to at once (fact 3 of the design) takes every entry whole and
//! tells a tear from the end of the log:
//!
//! ```text
//! magic   2 bytes   0xB1 0x4A
//! len     u16 LE    bytes of body
//! body    op u8, stamp (varint seconds, varint nanoseconds), key (varint length, bytes),
//!         and for a put commit: size (varint), etag (varint length, UTF-8 bytes)
//! crc     u32 LE    CRC-32 of magic, len and body
//! ```
//!
//! [`decode_log`] walks a whole record: an entry that fails its check is counted as torn and
//! the walk resynchronises on the next position where a whole entry with a good CRC
//! starts, so one damaged entry never hides the ones after it; an entry cut short at the
//! very end (a read racing an append) is reported as an incomplete tail, not as damage.

use elliptics::proto::DnetTime;

use super::codec::{IndexFormatError, Reader, put_bytes, put_stamp, put_varint};

const MAGIC: [u8; 2] = [0xb1, 0x4a];
const RECORD: &str = "journal entry";

/// Longest key the index takes (S3 allows 1024 bytes; room to spare).
pub const MAX_KEY_BYTES: usize = 4096;

/// Longest etag an entry carries.
pub const MAX_ETAG_BYTES: usize = 256;

/// Bytes of an entry's frame around its body (magic, length, CRC).
const FRAME_BYTES: usize = 2 + 2 + 4;

/// What an entry says happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JournalOp {
    /// An upload of the key with this stamp is about to be written.
    PutIntent,
    /// A delete of the key with this stamp is about to be written.
    DeleteIntent,
    /// The upload with this stamp was stored (size and etag known).
    PutCommit,
    /// The delete with this stamp was stored.
    DeleteCommit,
}

impl JournalOp {
    fn code(self) -> u8 {
        match self {
            JournalOp::PutIntent => 1,
            JournalOp::DeleteIntent => 2,
            JournalOp::PutCommit => 3,
            JournalOp::DeleteCommit => 4,
        }
    }

    fn from_code(code: u8) -> Option<JournalOp> {
        match code {
            1 => Some(JournalOp::PutIntent),
            2 => Some(JournalOp::DeleteIntent),
            3 => Some(JournalOp::PutCommit),
            4 => Some(JournalOp::DeleteCommit),
            _ => None,
        }
    }
}

/// One journal entry. Entries are idempotent: identified by key, stamp and op, so the same
/// entry read from two groups (or appended twice) counts once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JournalEntry {
    /// What happened.
    pub op: JournalOp,
    /// The object's key.
    pub key: Vec<u8>,
    /// The write's stamp (the object's `CAS_TIMESTAMP` stamp).
    pub stamp: DnetTime,
    /// Object size (put commits only; 0 otherwise).
    pub size: u64,
    /// Object etag (put commits only; may be absent).
    pub etag: Option<String>,
}

impl JournalEntry {
    /// The entry's bytes. Fails for keys or etags over the limits.
    pub fn encode(&self) -> Result<Vec<u8>, IndexFormatError> {
        let error = |reason: String| IndexFormatError {
            record: RECORD,
            reason,
        };
        if self.key.len() > MAX_KEY_BYTES {
            return Err(error(format!(
                "key of {} bytes, more than {MAX_KEY_BYTES}",
                self.key.len()
            )));
        }
        let etag = self.etag.as_deref().unwrap_or("");
        if etag.len() > MAX_ETAG_BYTES {
            return Err(error(format!("etag of {} bytes", etag.len())));
        }
        let mut body = Vec::with_capacity(self.key.len() + 32);
        body.push(self.op.code());
        put_stamp(&mut body, self.stamp);
        put_bytes(&mut body, &self.key);
        if self.op == JournalOp::PutCommit {
            put_varint(&mut body, self.size);
            put_bytes(&mut body, etag.as_bytes());
        }
        let len = u16::try_from(body.len()).map_err(|_| error("entry too long".into()))?;
        let mut out = Vec::with_capacity(body.len() + FRAME_BYTES);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&body);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }
}

/// What one position of a log holds.
enum Parsed {
    /// A whole entry of `len` bytes.
    Entry(JournalEntry, usize),
    /// The frame runs past the end of the bytes.
    Incomplete,
    /// Not an entry.
    Bad,
}

fn parse_at(bytes: &[u8]) -> Parsed {
    if bytes.len() < 4 {
        return match MAGIC.starts_with(&bytes[..bytes.len().min(2)]) {
            true => Parsed::Incomplete,
            false => Parsed::Bad,
        };
    }
    if bytes[..2] != MAGIC {
        return Parsed::Bad;
    }
    let len = usize::from(u16::from_le_bytes([bytes[2], bytes[3]]));
    let total = len + FRAME_BYTES;
    if bytes.len() < total {
        return Parsed::Incomplete;
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[total - 4..total]);
    if crc32fast::hash(&bytes[..total - 4]) != u32::from_le_bytes(crc) {
        return Parsed::Bad;
    }
    match decode_body(&bytes[4..total - 4]) {
        Ok(entry) => Parsed::Entry(entry, total),
        Err(_) => Parsed::Bad,
    }
}

fn decode_body(body: &[u8]) -> Result<JournalEntry, IndexFormatError> {
    let mut r = Reader::new(RECORD, body);
    let code = r.u8("op")?;
    let op = JournalOp::from_code(code).ok_or_else(|| r.error(format!("op {code}")))?;
    let stamp = r.stamp("stamp")?;
    let key = r.string(MAX_KEY_BYTES, "key")?.to_vec();
    let (size, etag) = match op {
        JournalOp::PutCommit => {
            let size = r.varint("size")?;
            let etag = r.string(MAX_ETAG_BYTES, "etag")?;
            let etag = std::str::from_utf8(etag).map_err(|_| r.error("etag is not UTF-8"))?;
            (size, (!etag.is_empty()).then(|| etag.to_owned()))
        }
        _ => (0, None),
    };
    r.finish()?;
    Ok(JournalEntry {
        op,
        key,
        stamp,
        size,
        etag,
    })
}

/// The entries of a journal record, in log order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalLog {
    /// Every whole entry with a good checksum.
    pub entries: Vec<JournalEntry>,
    /// Damaged stretches skipped (each resynchronised on the next good entry).
    pub torn: usize,
    /// Whether the record ends in the middle of an entry (a read racing an append).
    pub incomplete_tail: bool,
    /// Bytes from the start up to the end of the last entry before the first tear or cut
    /// (all of them for a clean record): what a reader may take as settled.
    pub clean_len: usize,
    /// Entries within `clean_len`.
    pub clean_entries: usize,
}

/// Decodes a whole journal record (see the module docs). Never fails: what is not a good
/// entry is counted, not returned.
pub fn decode_log(bytes: &[u8]) -> JournalLog {
    let mut log = JournalLog::default();
    let mut pos = 0;
    while pos < bytes.len() {
        match parse_at(&bytes[pos..]) {
            Parsed::Entry(entry, len) => {
                log.entries.push(entry);
                pos += len;
                if log.torn == 0 && !log.incomplete_tail {
                    log.clean_len = pos;
                    log.clean_entries = log.entries.len();
                }
            }
            first => {
                // Resynchronise: the next position where a whole good entry starts.
                let next = (pos + 1..bytes.len())
                    .find(|&p| matches!(parse_at(&bytes[p..]), Parsed::Entry(..)));
                match next {
                    Some(p) => {
                        log.torn += 1;
                        pos = p;
                    }
                    None => {
                        match first {
                            Parsed::Incomplete => log.incomplete_tail = true,
                            _ => log.torn += 1,
                        }
                        break;
                    }
                }
            }
        }
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn entry_strategy() -> impl Strategy<Value = JournalEntry> {
        (
            0u8..4,
            proptest::collection::vec(any::<u8>(), 0..40),
            0u64..u64::MAX,
            0u64..1_000_000_000,
            any::<u64>(),
            proptest::option::of("[a-f0-9\"-]{1,40}"),
        )
            .prop_map(|(op, key, tsec, tnsec, size, etag)| {
                let op = JournalOp::from_code(op + 1).unwrap_or(JournalOp::PutIntent);
                let commit = op == JournalOp::PutCommit;
                JournalEntry {
                    op,
                    key,
                    stamp: DnetTime { tsec, tnsec },
                    size: if commit { size } else { 0 },
                    etag: if commit { etag } else { None },
                }
            })
    }

    proptest! {
        #[test]
        fn logs_round_trip(entries in proptest::collection::vec(entry_strategy(), 0..20)) {
            let bytes: Vec<u8> = entries.iter().flat_map(|e| e.encode().unwrap()).collect();
            let log = decode_log(&bytes);
            prop_assert_eq!(log.entries, entries);
            prop_assert_eq!(log.torn, 0);
            prop_assert!(!log.incomplete_tail);
        }

        #[test]
        fn a_cut_log_keeps_every_whole_entry_and_reports_the_tail(
            entries in proptest::collection::vec(entry_strategy(), 1..10),
            cut in any::<proptest::sample::Index>(),
        ) {
            let encoded: Vec<Vec<u8>> = entries.iter().map(|e| e.encode().unwrap()).collect();
            let bytes: Vec<u8> = encoded.concat();
            let cut = cut.index(bytes.len());
            let log = decode_log(&bytes[..cut]);
            let mut whole = 0;
            let mut at = 0;
            for e in &encoded {
                if at + e.len() <= cut {
                    whole += 1;
                }
                at += e.len();
            }
            prop_assert_eq!(&log.entries[..], &entries[..whole]);
            prop_assert_eq!(log.torn, 0);
            let on_boundary = encoded.iter().scan(0, |s, e| { *s += e.len(); Some(*s) })
                .any(|end| end == cut) || cut == 0;
            prop_assert_eq!(log.incomplete_tail, !on_boundary);
        }

        #[test]
        fn a_damaged_entry_hides_no_other(
            entries in proptest::collection::vec(entry_strategy(), 2..10),
            victim in any::<proptest::sample::Index>(),
            byte in any::<proptest::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let encoded: Vec<Vec<u8>> = entries.iter().map(|e| e.encode().unwrap()).collect();
            let v = victim.index(encoded.len());
            let mut damaged = encoded.clone();
            let b = byte.index(damaged[v].len());
            damaged[v][b] ^= flip;
            let log = decode_log(&damaged.concat());
            let mut want = entries.clone();
            want.remove(v);
            // Every other entry survives, in order; the victim is gone or reported torn.
            prop_assert!(log.torn >= 1 || log.incomplete_tail);
            let got: Vec<&JournalEntry> = log.entries.iter().filter(|e| **e != entries[v]).collect();
            let want: Vec<&JournalEntry> = want.iter().filter(|e| **e != entries[v]).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_log(&bytes);
        }
    }

    #[test]
    fn oversized_keys_are_refused() {
        let e = JournalEntry {
            op: JournalOp::PutIntent,
            key: vec![b'k'; MAX_KEY_BYTES + 1],
            stamp: DnetTime::default(),
            size: 0,
            etag: None,
        };
        assert!(e.encode().is_err());
    }
}
