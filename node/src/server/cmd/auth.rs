//! AUTH: checks the cluster cookie (any cookie is accepted when none is configured).

use elliptics::proto::errno::code;
use elliptics::proto::{AuthRequest, Frame};

use super::{NODE_LEVEL, ack};
use crate::server::NodeState;

/// Acknowledges with 0, EPERM (wrong cookie) or EINVAL (malformed request).
pub(super) fn handle(state: &NodeState, req: &Frame) -> Vec<Frame> {
    let status = match req.body::<AuthRequest>() {
        Err(_) => code::EINVAL,
        Ok(a)
            if !state.config.auth_cookie.is_empty()
                && a.cookie != AuthRequest::new(&state.config.auth_cookie).cookie =>
        {
            code::EPERM
        }
        Ok(_) => 0,
    };
    vec![ack(req, status, NODE_LEVEL)]
}
