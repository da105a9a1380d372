//! The 120-byte `dnet_cmd` header that starts every frame, command numbers and command
//! flags.
//!
//! ```text
//! dnet_cmd (120 bytes, packed, little-endian)
//!   0  id          dnet_id (76): key id[64], group_id u32, reserved u64
//!  76  status      i32   0 or negative errno (replies)
//!  80  cmd         i32   command number
//!  84  backend_id  i32   routed backend (request), processing backend (reply), -1 node level
//!  88  trace_id    u64
//!  96  flags       u64   DNET_FLAGS_*; high 32 bits command specific
//! 104  trans       u64   transaction number, echoed in every reply
//! 112  size        u64   payload bytes that follow
//! ```

use std::fmt;

use bytes::BufMut;

use super::codec::{Codec, DecodeError, Reader, fmt_flags};
use super::id::{GroupId, Id};

/// Command numbers of `enum dnet_commands`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
#[allow(missing_docs)]
pub enum Command {
    Lookup = 1,
    ReverseLookup = 2,
    Join = 3,
    Write = 4,
    Read = 5,
    ListDeprecated = 6,
    Exec = 7,
    RouteList = 8,
    StatDeprecated = 9,
    Notify = 10,
    Del = 11,
    StatCountDeprecated = 12,
    Status = 13,
    ReadRange = 14,
    DelRange = 15,
    Auth = 16,
    BulkRead = 17,
    DefragDeprecated = 18,
    Iterator = 19,
    MonitorStat = 23,
    UpdateIds = 24,
    BackendControl = 25,
    BackendStatus = 26,
    Send = 27,
}

impl Command {
    /// The command with wire number `n`, if known.
    pub fn from_i32(n: i32) -> Option<Command> {
        use Command::*;
        Some(match n {
            1 => Lookup,
            2 => ReverseLookup,
            3 => Join,
            4 => Write,
            5 => Read,
            6 => ListDeprecated,
            7 => Exec,
            8 => RouteList,
            9 => StatDeprecated,
            10 => Notify,
            11 => Del,
            12 => StatCountDeprecated,
            13 => Status,
            14 => ReadRange,
            15 => DelRange,
            16 => Auth,
            17 => BulkRead,
            18 => DefragDeprecated,
            19 => Iterator,
            23 => MonitorStat,
            24 => UpdateIds,
            25 => BackendControl,
            26 => BackendStatus,
            27 => Send,
            _ => return None,
        })
    }

    /// The name Elliptics uses in logs and statistics (`"WRITE"`, `"REMOVE"`, ...).
    pub fn name(self) -> &'static str {
        use Command::*;
        match self {
            Lookup => "LOOKUP",
            ReverseLookup => "REVERSE_LOOKUP",
            Join => "JOIN",
            Write => "WRITE",
            Read => "READ",
            ListDeprecated => "LIST",
            Exec => "EXEC",
            RouteList => "ROUTE_LIST",
            StatDeprecated => "STAT",
            Notify => "NOTIFY",
            Del => "REMOVE",
            StatCountDeprecated => "STAT_COUNT",
            Status => "STATUS",
            ReadRange => "READ_RANGE",
            DelRange => "DEL_RANGE",
            Auth => "AUTH",
            BulkRead => "BULK_READ",
            DefragDeprecated => "DEFRAG",
            Iterator => "ITERATOR",
            MonitorStat => "MONITOR_STAT",
            UpdateIds => "UPDATE_IDS",
            BackendControl => "BACKEND_CONTROL",
            BackendStatus => "BACKEND_STATUS",
            Send => "SEND",
        }
    }
}

/// `DNET_FLAGS_*` command flags (`dnet_cmd.flags`).
///
/// A [`bitflags`] type over the raw wire word: every bit is kept as received (the high
/// 32 bits are command specific), so `CmdFlags(bits)` and
/// [`CmdFlags::from_bits_retain`] are the same thing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CmdFlags(pub u64);

bitflags::bitflags! {
    impl CmdFlags: u64 {
        /// Sender wants a final acknowledgement.
        const NEED_ACK = 0x1;
        /// More reply packets of this transaction follow.
        const MORE = 0x2;
        /// Client-internal "being destroyed" marker; never on the wire.
        const DESTROY = 0x4;
        /// Process locally, never forward; sent to an explicit address.
        const DIRECT = 0x8;
        /// Do not take the per-key lock.
        const NOLOCK = 0x10;
        /// LOOKUP/WRITE: fill and verify the checksum in the file info.
        const CHECKSUM = 0x20;
        /// LOOKUP: skip the cache.
        const NOCACHE = 0x40;
        /// Use `cmd.backend_id` instead of route lookup.
        const DIRECT_BACKEND = 0x80;
        /// Log everything for this request.
        const TRACE_BIT = 0x100;
        /// The packet is a reply.
        const REPLY = 0x200;
        // Any other bit may come from the wire (command specific); keep it.
        const _ = !0;
    }
}

impl CmdFlags {
    /// `self` with the bits of `other` set (same as [`CmdFlags::union`]).
    pub const fn with(self, other: CmdFlags) -> CmdFlags {
        self.union(other)
    }
    /// `self` with the bits of `other` cleared (same as [`CmdFlags::difference`]).
    pub const fn without(self, other: CmdFlags) -> CmdFlags {
        self.difference(other)
    }
}

impl fmt::Debug for CmdFlags {
    /// `CmdFlags(MORE | REPLY)`; bits without a name in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_flags(f, "CmdFlags", self)
    }
}

/// The `dnet_cmd` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Key id and group.
    pub id: GroupId,
    /// 0 or a negative errno.
    pub status: i32,
    /// Command number (see [`Command`]); kept raw so unknown commands can be answered.
    pub cmd: i32,
    /// Backend id.
    pub backend_id: i32,
    /// Trace id for logs.
    pub trace_id: u64,
    /// Command flags.
    pub flags: CmdFlags,
    /// Transaction number.
    pub trans: u64,
    /// Payload size in bytes.
    pub size: u64,
}

impl Header {
    /// Encoded size of the header.
    pub const SIZE: usize = 120;

    /// A request header for `cmd` with everything else zero.
    pub fn new(cmd: Command) -> Header {
        Header {
            cmd: cmd as i32,
            ..Header::default()
        }
    }

    /// The known command, if the number is one.
    pub fn command(&self) -> Option<Command> {
        Command::from_i32(self.cmd)
    }

    /// Whether this packet is a reply.
    pub fn is_reply(&self) -> bool {
        self.flags.contains(CmdFlags::REPLY)
    }

    /// Whether more replies of this transaction follow.
    pub fn has_more(&self) -> bool {
        self.flags.contains(CmdFlags::MORE)
    }

    /// The key id.
    pub fn key(&self) -> &Id {
        &self.id.id
    }

    /// Encodes into a fixed array.
    pub fn to_bytes(&self) -> [u8; Header::SIZE] {
        let mut a = [0u8; Header::SIZE];
        let mut s = &mut a[..];
        self.encode(&mut s);
        a
    }
}

impl Codec for Header {
    fn encode(&self, out: &mut impl BufMut) {
        self.id.encode(out);
        out.put_i32_le(self.status);
        out.put_i32_le(self.cmd);
        out.put_i32_le(self.backend_id);
        out.put_u64_le(self.trace_id);
        out.put_u64_le(self.flags.bits());
        out.put_u64_le(self.trans);
        out.put_u64_le(self.size);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Header {
            id: GroupId::decode(r)?,
            status: r.i32("dnet_cmd.status")?,
            cmd: r.i32("dnet_cmd.cmd")?,
            backend_id: r.i32("dnet_cmd.backend_id")?,
            trace_id: r.u64("dnet_cmd.trace_id")?,
            flags: CmdFlags::from_bits_retain(r.u64("dnet_cmd.flags")?),
            trans: r.u64("dnet_cmd.trans")?,
            size: r.u64("dnet_cmd.size")?,
        })
    }
}
