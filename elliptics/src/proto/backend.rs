//! Backend control and status: `dnet_backend_control` (BACKEND_CONTROL requests) and
//! `dnet_backend_status_list` (BACKEND_STATUS and BACKEND_CONTROL replies).
//!
//! ```text
//! dnet_backend_control (72 + 64n bytes, packed)
//!   0  backend_id u32 | 4 command u32 | 8 reserved[13] u32 | 60 defrag_level u32
//!  64  delay u32 (ms) | 68 ids_count u32 | 72 ids[64 × n]
//!
//! dnet_backend_status_list       backends_count u32, then 96-byte entries; real servers
//!                                size the payload for (max backend id + 1) slots and
//!                                zero the unused tail
//! dnet_backend_status (96 bytes, packed)
//!   0  backend_id u32 | 4 state i32 | 8 defrag_state u32 | 12 last_start dnet_time
//!  28  last_start_err i32 | 32 read_only u8 | 33 reserved[7] | 40 delay u32
//!  44  reserved1 u32 | 48 reserved2[6] u64
//! ```

use bytes::BufMut;

use super::codec::{Codec, DecodeError, Reader, decode_list, encode_list};
use super::id::{ID_SIZE, Id};
use super::io_attr::DnetTime;

/// `dnet_backend_command`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
#[allow(missing_docs)]
pub enum BackendCommand {
    Enable = 0,
    Disable = 1,
    StartDefrag = 2,
    SetIds = 3,
    ReadOnly = 4,
    Writeable = 5,
    /// Set the artificial per-operation delay.
    Ctl = 6,
    StopDefrag = 7,
}

impl BackendCommand {
    /// The command with wire number `n`.
    pub fn from_u32(n: u32) -> Option<Self> {
        use BackendCommand::*;
        Some(match n {
            0 => Enable,
            1 => Disable,
            2 => StartDefrag,
            3 => SetIds,
            4 => ReadOnly,
            5 => Writeable,
            6 => Ctl,
            7 => StopDefrag,
            _ => return None,
        })
    }
}

/// `dnet_backend_state`.
pub mod backend_state {
    /// Not initialised.
    pub const UNINITIALIZED: i32 = -1;
    /// Disabled.
    pub const DISABLED: i32 = 0;
    /// Enabled and serving.
    pub const ENABLED: i32 = 1;
    /// Starting.
    pub const ACTIVATING: i32 = 2;
    /// Stopping.
    pub const DEACTIVATING: i32 = 3;
}

/// Defragmentation states reported in `defrag_state`.
pub mod defrag_state {
    /// Not running.
    pub const NOT_STARTED: u32 = 0;
    /// Data sort (defragmentation) in progress.
    pub const IN_PROGRESS: u32 = 1;
    /// Index sort in progress.
    pub const INDEX_SORT: u32 = 2;
    /// Compaction in progress.
    pub const COMPACT: u32 = 3;
}

/// `dnet_backend_control`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendControl {
    /// Target backend.
    pub backend_id: u32,
    /// Raw command number (see [`BackendCommand`]).
    pub command: u32,
    /// Defrag level: 0 full, 1 compact.
    pub defrag_level: u32,
    /// Delay in ms (CTL).
    pub delay: u32,
    /// New ring ids (SET_IDS).
    pub ids: Vec<Id>,
}

impl BackendControl {
    /// A control request without ids.
    pub fn new(backend_id: u32, command: BackendCommand) -> Self {
        Self {
            backend_id,
            command: command as u32,
            defrag_level: 0,
            delay: 0,
            ids: Vec::new(),
        }
    }
}

impl Codec for BackendControl {
    fn encode(&self, out: &mut impl BufMut) {
        out.put_u32_le(self.backend_id);
        out.put_u32_le(self.command);
        out.put_bytes(0, 52);
        out.put_u32_le(self.defrag_level);
        out.put_u32_le(self.delay);
        out.put_u32_le(self.ids.len() as u32);
        encode_list(&self.ids, out);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let backend_id = r.u32("backend_control.backend_id")?;
        let command = r.u32("backend_control.command")?;
        r.take(52, "backend_control.reserved")?;
        let defrag_level = r.u32("backend_control.defrag_level")?;
        let delay = r.u32("backend_control.delay")?;
        let count = r.u32("backend_control.ids_count")?;
        let ids = decode_list::<Id>(r, count.into(), ID_SIZE, "backend_control.ids_count")?;
        Ok(Self {
            backend_id,
            command,
            defrag_level,
            delay,
            ids,
        })
    }
}

/// `dnet_backend_status`: one backend's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BackendStatus {
    /// Backend id.
    pub backend_id: u32,
    /// [`backend_state`] value.
    pub state: i32,
    /// [`defrag_state`] value.
    pub defrag_state: u32,
    /// When the backend was last started.
    pub last_start: DnetTime,
    /// Error of the last start.
    pub last_start_err: i32,
    /// Read-only mode.
    pub read_only: bool,
    /// Artificial delay in ms.
    pub delay: u32,
}

impl BackendStatus {
    /// Encoded size of one entry.
    pub const SIZE: usize = 96;
}

impl Codec for BackendStatus {
    fn encode(&self, out: &mut impl BufMut) {
        out.put_u32_le(self.backend_id);
        out.put_i32_le(self.state);
        out.put_u32_le(self.defrag_state);
        self.last_start.encode(out);
        out.put_i32_le(self.last_start_err);
        out.put_u8(u8::from(self.read_only));
        out.put_bytes(0, 7);
        out.put_u32_le(self.delay);
        out.put_u32_le(0);
        out.put_bytes(0, 48);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let backend_id = r.u32("backend_status.backend_id")?;
        let state = r.i32("backend_status.state")?;
        let defrag_state = r.u32("backend_status.defrag_state")?;
        let last_start = DnetTime::decode(r)?;
        let last_start_err = r.i32("backend_status.last_start_err")?;
        let read_only = r.u8("backend_status.read_only")? != 0;
        r.take(7, "backend_status.reserved_flags")?;
        let delay = r.u32("backend_status.delay")?;
        r.take(4 + 48, "backend_status.reserved")?;
        Ok(Self {
            backend_id,
            state,
            defrag_state,
            last_start,
            last_start_err,
            read_only,
            delay,
        })
    }
}

/// `dnet_backend_status_list`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackendStatusList {
    /// Valid entries.
    pub backends: Vec<BackendStatus>,
}

impl BackendStatusList {
    /// Encodes like a real server: the payload holds `slots` entries (at least the number
    /// of backends), the unused ones zeroed. BACKEND_STATUS replies use
    /// `max backend id + 1` slots; BACKEND_CONTROL replies exactly one.
    pub fn encode_with_slots(&self, slots: usize, out: &mut impl BufMut) {
        out.put_u32_le(self.backends.len() as u32);
        encode_list(&self.backends, out);
        let pad = slots.saturating_sub(self.backends.len());
        out.put_bytes(0, pad * BackendStatus::SIZE);
    }
}

impl Codec for BackendStatusList {
    fn encode(&self, out: &mut impl BufMut) {
        self.encode_with_slots(self.backends.len(), out);
    }

    /// Reads `backends_count` entries and consumes (ignores) any zero-padded slots that
    /// follow.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = r.u32("backend_status_list.backends_count")?;
        let backends = decode_list::<BackendStatus>(
            r,
            count.into(),
            BackendStatus::SIZE,
            "backend_status_list.backends_count",
        )?;
        r.rest();
        Ok(Self { backends })
    }
}
