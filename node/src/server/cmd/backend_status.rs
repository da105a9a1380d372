//! BACKEND_STATUS: the state of every backend of this node, one slot per backend id up to
//! the largest.

use bytes::Bytes;
use elliptics::proto::{BackendStatusList, Frame};

use super::{NODE_LEVEL, reply};
use crate::server::NodeState;

/// Replies with the backend status list in one reply.
pub(super) fn handle(state: &NodeState, req: &Frame) -> Vec<Frame> {
    let list = BackendStatusList {
        backends: state.backends.values().map(|b| b.status()).collect(),
    };
    let slots = state.backends.keys().max().map_or(0, |m| *m as usize + 1);
    let mut body = Vec::new();
    list.encode_with_slots(slots, &mut body);
    vec![reply(
        req,
        false,
        NODE_LEVEL,
        Bytes::from(body),
        Bytes::new(),
    )]
}
