//! The codec trait shared by every wire structure: encode into a buffer, decode from a
//! bounded [`Reader`] that never reads past the bytes it was given.

use std::fmt;

use bytes::BufMut;

/// Why a byte sequence could not be decoded. Small and `Copy`: the context is static.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the structure needs.
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        /// Structure being decoded.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// Bytes left over after a structure that must fill its payload exactly.
    #[error("{extra} trailing bytes after {what}")]
    TrailingBytes {
        /// Structure being decoded.
        what: &'static str,
        /// Number of bytes left.
        extra: usize,
    },
    /// A declared count or size exceeds what this implementation accepts.
    #[error("{what} too large: {size} > {max}")]
    TooLarge {
        /// Field that was too large.
        what: &'static str,
        /// Declared value.
        size: u64,
        /// Accepted maximum.
        max: u64,
    },
    /// A field holds a value that is not valid for it.
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// A wire structure with a fixed or self-described layout.
pub trait Codec: Sized {
    /// Appends the wire bytes of `self` to `out`.
    fn encode(&self, out: &mut impl BufMut);

    /// Reads one value from `r`, consuming exactly its bytes.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Encodes into a fresh vector.
    fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Decodes a value that must occupy all of `bytes`.
    fn decode_all(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = Self::decode(&mut r)?;
        r.finish(std::any::type_name::<Self>())?;
        Ok(v)
    }
}

/// A cursor over a byte slice; every read is bounds-checked.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                what,
                need: n,
                have: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes the next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    /// A sub-reader over exactly the next `n` bytes.
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, DecodeError> {
        Ok(Reader::new(self.take(n, what)?))
    }

    /// All bytes not yet consumed.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { what, extra }),
        }
    }

    /// Little-endian `u8`.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }
    /// Little-endian `u16`.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    /// Little-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    /// Little-endian `i32`.
    pub fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }
    /// Little-endian `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
}

/// Checks that `count` items of `item_size` bytes can fit in what `r` has left, before
/// anything is allocated for them.
pub fn check_count(
    r: &Reader<'_>,
    count: u64,
    item_size: usize,
    what: &'static str,
) -> Result<usize, DecodeError> {
    let max = (r.remaining() / item_size.max(1)) as u64;
    if count > max {
        return Err(DecodeError::TooLarge {
            what,
            size: count,
            max,
        });
    }
    Ok(count as usize)
}

/// Encodes `items` one after another (the count, where the format has one, goes first and
/// is the caller's: its width and signedness differ between structures).
pub fn encode_list<T: Codec>(items: &[T], out: &mut impl BufMut) {
    for item in items {
        item.encode(out);
    }
}

/// Decodes `count` consecutive `T`s of `item_size` bytes each, after [`check_count`] has
/// made sure they can fit in what `r` has left (`what` names the count field in errors).
pub fn decode_list<T: Codec>(
    r: &mut Reader<'_>,
    count: u64,
    item_size: usize,
    what: &'static str,
) -> Result<Vec<T>, DecodeError> {
    let n = check_count(r, count, item_size, what)?;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        items.push(T::decode(r)?);
    }
    Ok(items)
}

/// The `Debug` text of a wire flags type: `Name(A | B | 0x100000)` (named flags, then the
/// bits without a name in hex), or `Name(0x0)` when no bit is set.
pub(crate) fn fmt_flags<F>(f: &mut fmt::Formatter<'_>, name: &str, flags: &F) -> fmt::Result
where
    F: bitflags::Flags,
    F::Bits: bitflags::parser::WriteHex,
{
    write!(f, "{name}(")?;
    if flags.is_empty() {
        f.write_str("0x0")?;
    } else {
        bitflags::parser::to_writer(flags, &mut *f)?;
    }
    f.write_str(")")
}
