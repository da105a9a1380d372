//! The sans-IO Elliptics wire protocol: every structure of the commands Backrunner uses,
//! encoded and decoded with exact byte layouts (little-endian, packed, big-endian port and
//! address inside sockaddrs), frames, and the request builders of the stock client.
//! No tokio here; the node and the client both build on it.

pub mod addr;
pub mod backend;
#[cfg(any(test, feature = "capture"))]
pub mod capture;
pub mod codec;
pub mod control;
pub mod errno;
pub mod file_info;
pub mod frame;
pub mod header;
pub mod id;
pub mod io_attr;
pub mod iterator;
pub mod request;
pub mod routes;

pub use addr::{AddrContainer, NodeAddr};
pub use backend::{BackendCommand, BackendControl, BackendStatus, BackendStatusList};
pub use codec::{Codec, DecodeError, Reader};
pub use control::{AuthRequest, MonitorStatRequest, NodeStatus};
pub use file_info::{FileInfo, FileInfoReply};
pub use frame::{Frame, FrameDecoder};
pub use header::{CmdFlags, Command, Header};
pub use id::{GroupId, ID_SIZE, Id, ProtocolVersion};
pub use io_attr::{DnetTime, IoAttr, IoFlags, record_flags};
pub use iterator::{
    IteratorAction, IteratorFlags, IteratorRange, IteratorRequest, IteratorResponse, IteratorType,
};
pub use routes::{BACKEND_DISABLE, BackendIds, IdContainer, NodeAnnouncement};

/// Default cap on a frame payload: Backrunner sends at most 10 MiB + 208 bytes per
/// request, so 64 MiB leaves ample room while keeping hostile sizes out.
pub const DEFAULT_MAX_PAYLOAD: u64 = 64 << 20;
