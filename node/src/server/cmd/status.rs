//! STATUS: node flags, read-only when every backend is.

use bytes::Bytes;
use elliptics::proto::{Frame, NodeStatus};

use super::{NODE_LEVEL, ack, encoded, reply};
use crate::server::NodeState;

/// `status_flags` bit of a read-only node (`DNET_STATUS_RO`).
const STATUS_READ_ONLY: i32 = 0x2;

/// Replies with the node status (MORE), then the final ACK.
pub(super) fn handle(state: &NodeState, req: &Frame) -> Vec<Frame> {
    let ro = state.backends.values().all(|b| b.store.is_read_only());
    let st = NodeStatus {
        nflags: 0,
        status_flags: if ro { STATUS_READ_ONLY } else { 0 },
        log_level: 2,
    };
    vec![
        reply(req, true, NODE_LEVEL, encoded(&st), Bytes::new()),
        ack(req, 0, NODE_LEVEL),
    ]
}
