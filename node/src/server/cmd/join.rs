//! JOIN: a server peer announces its address; it becomes part of this node's route list
//! for as long as the connection lasts. A malformed JOIN closes the connection.

use elliptics::proto::{Frame, NodeAnnouncement};

use crate::server::NodeState;
use crate::server::conn::ConnCtx;

/// Records the peer; JOIN has no reply.
pub(super) fn handle(state: &NodeState, ctx: &ConnCtx, req: &Frame) -> Vec<Frame> {
    match req.body::<NodeAnnouncement>() {
        Ok(a) => match a.addrs.addrs.first() {
            Some(addr) if !addr.is_empty() => {
                if let Some(old) = ctx.set_joined(*addr) {
                    state.remove_peer(old);
                }
                state.add_peer(*addr);
                tracing::info!(peer = %addr, backends = a.ids.backends.len(), "peer joined");
                Vec::new()
            }
            _ => {
                let _ = ctx.close.send(true);
                Vec::new()
            }
        },
        Err(e) => {
            tracing::warn!(peer = %ctx.peer, error = %e, "bad JOIN, closing");
            let _ = ctx.close.send(true);
            Vec::new()
        }
    }
}
