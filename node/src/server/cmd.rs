//! Request handling, one file per command under `cmd/` (as mini-redis keeps its `cmd/`):
//! this module dispatches a request to its handler, counts it, and builds the reply frames
//! every handler shares. Each handler returns the exact reply sequence a real Elliptics
//! node sends (single reply without MORE for WRITE/READ/LOOKUP success, forced final ACK
//! carrying the errno on any failure, MORE + ACK for MONITOR_STAT, ...).

mod auth;
mod backend_control;
mod backend_status;
mod data;
pub(crate) mod iterator;
mod join;
mod lookup;
mod monitor_stat;
mod read;
mod remove;
mod reverse_lookup;
mod route_list;
mod status;
mod write;

use std::time::Instant;

use bytes::Bytes;
use elliptics::proto::errno::code;
use elliptics::proto::{Codec, Command, Frame};

use super::NodeState;
use super::conn::ConnCtx;

/// Backend id put in replies to node-level commands.
const NODE_LEVEL: i32 = -1;

/// Handles one request and returns the frames to send back, in order.
pub(super) async fn handle(state: &NodeState, ctx: &ConnCtx, req: Frame) -> Vec<Frame> {
    if req.header.is_reply() {
        // Replies only travel on our outgoing peer links; nothing to do here.
        return Vec::new();
    }
    let started = Instant::now();
    let outside = req.header.trans != 0;
    let cmd = req.header.cmd;
    let (replies, bytes) = match req.header.command() {
        Some(Command::ReverseLookup) => (reverse_lookup::handle(state, ctx, &req), 0),
        Some(Command::RouteList) => (route_list::handle(state, ctx, &req), 0),
        Some(Command::Join) => (join::handle(state, ctx, &req), 0),
        Some(Command::Auth) => (auth::handle(state, &req), 0),
        Some(Command::UpdateIds) => (Vec::new(), 0),
        Some(Command::Status) => (status::handle(state, &req), 0),
        Some(Command::MonitorStat) => (monitor_stat::handle(state, &req).await, 0),
        Some(Command::BackendStatus) => (backend_status::handle(state, &req), 0),
        Some(Command::BackendControl) => (backend_control::handle(state, &req).await, 0),
        Some(c @ (Command::Write | Command::Read | Command::Lookup | Command::Del)) => {
            data::handle(state, c, &req).await
        }
        Some(Command::Iterator) => iterator::handle(state, ctx, &req).await,
        _ => (vec![ack(&req, code::EOPNOTSUPP, NODE_LEVEL)], 0),
    };
    let ok = replies.last().is_none_or(|f| f.header.status == 0);
    state
        .counters
        .record(cmd, outside, ok, bytes, started.elapsed());
    replies
}

/// The final ACK: request flags minus NEED_ACK and MORE, plus REPLY, no payload.
fn ack(req: &Frame, status: i32, backend_id: i32) -> Frame {
    let mut h = req.reply_header(status, false);
    h.backend_id = backend_id;
    Frame::bare(h)
}

/// A data reply: request flags minus NEED_ACK, plus REPLY (and MORE when `more`).
fn reply(req: &Frame, more: bool, backend_id: i32, payload: Bytes, data: Bytes) -> Frame {
    let mut h = req.reply_header(0, more);
    h.backend_id = backend_id;
    Frame::new(h, payload, data)
}

/// The wire encoding of a reply body.
fn encoded(v: &impl Codec) -> Bytes {
    Bytes::from(v.to_vec())
}
