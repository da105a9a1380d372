//! `DNET_CMD_ITERATOR` (19): the request that streams the records of one backend
//! (`dnet_iterator_request` + key ranges + server-send groups), its key range, and the
//! per-record reply `dnet_iterator_response` (§10 of the protocol reference).
//!
//! ```text
//! dnet_iterator_request (104 bytes, packed), then range_num × 128-byte ranges, then
//! group_num × u32 groups; cmd.size must equal the sum exactly
//!   0  id          u64   iterator id (PAUSE / CONTINUE / CANCEL name it)
//!   8  action      u32   START 1, PAUSE 2, CONTINUE 3, CANCEL 4
//!  12  range_num   u64
//!  20  time_begin  dnet_time
//!  36  time_end    dnet_time
//!  52  itype       u32   DISK 1 (never implemented), NETWORK 2, SERVER_SEND 3
//!  56  flags       u64   DNET_IFLAGS_*
//!  64  group_num   u32   SERVER_SEND destination groups
//!  68  timeout     u32   SERVER_SEND write timeout (s)
//!  72  reserved[4] u64
//!
//! dnet_iterator_range (128 bytes)
//!   0  key_begin[64] | 64  key_end[64]          both inclusive, begin ≤ end (memcmp)
//!
//! dnet_iterator_response (140 bytes, packed), then the record data with DATA
//!   0  id             u64
//!   8  key[64]
//!  72  status         i32   0 = a record; 1 = keep-alive ("10000 more keys skipped", no key)
//!  76  timestamp      dnet_time
//!  92  user_flags     u64
//! 100  size           u64   record data size (also when the data is not sent)
//! 108  iterated_keys  u64
//! 116  total_keys     u64
//! 124  flags          u64   record flags (DNET_RECORD_FLAGS_*)
//! 132  reserved       u64
//! ```
//!
//! # What a real 3.0.0.1 server sends
//!
//! Observed against `../shared/elliptics-oracle` (eblob backend) and asserted by
//! `tests/integration/iterator.rs`; these points are not in §10 of the protocol reference.
//!
//! * Records come in disk order (append order within a blob), not id order. Removed
//!   records are left out; a key rewritten elsewhere appears once, where it now lives.
//! * A prepared, uncommitted record is included with flags 0x1c0 (EXTHDR | UNCOMMITTED |
//!   CHUNKED_CSUM), the PREPARE's timestamp and user flags, size 0 and, with DATA, no
//!   data. Committed records carry 0x140. A PREPARE over a committed key rewrites it in
//!   place: the key then shows as uncommitted with the old size (and READ answers -2).
//! * `response.id` is always 0: the server numbers running iterators itself (the lowest
//!   free number from 0, node-wide; the request's id is ignored) and never reports the
//!   number. PAUSE / CONTINUE / CANCEL name that number; an unknown one gets -2.
//! * Ranges filter whether or not KEY_RANGE is set; each range is inclusive; any range
//!   with begin > end is -34 (with or without KEY_RANGE); a range of zero ids matches
//!   nothing (it does not mean "every key"); overlapping ranges send a record once.
//!   TS_RANGE is inclusive, begin > end is -34, a zero begin is an ordinary bound.
//! * `iterated_keys` counts records inside the ranges, including those the time range
//!   skips; `total_keys` is every record of the backend (uncommitted ones too, removed
//!   ones not). After 10000 consecutive records skipped by the time range a keep-alive
//!   goes out: 140 bytes, status 1, zero key and id, `iterated_keys` and `total_keys` set.
//! * Refusals, each a bare final ACK: payload size not exactly the request (-22), unknown
//!   action (-22), flags outside 0x3f (-95), type DISK or unknown (-95), SERVER_SEND
//!   without groups (-22), DIRECT_BACKEND naming a missing backend (-95, reply backend
//!   id -1).
//! * Flow control counts replies, not bytes: up to 102400 replies
//!   (`DNET_SEND_WATERMARK_HIGH`) are queued per connection before the iterator waits,
//!   whatever their size — with DATA a slow reader can make the node hold 102400 records
//!   in memory. PAUSE and CANCEL act on the iterator, not on that queue: what is queued
//!   still arrives, then nothing (paused) or the final ACK -8 (cancelled).

use std::fmt;

use bytes::BufMut;

use super::codec::{Codec, DecodeError, Reader, check_count, decode_list, encode_list, fmt_flags};
use super::id::{ID_SIZE, Id};
use super::io_attr::DnetTime;

/// `enum dnet_iterator_action`: what an ITERATOR request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IteratorAction {
    /// Start a new iterator.
    Start,
    /// Pause the running iterator `id` (it stops sending until CONTINUE).
    Pause,
    /// Resume the paused iterator `id`.
    Continue,
    /// Stop the iterator `id`; its stream ends with a final ACK of -8 (ENOEXEC).
    Cancel,
    /// A number this implementation does not know (servers answer -EINVAL).
    Other(u32),
}

impl IteratorAction {
    /// The action with wire number `n`.
    pub fn from_u32(n: u32) -> IteratorAction {
        match n {
            1 => IteratorAction::Start,
            2 => IteratorAction::Pause,
            3 => IteratorAction::Continue,
            4 => IteratorAction::Cancel,
            n => IteratorAction::Other(n),
        }
    }

    /// The wire number.
    pub fn to_u32(self) -> u32 {
        match self {
            IteratorAction::Start => 1,
            IteratorAction::Pause => 2,
            IteratorAction::Continue => 3,
            IteratorAction::Cancel => 4,
            IteratorAction::Other(n) => n,
        }
    }
}

/// `enum dnet_iterator_types`: where the records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IteratorType {
    /// To a local file on the server; declared but never implemented (-95).
    Disk,
    /// Back to the requester, one reply per record.
    Network,
    /// Re-written by the server to other groups (recovery), one reply per record.
    ServerSend,
    /// A number this implementation does not know (servers answer -95).
    Other(u32),
}

impl IteratorType {
    /// The type with wire number `n`.
    pub fn from_u32(n: u32) -> IteratorType {
        match n {
            1 => IteratorType::Disk,
            2 => IteratorType::Network,
            3 => IteratorType::ServerSend,
            n => IteratorType::Other(n),
        }
    }

    /// The wire number.
    pub fn to_u32(self) -> u32 {
        match self {
            IteratorType::Disk => 1,
            IteratorType::Network => 2,
            IteratorType::ServerSend => 3,
            IteratorType::Other(n) => n,
        }
    }
}

/// `DNET_IFLAGS_*` (`dnet_iterator_request.flags`).
///
/// A [`bitflags`] type over the raw wire word: every bit is kept as received, so
/// `IteratorFlags(bits)` and [`IteratorFlags::from_bits_retain`] are the same thing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IteratorFlags(pub u64);

bitflags::bitflags! {
    impl IteratorFlags: u64 {
        /// Send each record's data after its response.
        const DATA = 0x1;
        /// Only keys inside the request's ranges (set whenever ranges are given).
        const KEY_RANGE = 0x2;
        /// Only records whose timestamp is within `[time_begin, time_end]`.
        const TS_RANGE = 0x4;
        /// Server-send: do not write the extension header (metadata).
        const NO_META = 0x8;
        /// Server-send: remove the local record after copying it.
        const MOVE = 0x10;
        /// Server-send: overwrite the destination even if it is newer.
        const OVERWRITE = 0x20;
        // Any other bit may come from the wire; keep it.
        const _ = !0;
    }
}

impl IteratorFlags {
    /// Every flag a server knows (`DNET_IFLAGS_ALL`); a request with another bit is
    /// refused with -95.
    pub const KNOWN: IteratorFlags = IteratorFlags(0x3f);
}

impl fmt::Debug for IteratorFlags {
    /// `IteratorFlags(DATA | KEY_RANGE)`; bits without a name in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_flags(f, "IteratorFlags", self)
    }
}

/// `dnet_iterator_range`: the ids from `key_begin` to `key_end`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IteratorRange {
    /// First id of the range.
    pub key_begin: Id,
    /// Last id of the range (included).
    pub key_end: Id,
}

impl IteratorRange {
    /// Encoded size.
    pub const SIZE: usize = 2 * ID_SIZE;

    /// The ids from `key_begin` to `key_end`, both included.
    pub fn new(key_begin: Id, key_end: Id) -> IteratorRange {
        IteratorRange { key_begin, key_end }
    }

    /// Every id.
    pub fn all() -> IteratorRange {
        IteratorRange::new(Id::ZERO, Id([0xff; ID_SIZE]))
    }

    /// Whether `id` lies in the range.
    pub fn contains(&self, id: &Id) -> bool {
        self.key_begin <= *id && *id <= self.key_end
    }

    /// Whether `key_begin ≤ key_end` (servers answer -ERANGE otherwise).
    pub fn is_valid(&self) -> bool {
        self.key_begin <= self.key_end
    }

    /// Whether both ends are the zero id (servers ignore a KEY_RANGE of only such ranges).
    pub fn is_zero(&self) -> bool {
        self.key_begin.is_zero() && self.key_end.is_zero()
    }
}

impl Codec for IteratorRange {
    fn encode(&self, out: &mut impl BufMut) {
        self.key_begin.encode(out);
        self.key_end.encode(out);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(IteratorRange {
            key_begin: Id::decode(r)?,
            key_end: Id::decode(r)?,
        })
    }
}

/// A whole ITERATOR request payload: `dnet_iterator_request` (104 bytes) followed by its
/// key ranges and server-send groups. `range_num` and `group_num` on the wire are the
/// lengths of `ranges` and `groups`; decoding requires the payload to hold exactly that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IteratorRequest {
    /// Iterator id: ignored by START on real servers (they number iterators themselves
    /// and report the number in every response); names the iterator to PAUSE, CONTINUE
    /// or CANCEL.
    pub id: u64,
    /// What to do.
    pub action: IteratorAction,
    /// First timestamp of the TS_RANGE filter (included).
    pub time_begin: DnetTime,
    /// Last timestamp of the TS_RANGE filter (included).
    pub time_end: DnetTime,
    /// Where the records go.
    pub itype: IteratorType,
    /// `DNET_IFLAGS_*`.
    pub flags: IteratorFlags,
    /// SERVER_SEND write timeout in seconds.
    pub timeout: u32,
    /// Key ranges (with KEY_RANGE).
    pub ranges: Vec<IteratorRange>,
    /// SERVER_SEND destination groups.
    pub groups: Vec<u32>,
}

impl IteratorRequest {
    /// Size of the fixed part, `dnet_iterator_request`.
    pub const SIZE: usize = 104;

    /// A NETWORK START over every key, without data.
    pub fn start() -> IteratorRequest {
        IteratorRequest {
            id: 0,
            action: IteratorAction::Start,
            time_begin: DnetTime::default(),
            time_end: DnetTime::default(),
            itype: IteratorType::Network,
            flags: IteratorFlags::empty(),
            timeout: 0,
            ranges: Vec::new(),
            groups: Vec::new(),
        }
    }

    /// A PAUSE, CONTINUE or CANCEL of iterator `id` (no ranges, no flags).
    pub fn control(id: u64, action: IteratorAction) -> IteratorRequest {
        IteratorRequest {
            id,
            action,
            ..IteratorRequest::start()
        }
    }

    /// The payload size this request encodes to.
    pub fn encoded_len(&self) -> usize {
        Self::SIZE + self.ranges.len() * IteratorRange::SIZE + self.groups.len() * 4
    }
}

impl Codec for IteratorRequest {
    fn encode(&self, out: &mut impl BufMut) {
        out.put_u64_le(self.id);
        out.put_u32_le(self.action.to_u32());
        out.put_u64_le(self.ranges.len() as u64);
        self.time_begin.encode(out);
        self.time_end.encode(out);
        out.put_u32_le(self.itype.to_u32());
        out.put_u64_le(self.flags.bits());
        out.put_u32_le(self.groups.len() as u32);
        out.put_u32_le(self.timeout);
        out.put_bytes(0, 32);
        encode_list(&self.ranges, out);
        for g in &self.groups {
            out.put_u32_le(*g);
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let id = r.u64("iterator_request.id")?;
        let action = IteratorAction::from_u32(r.u32("iterator_request.action")?);
        let range_num = r.u64("iterator_request.range_num")?;
        let time_begin = DnetTime::decode(r)?;
        let time_end = DnetTime::decode(r)?;
        let itype = IteratorType::from_u32(r.u32("iterator_request.itype")?);
        let flags = IteratorFlags::from_bits_retain(r.u64("iterator_request.flags")?);
        let group_num = r.u32("iterator_request.group_num")?;
        let timeout = r.u32("iterator_request.timeout")?;
        r.take(32, "iterator_request.reserved")?;
        let ranges = decode_list::<IteratorRange>(
            r,
            range_num,
            IteratorRange::SIZE,
            "iterator_request.range_num",
        )?;
        let n = check_count(r, group_num.into(), 4, "iterator_request.group_num")?;
        let mut groups = Vec::with_capacity(n);
        for _ in 0..n {
            groups.push(r.u32("iterator_request.groups")?);
        }
        Ok(IteratorRequest {
            id,
            action,
            time_begin,
            time_end,
            itype,
            flags,
            timeout,
            ranges,
            groups,
        })
    }
}

/// `dnet_iterator_response`: one record (or, with status 1, a keep-alive) of an
/// iterator. The record data, when asked for, follows it in the same reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IteratorResponse {
    /// Iterator id (use it to PAUSE / CONTINUE / CANCEL).
    pub id: u64,
    /// Record key id.
    pub key: Id,
    /// 0 for a record, [`IteratorResponse::KEEPALIVE`] for a keep-alive; server-send
    /// reports the per-key write result here.
    pub status: i32,
    /// Record timestamp.
    pub timestamp: DnetTime,
    /// Record user flags.
    pub user_flags: u64,
    /// Record data size.
    pub size: u64,
    /// Records iterated so far (including skipped ones).
    pub iterated_keys: u64,
    /// Records of the backend when the iterator started.
    pub total_keys: u64,
    /// Record flags (`DNET_RECORD_FLAGS_*`).
    pub flags: u64,
    /// Reserved, kept for exact round trips.
    pub reserved: u64,
}

impl IteratorResponse {
    /// Encoded size.
    pub const SIZE: usize = 140;
    /// `status` of a keep-alive: the server skipped 10000 keys (time range) and sends no
    /// record, only progress.
    pub const KEEPALIVE: i32 = 1;

    /// Whether this is a keep-alive rather than a record.
    pub fn is_keepalive(&self) -> bool {
        self.status == Self::KEEPALIVE
    }
}

impl Codec for IteratorResponse {
    fn encode(&self, out: &mut impl BufMut) {
        out.put_u64_le(self.id);
        self.key.encode(out);
        out.put_i32_le(self.status);
        self.timestamp.encode(out);
        out.put_u64_le(self.user_flags);
        out.put_u64_le(self.size);
        out.put_u64_le(self.iterated_keys);
        out.put_u64_le(self.total_keys);
        out.put_u64_le(self.flags);
        out.put_u64_le(self.reserved);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(IteratorResponse {
            id: r.u64("iterator_response.id")?,
            key: Id::decode(r)?,
            status: r.i32("iterator_response.status")?,
            timestamp: DnetTime::decode(r)?,
            user_flags: r.u64("iterator_response.user_flags")?,
            size: r.u64("iterator_response.size")?,
            iterated_keys: r.u64("iterator_response.iterated_keys")?,
            total_keys: r.u64("iterator_response.total_keys")?,
            flags: r.u64("iterator_response.flags")?,
            reserved: r.u64("iterator_response.reserved")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> Id {
        Id([b; ID_SIZE])
    }

    fn full_request() -> IteratorRequest {
        IteratorRequest {
            id: 0x0102_0304_0506_0708,
            action: IteratorAction::Start,
            time_begin: DnetTime {
                tsec: 10,
                tnsec: 11,
            },
            time_end: DnetTime {
                tsec: 20,
                tnsec: 21,
            },
            itype: IteratorType::ServerSend,
            flags: IteratorFlags::DATA | IteratorFlags::KEY_RANGE | IteratorFlags::TS_RANGE,
            timeout: 30,
            ranges: vec![
                IteratorRange::new(id(1), id(2)),
                IteratorRange::new(id(3), id(4)),
            ],
            groups: vec![5, 6, 7],
        }
    }

    #[test]
    fn request_layout_and_round_trip() {
        let req = full_request();
        let bytes = req.to_vec();
        assert_eq!(bytes.len(), 104 + 2 * 128 + 3 * 4);
        assert_eq!(bytes.len(), req.encoded_len());
        assert_eq!(&bytes[0..8], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
        assert_eq!(&bytes[12..20], &2u64.to_le_bytes());
        assert_eq!(&bytes[20..28], &10u64.to_le_bytes());
        assert_eq!(&bytes[36..44], &20u64.to_le_bytes());
        assert_eq!(&bytes[52..56], &3u32.to_le_bytes());
        assert_eq!(&bytes[56..64], &7u64.to_le_bytes());
        assert_eq!(&bytes[64..68], &3u32.to_le_bytes());
        assert_eq!(&bytes[68..72], &30u32.to_le_bytes());
        assert_eq!(&bytes[72..104], &[0u8; 32]);
        assert_eq!(&bytes[104..168], &[1u8; 64]);
        assert_eq!(&bytes[360..364], &5u32.to_le_bytes());
        assert_eq!(IteratorRequest::decode_all(&bytes), Ok(req));
        let control = IteratorRequest::control(9, IteratorAction::Cancel);
        let bytes = control.to_vec();
        assert_eq!(bytes.len(), IteratorRequest::SIZE);
        assert_eq!(IteratorRequest::decode_all(&bytes), Ok(control));
    }

    #[test]
    fn request_keeps_unknown_values() {
        let mut req = IteratorRequest::start();
        req.action = IteratorAction::Other(77);
        req.itype = IteratorType::Other(9);
        req.flags = IteratorFlags(0x1_0000_0001);
        let back = IteratorRequest::decode_all(&req.to_vec()).unwrap();
        assert_eq!(back, req);
        assert_eq!(IteratorAction::from_u32(3), IteratorAction::Continue);
        assert_eq!(IteratorType::from_u32(1), IteratorType::Disk);
        assert!(!IteratorFlags::KNOWN.contains(back.flags));
        assert_eq!(
            format!("{:?}", IteratorFlags::DATA | IteratorFlags(0x100)),
            "IteratorFlags(DATA | 0x100)"
        );
    }

    #[test]
    fn request_sizes_must_match_exactly() {
        let bytes = full_request().to_vec();
        // Short by one byte anywhere: an error, never a panic.
        for len in 0..bytes.len() {
            assert!(IteratorRequest::decode_all(&bytes[..len]).is_err(), "{len}");
        }
        // A trailing byte.
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            IteratorRequest::decode_all(&long),
            Err(DecodeError::TrailingBytes { .. })
        ));
        // A range count that lies (huge, and one too many).
        for lie in [u64::MAX, 3] {
            let mut lying = bytes.clone();
            lying[12..20].copy_from_slice(&lie.to_le_bytes());
            assert!(IteratorRequest::decode_all(&lying).is_err(), "{lie}");
        }
        // A group count that lies.
        let mut lying = bytes.clone();
        lying[64..68].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            IteratorRequest::decode_all(&lying),
            Err(DecodeError::TooLarge { .. })
        ));
        // A range count one short leaves bytes over.
        let mut short = bytes;
        short[12..20].copy_from_slice(&1u64.to_le_bytes());
        assert!(IteratorRequest::decode_all(&short).is_err());
    }

    #[test]
    fn response_layout_and_round_trip() {
        let resp = IteratorResponse {
            id: 7,
            key: id(0xab),
            status: 0,
            timestamp: DnetTime { tsec: 1, tnsec: 2 },
            user_flags: 3,
            size: 4,
            iterated_keys: 5,
            total_keys: 6,
            flags: 0x140,
            reserved: 0,
        };
        let bytes = resp.to_vec();
        assert_eq!(bytes.len(), IteratorResponse::SIZE);
        assert_eq!(&bytes[8..72], &[0xab; 64]);
        assert_eq!(&bytes[72..76], &0i32.to_le_bytes());
        assert_eq!(&bytes[76..84], &1u64.to_le_bytes());
        assert_eq!(&bytes[92..100], &3u64.to_le_bytes());
        assert_eq!(&bytes[100..108], &4u64.to_le_bytes());
        assert_eq!(&bytes[108..116], &5u64.to_le_bytes());
        assert_eq!(&bytes[116..124], &6u64.to_le_bytes());
        assert_eq!(&bytes[124..132], &0x140u64.to_le_bytes());
        assert_eq!(IteratorResponse::decode_all(&bytes), Ok(resp));
        for len in 0..bytes.len() {
            assert!(IteratorResponse::decode_all(&bytes[..len]).is_err());
        }
        let keepalive = IteratorResponse {
            status: IteratorResponse::KEEPALIVE,
            ..IteratorResponse::default()
        };
        assert!(keepalive.is_keepalive());
        assert!(!resp.is_keepalive());
    }

    #[test]
    fn ranges() {
        let r = IteratorRange::new(id(2), id(4));
        assert!(r.contains(&id(2)) && r.contains(&id(4)) && r.contains(&id(3)));
        assert!(!r.contains(&id(1)) && !r.contains(&id(5)));
        assert!(r.is_valid());
        assert!(!IteratorRange::new(id(4), id(2)).is_valid());
        assert!(IteratorRange::default().is_zero());
        assert!(IteratorRange::all().contains(&id(0xff)));
    }
}
