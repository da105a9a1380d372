//! MONITOR_STAT: the statistics document of the requested categories (built by
//! [`crate::server::monitor`]) in one MORE reply, then the final ACK.

use bytes::Bytes;
use elliptics::proto::errno::code;
use elliptics::proto::{Frame, MonitorStatRequest};

use super::{NODE_LEVEL, ack, reply};
use crate::server::{NodeState, monitor};

/// Replies with the statistics, or acknowledges with EINVAL (malformed request) or EIO.
pub(super) async fn handle(state: &NodeState, req: &Frame) -> Vec<Frame> {
    let Ok(r) = req.body::<MonitorStatRequest>() else {
        return vec![ack(req, code::EINVAL, NODE_LEVEL)];
    };
    match monitor::report_payload(state, r.categories).await {
        Ok(payload) => vec![
            reply(req, true, NODE_LEVEL, Bytes::from(payload), Bytes::new()),
            ack(req, 0, NODE_LEVEL),
        ],
        Err(e) => {
            tracing::warn!(error = %e, "building statistics failed");
            vec![ack(req, code::EIO, NODE_LEVEL)]
        }
    }
}
