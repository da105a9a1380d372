//! ROUTE_LIST: every joined server (this node first), except the one asking.

use bytes::Bytes;
use elliptics::proto::{CmdFlags, Frame};

use super::encoded;
use crate::server::NodeState;
use crate::server::conn::ConnCtx;

/// Answers with the route list in one reply.
pub(super) fn handle(state: &NodeState, ctx: &ConnCtx, req: &Frame) -> Vec<Frame> {
    let mut h = req.reply_header(0, false);
    h.flags = h.flags.without(CmdFlags::DIRECT);
    let list = state.route_list(ctx.joined());
    vec![Frame::new(h, encoded(&list), Bytes::new())]
}
