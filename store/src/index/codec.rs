//! The little binary encoding shared by the index records: LEB128 varints, length-prefixed
//! byte strings, stamps, and a bounds-checked reader that names the record it decodes in
//! every error.

use elliptics::proto::DnetTime;

/// Why an index record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{record}: {reason}")]
pub struct IndexFormatError {
    /// Which record ("journal entry", "segment", "shard state", "root").
    pub record: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// Appends `v` as an unsigned LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a varint length and the bytes.
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends a stamp (seconds, nanoseconds) as two varints.
pub(crate) fn put_stamp(out: &mut Vec<u8>, stamp: DnetTime) {
    put_varint(out, stamp.tsec);
    put_varint(out, stamp.tnsec);
}

/// Reads fields from the front of a byte slice; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    record: &'static str,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(record: &'static str, bytes: &'a [u8]) -> Reader<'a> {
        Reader {
            record,
            rest: bytes,
        }
    }

    pub(crate) fn error(&self, reason: impl Into<String>) -> IndexFormatError {
        IndexFormatError {
            record: self.record,
            reason: reason.into(),
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], IndexFormatError> {
        if self.rest.len() < n {
            return Err(self.error(format!("truncated at {what}")));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &str,
    ) -> Result<[u8; N], IndexFormatError> {
        let b = self.bytes(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8, IndexFormatError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn varint(&mut self, what: &str) -> Result<u64, IndexFormatError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8(what)?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(self.error(format!("{what}: varint overflows 64 bits")));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.error(format!("{what}: varint longer than 10 bytes")))
    }

    /// A varint no larger than `max`, as a `usize`.
    pub(crate) fn len(&mut self, max: usize, what: &str) -> Result<usize, IndexFormatError> {
        let v = self.varint(what)?;
        match usize::try_from(v) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(self.error(format!("{what} of {v}, more than {max}"))),
        }
    }

    /// A varint length (at most `max`), then that many bytes.
    pub(crate) fn string(&mut self, max: usize, what: &str) -> Result<&'a [u8], IndexFormatError> {
        let n = self.len(max, what)?;
        self.bytes(n, what)
    }

    pub(crate) fn stamp(&mut self, what: &str) -> Result<DnetTime, IndexFormatError> {
        let tsec = self.varint(what)?;
        let tnsec = self.varint(what)?;
        if tnsec >= 1_000_000_000 {
            return Err(self.error(format!("{what}: {tnsec} nanoseconds")));
        }
        Ok(DnetTime { tsec, tnsec })
    }

    pub(crate) fn magic(&mut self, magic: &[u8]) -> Result<(), IndexFormatError> {
        match self.bytes(magic.len(), "magic")? == magic {
            true => Ok(()),
            false => Err(self.error("not this record (magic)")),
        }
    }

    pub(crate) fn finish(self) -> Result<(), IndexFormatError> {
        match self.rest.is_empty() {
            true => Ok(()),
            false => Err(self.error(format!("{} trailing bytes", self.rest.len()))),
        }
    }
}

/// Appends the CRC-32 of everything in `out` so far.
pub(crate) fn seal(out: &mut Vec<u8>) {
    let crc = crc32fast::hash(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// The bytes before a trailing CRC-32 of them, when it matches.
pub(crate) fn unseal<'a>(
    record: &'static str,
    bytes: &'a [u8],
) -> Result<&'a [u8], IndexFormatError> {
    let Some(split) = bytes.len().checked_sub(4) else {
        return Err(IndexFormatError {
            record,
            reason: format!("{} bytes, too short", bytes.len()),
        });
    };
    let (body, crc) = bytes.split_at(split);
    let mut want = [0u8; 4];
    want.copy_from_slice(crc);
    match crc32fast::hash(body) == u32::from_le_bytes(want) {
        true => Ok(body),
        false => Err(IndexFormatError {
            record,
            reason: "checksum mismatch (torn or damaged)".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(v in any::<u64>()) {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut r = Reader::new("t", &out);
            prop_assert_eq!(r.varint("v").unwrap(), v);
            r.finish().unwrap();
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut r = Reader::new("t", &bytes);
            let _ = r.varint("v");
            let _ = r.string(8, "s");
            let _ = r.stamp("t");
            let _ = unseal("t", &bytes);
        }
    }

    #[test]
    fn overlong_varints_are_refused() {
        let mut r = Reader::new("t", &[0xff; 11]);
        assert!(r.varint("v").is_err());
        let mut r = Reader::new(
            "t",
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
        );
        assert!(r.varint("v").is_err());
    }
}
