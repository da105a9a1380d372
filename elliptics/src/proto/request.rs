//! Request frames exactly as the stock C++ client builds them (flags, ids, backend ids,
//! io attributes). The connection fills in `trans`; sessions fill in the trace id.
//! Every builder here is checked byte for byte against the captures in
//! `tests/vectors/`, except ITERATOR, which the stock tools cannot send (see
//! [`iterator`]).

use bytes::Bytes;

use super::backend::BackendControl;
use super::codec::Codec;
use super::control::{MonitorStatRequest, NodeStatus};
use super::frame::Frame;
use super::header::{CmdFlags, Command, Header};
use super::id::{GroupId, Id, ProtocolVersion};
use super::io_attr::IoAttr;
use super::iterator::IteratorRequest;

/// REVERSE_LOOKUP handshake: version in the id, `DIRECT|NOLOCK`, trans 0.
pub fn reverse_lookup(version: ProtocolVersion) -> Frame {
    let mut h = Header::new(Command::ReverseLookup);
    h.id.id = version.to_id();
    h.flags = CmdFlags::DIRECT | CmdFlags::NOLOCK;
    Frame::bare(h)
}

/// ROUTE_LIST: `NEED_ACK|DIRECT|NOLOCK`, zero id.
pub fn route_list() -> Frame {
    let mut h = Header::new(Command::RouteList);
    h.flags = CmdFlags::NEED_ACK | CmdFlags::DIRECT | CmdFlags::NOLOCK;
    Frame::bare(h)
}

/// LOOKUP of `key` (the C++ client sends backend 0 here).
pub fn lookup(key: GroupId, cflags: CmdFlags) -> Frame {
    let mut h = Header::new(Command::Lookup);
    h.id = key;
    h.flags = CmdFlags::NEED_ACK | cflags;
    Frame::bare(h)
}

fn io_frame(
    cmd: Command,
    key: GroupId,
    backend: i32,
    cflags: CmdFlags,
    io: &IoAttr,
    data: Bytes,
) -> Frame {
    let mut h = Header::new(cmd);
    h.id = key;
    h.backend_id = backend;
    h.flags = CmdFlags::NEED_ACK | cflags;
    Frame::new(h, Bytes::from(io.to_vec()), data)
}

/// WRITE of `data` with the given io attributes (`io.size` is set from `data`).
pub fn write(key: GroupId, backend: i32, cflags: CmdFlags, io: &IoAttr, data: Bytes) -> Frame {
    let mut io = *io;
    io.size = data.len() as u64;
    io_frame(Command::Write, key, backend, cflags, &io, data)
}

/// READ described by `io` (`offset`, `size`, `flags`).
pub fn read(key: GroupId, backend: i32, cflags: CmdFlags, io: &IoAttr) -> Frame {
    io_frame(Command::Read, key, backend, cflags, io, Bytes::new())
}

/// DEL of `key`.
pub fn del(key: GroupId, backend: i32, cflags: CmdFlags, io: &IoAttr) -> Frame {
    io_frame(Command::Del, key, backend, cflags, io, Bytes::new())
}

/// The io attributes of a READ or DEL of `id`: `parent = id = key`.
pub fn io_for(id: Id) -> IoAttr {
    IoAttr {
        parent: id,
        id,
        ..IoAttr::default()
    }
}

/// MONITOR_STAT for `categories`: `NEED_ACK|DIRECT|NOLOCK`, zero id.
pub fn monitor_stat(categories: u64) -> Frame {
    let mut h = Header::new(Command::MonitorStat);
    h.flags = CmdFlags::NEED_ACK | CmdFlags::DIRECT | CmdFlags::NOLOCK;
    Frame::with_body(h, &MonitorStatRequest { categories })
}

/// BACKEND_CONTROL: `NEED_ACK|DIRECT`; the id carries the backend id in its first four
/// bytes and `spread` (random bytes, to spread requests over server threads) in the rest.
pub fn backend_control(ctl: &BackendControl, spread: [u8; 60]) -> Frame {
    let mut h = Header::new(Command::BackendControl);
    h.id.id.0[..4].copy_from_slice(&ctl.backend_id.to_le_bytes());
    h.id.id.0[4..].copy_from_slice(&spread);
    h.flags = CmdFlags::NEED_ACK | CmdFlags::DIRECT;
    Frame::with_body(h, ctl)
}

/// BACKEND_STATUS: `NEED_ACK|DIRECT`, no payload.
pub fn backend_status() -> Frame {
    let mut h = Header::new(Command::BackendStatus);
    h.flags = CmdFlags::NEED_ACK | CmdFlags::DIRECT;
    Frame::bare(h)
}

/// The stall ping of the C client: BACKEND_STATUS carrying a "change nothing"
/// `dnet_node_status`.
pub fn ping() -> Frame {
    let mut h = Header::new(Command::BackendStatus);
    h.flags = CmdFlags::NEED_ACK | CmdFlags::DIRECT;
    Frame::with_body(h, &NodeStatus::PING)
}

/// ITERATOR (START, PAUSE, CONTINUE or CANCEL, §10): `NEED_ACK|NOLOCK` plus `cflags`
/// (`DIRECT|DIRECT_BACKEND` to name the backend in `backend`), addressed to `key` (the
/// backend owning that id in its group serves it unless DIRECT_BACKEND says otherwise).
///
/// Not captured from the stock client (`dnet_ioclient` has no iterator command): the
/// layout follows `dnet_iterator_request` and is checked against the real server by
/// `tests/integration/iterator.rs`.
pub fn iterator(key: GroupId, backend: i32, cflags: CmdFlags, req: &IteratorRequest) -> Frame {
    let mut h = Header::new(Command::Iterator);
    h.id = key;
    h.backend_id = backend;
    h.flags = CmdFlags::NEED_ACK | CmdFlags::NOLOCK | cflags;
    Frame::with_body(h, req)
}
