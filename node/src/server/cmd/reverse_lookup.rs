//! REVERSE_LOOKUP, the handshake: checks the protocol version, answers with this node's
//! address and backend ids, and subscribes the connection to UPDATE_IDS pushes.

use bytes::Bytes;
use elliptics::proto::errno::code;
use elliptics::proto::{CmdFlags, Frame, ProtocolVersion};

use super::{ack, encoded};
use crate::server::NodeState;
use crate::server::conn::ConnCtx;

/// Answers the handshake, or closes the connection on a protocol version mismatch.
pub(super) fn handle(state: &NodeState, ctx: &ConnCtx, req: &Frame) -> Vec<Frame> {
    let theirs = ProtocolVersion::from_id(req.header.key());
    let ours = state.config.version;
    if !ours.compatible(&theirs) {
        tracing::warn!(peer = %ctx.peer, %theirs, %ours, "protocol version mismatch, closing");
        let _ = ctx.close.send(true);
        return vec![ack(req, code::EPROTO, 0)];
    }
    let mut h = req.reply_header(0, false);
    h.flags = h.flags.without(CmdFlags::DIRECT);
    h.id.id = ours.to_id();
    if h.id.group_id == 0 {
        h.id.group_id = state.backends.get(&0).map_or(0, |b| b.group);
    }
    let body = encoded(&state.announcement());
    state.subscribe(ctx.id, ctx.tx.clone());
    vec![Frame::new(h, body, Bytes::new())]
}
