//! The little binary encoding of the object records (manifest, upload record):
//! little-endian integers, length-prefixed byte strings, every read bounds-checked.

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{record}: {reason}")]
pub struct FormatError {
    /// Which record.
    pub record: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// Reads fields from the front of a byte slice.
pub(crate) struct Cursor<'a> {
    record: &'static str,
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(record: &'static str, bytes: &'a [u8]) -> Cursor<'a> {
        Cursor {
            record,
            rest: bytes,
        }
    }

    pub(crate) fn error(&self, reason: impl Into<String>) -> FormatError {
        FormatError {
            record: self.record,
            reason: reason.into(),
        }
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], FormatError> {
        if self.rest.len() < n {
            return Err(self.error(format!("truncated at {what}")));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], FormatError> {
        let b = self.bytes(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A `u32` length, then that many bytes (at most `max`).
    pub(crate) fn string(&mut self, max: usize, what: &str) -> Result<&'a [u8], FormatError> {
        let len = self.u32(what)? as usize;
        if len > max {
            return Err(self.error(format!("{what} of {len} bytes, more than {max}")));
        }
        self.bytes(len, what)
    }

    pub(crate) fn magic(&mut self, magic: &[u8]) -> Result<(), FormatError> {
        match self.bytes(magic.len(), "magic")? == magic {
            true => Ok(()),
            false => Err(self.error("not this record (magic)")),
        }
    }

    pub(crate) fn finish(self) -> Result<(), FormatError> {
        match self.rest.is_empty() {
            true => Ok(()),
            false => Err(self.error(format!("{} trailing bytes", self.rest.len()))),
        }
    }
}

/// Appends a `u32` length and the bytes.
pub(crate) fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}
