//! Keys and ids: the 64-byte `dnet_raw_id`, the 76-byte `dnet_id` (id + group), and the
//! key → id transform (SHA-512 of `namespace 0x00 key`, or of the key alone).
//!
//! ```text
//! dnet_id (76 bytes, packed)
//!   0  id[64]      key id, compared as a big-endian 512-bit number (memcmp)
//!  64  group_id    u32
//!  68  reserved    u64 (always 0)
//! ```

use std::fmt;

use bytes::BufMut;
use sha2::{Digest, Sha512};

use super::codec::{Codec, DecodeError, Reader};

/// Size of an Elliptics id in bytes.
pub const ID_SIZE: usize = 64;

/// A 64-byte Elliptics id. `Ord` is `memcmp` order, the order of the ring.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub [u8; ID_SIZE]);

impl Id {
    /// The all-zero id.
    pub const ZERO: Id = Id([0; ID_SIZE]);

    /// The id of `key` in `namespace`: SHA-512(namespace || 0 || key), or SHA-512(key)
    /// when the namespace is empty.
    pub fn from_key(namespace: &[u8], key: &[u8]) -> Id {
        let mut h = Sha512::new();
        if !namespace.is_empty() {
            h.update(namespace);
            h.update([0u8]);
        }
        h.update(key);
        Id(h.finalize().into())
    }

    /// SHA-512 of `data`: the checksum Elliptics stores and reports.
    pub fn checksum(data: &[u8]) -> Id {
        Id(Sha512::digest(data).into())
    }

    /// Parses 128 hex digits.
    pub fn from_hex(s: &str) -> Option<Id> {
        let mut a = [0u8; ID_SIZE];
        hex::decode_to_slice(s, &mut a).ok()?;
        Some(Id(a))
    }

    /// Lower-case hex of all 64 bytes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// True when every byte is zero.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; ID_SIZE]
    }
}

impl Default for Id {
    fn default() -> Self {
        Id::ZERO
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", hex::encode(&self.0[..6]))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Codec for Id {
    fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(&self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Id(r.array("id")?))
    }
}

/// `dnet_id`: an id addressed to one replica group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GroupId {
    /// Key id.
    pub id: Id,
    /// Replica group.
    pub group_id: u32,
    /// Reserved, 0 on the wire in every known version (kept for exact round trips).
    pub reserved: u64,
}

impl GroupId {
    /// Encoded size.
    pub const SIZE: usize = 76;

    /// `id` in `group_id`.
    pub fn new(id: Id, group_id: u32) -> Self {
        Self {
            id,
            group_id,
            reserved: 0,
        }
    }
}

impl Codec for GroupId {
    fn encode(&self, out: &mut impl BufMut) {
        self.id.encode(out);
        out.put_u32_le(self.group_id);
        out.put_u64_le(self.reserved);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            id: Id::decode(r)?,
            group_id: r.u32("dnet_id.group_id")?,
            reserved: r.u64("dnet_id.reserved")?,
        })
    }
}

/// A protocol version `{major, minor, patch, build}`, carried in the first 16 bytes of the
/// id of REVERSE_LOOKUP. Two versions are compatible when major and minor agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtocolVersion(pub [i32; 4]);

impl ProtocolVersion {
    /// 2.26.10.1: the line Backrunner-era clusters run.
    pub const V2_26: ProtocolVersion = ProtocolVersion([2, 26, 10, 1]);
    /// 3.0.0.1: the version of the captured reference cluster.
    pub const V3_0: ProtocolVersion = ProtocolVersion([3, 0, 0, 1]);

    /// Whether two versions can talk (same major and minor).
    pub fn compatible(&self, other: &ProtocolVersion) -> bool {
        self.0[0] == other.0[0] && self.0[1] == other.0[1]
    }

    /// The id that carries this version (rest zero).
    pub fn to_id(&self) -> Id {
        let mut id = [0u8; ID_SIZE];
        for (i, v) in self.0.iter().enumerate() {
            id[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        Id(id)
    }

    /// The version carried by `id`.
    pub fn from_id(id: &Id) -> ProtocolVersion {
        let mut v = [0i32; 4];
        for (i, x) in v.iter_mut().enumerate() {
            let mut b = [0u8; 4];
            b.copy_from_slice(&id.0[i * 4..i * 4 + 4]);
            *x = i32::from_le_bytes(b);
        }
        ProtocolVersion(v)
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

impl std::str::FromStr for ProtocolVersion {
    type Err = String;

    /// Parses `2.26`, `2.26.10` or `3.0.0.1` (missing parts are 0).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut v = [0i32; 4];
        let parts: Vec<&str> = s.trim().split('.').collect();
        if parts.len() < 2 || parts.len() > 4 {
            return Err(format!(
                "protocol version {s:?}: expected major.minor[.patch[.build]]"
            ));
        }
        for (i, p) in parts.iter().enumerate() {
            v[i] = p
                .parse()
                .map_err(|_| format!("protocol version {s:?}: {p:?} is not a number"))?;
        }
        Ok(ProtocolVersion(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_matches_capture() {
        // README of the vectors: SHA-512("elliptics-vector-key-2"), no namespace.
        let id = Id::from_key(b"", b"elliptics-vector-key-2");
        assert_eq!(
            id.to_hex(),
            "64516dfe9722be2a02fe409a88694962415917a1e93c58528bb9ab998c719ddf\
             c378876da8f29af3939abcec9b6f55c284107b6d1796579f03cf883c9586486d"
        );
    }

    #[test]
    fn namespace_separator() {
        let mut h = Sha512::new();
        h.update(b"bucket\0key");
        let want: [u8; 64] = h.finalize().into();
        assert_eq!(Id::from_key(b"bucket", b"key").0, want);
    }

    #[test]
    fn version_id_round_trip() {
        let v = ProtocolVersion::V2_26;
        assert_eq!(
            hex::encode(&v.to_id().0[..16]),
            "020000001a0000000a00000001000000"
        );
        assert_eq!(ProtocolVersion::from_id(&v.to_id()), v);
        assert_eq!(
            "3.0".parse::<ProtocolVersion>(),
            Ok(ProtocolVersion([3, 0, 0, 0]))
        );
        assert!(v.compatible(&ProtocolVersion([2, 26, 0, 0])));
        assert!(!v.compatible(&ProtocolVersion::V3_0));
        assert!("x".parse::<ProtocolVersion>().is_err());
    }
}
