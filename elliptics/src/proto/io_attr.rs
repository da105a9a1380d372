//! The IO descriptor `dnet_io_attr` of READ/WRITE/DEL, its flags, record flags, and
//! `dnet_time`.
//!
//! ```text
//! dnet_io_attr (208 bytes, packed)
//!   0  parent[64]    CAS old checksum / READ reply checksum / key id
//!  64  id[64]        key id
//! 128  start         u64
//! 136  num           u64   prepare: bytes to reserve; commit: final size
//! 144  timestamp     dnet_time (tsec u64, tnsec u64)
//! 160  user_flags    u64
//! 168  total_size    u64   READ reply: object size
//! 176  record_flags  u64   READ reply: DNET_RECORD_FLAGS_*
//! 184  reserved2     u32
//! 188  flags         u32   DNET_IO_FLAGS_*
//! 192  offset        u64
//! 200  size          u64
//! ```

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BufMut;

use super::codec::{Codec, DecodeError, Reader, fmt_flags};
use super::id::Id;

/// `dnet_time`: seconds and nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DnetTime {
    /// Seconds.
    pub tsec: u64,
    /// Nanoseconds (the C client fills microseconds × 1000).
    pub tnsec: u64,
}

impl DnetTime {
    /// Encoded size.
    pub const SIZE: usize = 16;
    /// The "empty" time (both fields all ones).
    pub const EMPTY: DnetTime = DnetTime {
        tsec: u64::MAX,
        tnsec: u64::MAX,
    };

    /// The current time at microsecond precision, as the C client stamps writes.
    pub fn now() -> DnetTime {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        DnetTime {
            tsec: d.as_secs(),
            tnsec: u64::from(d.subsec_micros()) * 1000,
        }
    }

    /// As a `SystemTime` (saturating on absurd values).
    pub fn to_system_time(&self) -> SystemTime {
        UNIX_EPOCH
            .checked_add(Duration::new(
                self.tsec,
                (self.tnsec % 1_000_000_000) as u32,
            ))
            .unwrap_or(UNIX_EPOCH)
    }

    /// RFC 3339 in UTC with nanoseconds, `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (Backrunner's
    /// reply format); seconds past 9999-12-31T23:59:59 show that instant.
    pub fn to_rfc3339(&self) -> String {
        const LAST_SECOND: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
        let secs = i64::try_from(self.tsec.min(LAST_SECOND)).unwrap_or(0);
        let at = time::UtcDateTime::from_unix_timestamp(secs).unwrap_or(time::UtcDateTime::MAX);
        format!("{}.{:09}Z", date_time(at, 'T'), self.tnsec % 1_000_000_000)
    }
}

/// `YYYY-MM-DD<separator>HH:MM:SS` of `at`: the calendar part of both the RFC 3339 reply
/// times and the monitor's `string_timestamp`.
pub(crate) fn date_time(at: time::UtcDateTime, separator: char) -> String {
    format!(
        "{:04}-{:02}-{:02}{separator}{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
    )
}

impl Codec for DnetTime {
    fn encode(&self, out: &mut impl BufMut) {
        out.put_u64_le(self.tsec);
        out.put_u64_le(self.tnsec);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(DnetTime {
            tsec: r.u64("dnet_time.tsec")?,
            tnsec: r.u64("dnet_time.tnsec")?,
        })
    }
}

/// `DNET_IO_FLAGS_*` (`dnet_io_attr.flags`).
///
/// A [`bitflags`] type over the raw wire word: every bit is kept as received, so
/// `IoFlags(bits)` and [`IoFlags::from_bits_retain`] are the same thing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IoFlags(pub u32);

bitflags::bitflags! {
    impl IoFlags: u32 {
        /// Server-internal: do not send read data.
        const SKIP_SENDING = 0x1;
        /// Append to the end of the record.
        const APPEND = 0x2;
        /// Reserve `io.num` bytes for a new uncommitted record.
        const PREPARE = 0x10;
        /// Commit the record with size `io.num` after this chunk.
        const COMMIT = 0x20;
        /// Recovery: object must be removed.
        const REMOVED = 0x40;
        /// Legacy, no effect.
        const OVERWRITE = 0x80;
        /// Write: store no checksum; read: do not verify it.
        const NOCSUM = 0x100;
        /// Write into the reserved area without prepare/commit logic.
        const PLAIN_WRITE = 0x200;
        /// Use the cache layer first.
        const CACHE = 0x400;
        /// Cache only.
        const CACHE_ONLY = 0x800;
        /// Cache removal also removes on disk.
        const CACHE_REMOVE_FROM_DISK = 0x1000;
        /// Write only if the current checksum equals `io.parent`.
        const COMPARE_AND_SWAP = 0x2000;
        /// Read: put the data checksum in the reply's `parent`. Same bit as
        /// [`IoFlags::WRITE_NO_FILE_INFO`].
        const CHECKSUM = 0x4000;
        /// Write: reply with a bare ACK instead of file info.
        const WRITE_NO_FILE_INFO = 0x4000;
        /// Write only if the stored timestamp is not newer than `io.timestamp`.
        const CAS_TIMESTAMP = 0x8000;
        /// Client side: order groups by measured weight before READ.
        const MIX_STATES = 0x10000;
        // Any other bit may come from the wire; keep it.
        const _ = !0;
    }
}

impl fmt::Debug for IoFlags {
    /// `IoFlags(PREPARE | NOCSUM)`; bits without a name in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_flags(f, "IoFlags", self)
    }
}

/// `DNET_RECORD_FLAGS_*`, the flags of a stored record.
pub mod record_flags {
    /// Removed, awaiting defrag.
    pub const REMOVE: u64 = 0x1;
    /// Stored without checksum.
    pub const NOCSUM: u64 = 0x2;
    /// Appended.
    pub const APPEND: u64 = 0x10;
    /// Data starts with an extension header (every record Elliptics writes).
    pub const EXTHDR: u64 = 0x40;
    /// Prepared, not committed.
    pub const UNCOMMITTED: u64 = 0x80;
    /// Checksummed by chunks.
    pub const CHUNKED_CSUM: u64 = 0x100;
}

/// `dnet_io_attr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IoAttr {
    /// CAS expected checksum, READ reply checksum, or the key id.
    pub parent: Id,
    /// Key id.
    pub id: Id,
    /// Range skip / cache lifetime.
    pub start: u64,
    /// Reserve size (prepare) or final size (commit).
    pub num: u64,
    /// Record timestamp.
    pub timestamp: DnetTime,
    /// Opaque per-record flags.
    pub user_flags: u64,
    /// READ reply: full object size.
    pub total_size: u64,
    /// READ reply: stored record flags.
    pub record_flags: u64,
    /// Reserved.
    pub reserved2: u32,
    /// IO flags.
    pub flags: IoFlags,
    /// Offset inside the object.
    pub offset: u64,
    /// Bytes to write / to read (0 = to end) / actually sent.
    pub size: u64,
}

impl IoAttr {
    /// Encoded size.
    pub const SIZE: usize = 208;
}

impl Codec for IoAttr {
    fn encode(&self, out: &mut impl BufMut) {
        self.parent.encode(out);
        self.id.encode(out);
        out.put_u64_le(self.start);
        out.put_u64_le(self.num);
        self.timestamp.encode(out);
        out.put_u64_le(self.user_flags);
        out.put_u64_le(self.total_size);
        out.put_u64_le(self.record_flags);
        out.put_u32_le(self.reserved2);
        out.put_u32_le(self.flags.bits());
        out.put_u64_le(self.offset);
        out.put_u64_le(self.size);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(IoAttr {
            parent: Id::decode(r)?,
            id: Id::decode(r)?,
            start: r.u64("io_attr.start")?,
            num: r.u64("io_attr.num")?,
            timestamp: DnetTime::decode(r)?,
            user_flags: r.u64("io_attr.user_flags")?,
            total_size: r.u64("io_attr.total_size")?,
            record_flags: r.u64("io_attr.record_flags")?,
            reserved2: r.u32("io_attr.reserved2")?,
            flags: IoFlags::from_bits_retain(r.u32("io_attr.flags")?),
            offset: r.u64("io_attr.offset")?,
            size: r.u64("io_attr.size")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        let t = |tsec, tnsec| DnetTime { tsec, tnsec }.to_rfc3339();
        assert_eq!(t(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(t(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(t(1_700_000_000, 123_000), "2023-11-14T22:13:20.000123000Z");
        assert_eq!(t(u64::MAX, 0), "9999-12-31T23:59:59.000000000Z");
    }
}
