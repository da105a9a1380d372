//! Small node-level request bodies: `dnet_monitor_stat_request` (MONITOR_STAT),
//! `dnet_node_status` (STATUS and the stall ping) and `dnet_auth` (server-to-server AUTH).
//!
//! ```text
//! dnet_monitor_stat_request (44 bytes, packed)   categories u64, reserved i32, reserved[4] u64
//! dnet_node_status (12 bytes)                    nflags i32, status_flags i32, log_level u32
//! dnet_auth (64 bytes)                           cookie[32], flags u64, unused[3] u64
//! ```

use bytes::BufMut;

use super::codec::{Codec, DecodeError, Reader};

/// `dnet_monitor_stat_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MonitorStatRequest {
    /// Category bitmask (see `stats::MonitorCategories`).
    pub categories: u64,
}

impl MonitorStatRequest {
    /// Encoded size (exactly; servers answer -EINVAL otherwise).
    pub const SIZE: usize = 44;
}

impl Codec for MonitorStatRequest {
    fn encode(&self, out: &mut impl BufMut) {
        out.put_u64_le(self.categories);
        out.put_i32_le(0);
        out.put_bytes(0, 32);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let categories = r.u64("monitor_stat_request.categories")?;
        r.take(36, "monitor_stat_request.reserved")?;
        Ok(Self { categories })
    }
}

/// `dnet_node_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeStatus {
    /// Node config flags (-1 = no change).
    pub nflags: i32,
    /// Status flags: 0x1 exit, 0x2 read-only (-1 = no change).
    pub status_flags: i32,
    /// Log level (u32::MAX = no change).
    pub log_level: u32,
}

impl NodeStatus {
    /// Encoded size.
    pub const SIZE: usize = 12;
    /// The "change nothing" status the C client sends as a ping.
    pub const PING: NodeStatus = NodeStatus {
        nflags: -1,
        status_flags: -1,
        log_level: u32::MAX,
    };
}

impl Codec for NodeStatus {
    fn encode(&self, out: &mut impl BufMut) {
        out.put_i32_le(self.nflags);
        out.put_i32_le(self.status_flags);
        out.put_u32_le(self.log_level);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            nflags: r.i32("node_status.nflags")?,
            status_flags: r.i32("node_status.status_flags")?,
            log_level: r.u32("node_status.log_level")?,
        })
    }
}

/// `dnet_auth`: the cluster cookie servers exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthRequest {
    /// NUL-padded cookie (at most 31 bytes of text).
    pub cookie: [u8; 32],
    /// Flags, 0.
    pub flags: u64,
}

impl AuthRequest {
    /// Encoded size.
    pub const SIZE: usize = 64;

    /// A request carrying `cookie`, truncated to 31 bytes.
    pub fn new(cookie: &str) -> Self {
        let mut c = [0u8; 32];
        let b = cookie.as_bytes();
        let n = b.len().min(31);
        c[..n].copy_from_slice(&b[..n]);
        Self {
            cookie: c,
            flags: 0,
        }
    }
}

impl Codec for AuthRequest {
    fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(&self.cookie);
        out.put_u64_le(self.flags);
        out.put_bytes(0, 24);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let cookie = r.array("auth.cookie")?;
        let flags = r.u64("auth.flags")?;
        r.take(24, "auth.unused")?;
        Ok(Self { cookie, flags })
    }
}
