//! Captures 01–12 of a real Elliptics 3.0.0.1 cluster and its stock C++ client: every
//! request frame the C++ client sent is rebuilt through our code path (session request
//! builders, proto request builders) and compared byte for byte, masking only `trans`,
//! the trace id, the WRITE timestamp and the 60 random id bytes of BACKEND_CONTROL. Every
//! server frame is decoded and the values the vectors README states are checked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::single_range_in_vec_init
)] // test helpers outside #[test] fns

mod common;

use bytes::Bytes;
use common::{DATA, KEY, capture_addr, load, masked, node_of, select, sent};
use elliptics::client::{SessionOptions, write_plan};
use elliptics::proto::capture::{self, Direction};
use elliptics::proto::{
    AddrContainer, BackendCommand, BackendControl, BackendStatusList, CmdFlags, Codec, Command,
    DnetTime, FileInfoReply, Frame, Id, IoAttr, IoFlags, NodeAnnouncement, ProtocolVersion,
    request,
};
use elliptics::stats::decode_monitor_payload;

const ALL: [&str; 12] = capture::OPERATIONS;
const TRACE: std::ops::Range<usize> = 88..96;
const WRITE_TS: std::ops::Range<usize> = 120 + 144..120 + 160;
const CAPTURED_TS: DnetTime = DnetTime {
    tsec: 1795302519,
    tnsec: 28051000,
};

fn key() -> Id {
    Id::from_key(b"", KEY)
}

fn ring(hex: &str) -> Id {
    Id::from_hex(hex).unwrap()
}

/// Our frame and the captured one agree outside the masked ranges.
fn assert_same(ours: &Frame, captured: &Frame, extra: &[std::ops::Range<usize>], what: &str) {
    let mut ranges = vec![TRACE];
    ranges.extend_from_slice(extra);
    assert_eq!(
        hex::encode(masked(ours, &ranges)),
        hex::encode(masked(captured, &ranges)),
        "{what}"
    );
}

/// Server replies of `cmd` in capture order.
fn replies(capture: &str, cmd: Command) -> Vec<Frame> {
    select(&load(capture), Direction::ToClient, cmd)
        .into_iter()
        .map(|f| f.frame)
        .collect()
}

#[test]
fn handshake_and_route_list_of_every_capture() {
    let s1_ids = [
        ring(
            "6c1fd61bb1f16f0dc6a26e4a3e5369fb39c6393835843907f6e7801bb275b2a90bc93282988c01fb60c288d3fa023e206c6e63f3f1a78e6978eea8eb03bba385",
        ),
        ring(
            "4046faff3eeadcc35b1327a760f4a3b85f11a29d673df2c28cb9bda9aaab5f9ec17d2b597645a631aedc29c54b4382ab3c550617212ea635935875399d1dcec9",
        ),
    ];
    for name in ALL {
        let frames = load(name);
        for f in select(&frames, Direction::ToServer, Command::ReverseLookup) {
            assert_eq!(
                f.raw,
                request::reverse_lookup(ProtocolVersion::V3_0).to_bytes(),
                "{name}"
            );
        }
        for f in select(&frames, Direction::ToClient, Command::ReverseLookup) {
            let fr = &f.frame;
            assert_eq!(fr.header.flags, CmdFlags(0x210));
            assert_eq!(
                ProtocolVersion::from_id(&fr.header.id.id),
                ProtocolVersion::V3_0
            );
            let ann: NodeAnnouncement = common::body(fr);
            assert_eq!(ann.addrs.node_addr_num, 1);
            assert_eq!(ann.addrs.addrs, vec![capture_addr(node_of(&f))], "{name}");
            let b = &ann.ids.backends;
            match node_of(&f) {
                0 => {
                    assert_eq!(fr.header.size, 204);
                    assert_eq!(
                        (b[0].backend_id, b[0].group_id, b[0].ids.clone()),
                        (1, 1, vec![s1_ids[0]])
                    );
                    assert_eq!(
                        (b[1].backend_id, b[1].group_id, b[1].ids.clone()),
                        (2, 2, vec![s1_ids[1]])
                    );
                }
                n => {
                    assert_eq!(fr.header.size, 124);
                    assert_eq!(b.len(), 1);
                    assert_eq!((b[0].backend_id, b[0].group_id), (1, n as u32));
                    assert_eq!(b[0].ids[0].0[0], [0x3b, 0xee][n - 1]);
                }
            }
        }
        let rl = sent(name, Command::RouteList);
        assert_eq!(rl.len(), 1);
        let mut ours = request::route_list();
        ours.header.trans = 1;
        assert_eq!(ours.to_bytes(), rl[0].to_bytes(), "{name}");
        let reply = &replies(name, Command::RouteList)[0];
        assert_eq!(reply.header.size, 104);
        let list: AddrContainer = common::body(reply);
        let mut addrs = list.node_addresses(0).unwrap();
        addrs.sort();
        assert_eq!(
            addrs,
            (0..3).map(capture_addr).collect::<Vec<_>>(),
            "{name}"
        );
    }
}

#[test]
fn write_01() {
    let opts = SessionOptions::default();
    let plan = write_plan(0, DATA.len() as u64, 4 << 20);
    assert_eq!(plan.len(), 1);
    let captured = sent("01-write-g1g2", Command::Write);
    // s2: group 1 backend 1; s1: group 2 backend 2.
    for (f, (group, backend)) in captured.iter().zip([(1, 1), (2, 2)]) {
        let ours = opts.write_frame(
            key(),
            group,
            backend,
            &plan[0],
            Bytes::from_static(DATA),
            DnetTime::now(),
        );
        assert_same(&ours, f, &[WRITE_TS], "WRITE");
        let io = IoAttr::decode_all(&f.payload[..208]).unwrap();
        assert_eq!(io.timestamp, CAPTURED_TS);
        assert_eq!(&f.payload[208..], DATA);
    }
    let r = replies("01-write-g1g2", Command::Write);
    // Reply order: s1 (group 2) first, then s2 (group 1).
    for (f, (node, offset, path)) in r.iter().zip([
        (0, 340, "/srv/ell/run/s1/b2/data/data-0.0"),
        (1, 144, "/srv/ell/run/s2/b1/data/data-0.0"),
    ]) {
        assert_eq!(
            (f.header.flags, f.header.size, f.header.status),
            (CmdFlags(0x200), 177, 0)
        );
        let info: FileInfoReply = common::body(f);
        assert_eq!(info.addr, capture_addr(node));
        assert_eq!(
            (info.info.size, info.info.offset, info.info.record_flags),
            (36, offset, 0x140)
        );
        assert_eq!((info.info.flen, info.path.as_str()), (33, path));
        assert_eq!(info.info.mtime, CAPTURED_TS);
        assert!(info.info.checksum.is_zero());
    }
}

fn read_reply(f: &Frame) -> (IoAttr, &[u8]) {
    (
        IoAttr::decode_all(&f.payload[..208]).unwrap(),
        &f.payload[208..],
    )
}

/// Our READ of `offset`/`size` from `backend` in `group` equals the first READ `capture`
/// sent; gives that capture's first READ reply.
fn read_exchange(
    capture: &str,
    (group, backend): (u32, i32),
    (offset, size): (u64, u64),
    what: &str,
) -> Frame {
    let ours = SessionOptions::default().read_frame(
        key(),
        group,
        backend,
        offset,
        size,
        IoFlags::default(),
    );
    assert_same(&ours, &sent(capture, Command::Read)[0], &[], what);
    replies(capture, Command::Read).swap_remove(0)
}

#[test]
fn read_02_03() {
    assert_eq!(sent("02-read-g1g2", Command::Read).len(), 1);
    let r = read_exchange("02-read-g1g2", (1, 1), (0, 0), "READ whole");
    assert_eq!(r.header.size, 244);
    let (io, data) = read_reply(&r);
    assert_eq!(
        (io.total_size, io.record_flags, io.offset, io.size),
        (36, 0x140, 0, 36)
    );
    assert_eq!(io.timestamp, CAPTURED_TS);
    assert_eq!(data, DATA);

    let r = read_exchange("03-read-range-g2", (2, 2), (10, 10), "READ range");
    assert_eq!(r.header.size, 218);
    let (io, data) = read_reply(&r);
    assert_eq!((io.total_size, io.offset, io.size), (36, 10, 10));
    assert_eq!(data, b"ABCDEFGHIJ");
}

#[test]
fn lookup_04() {
    let opts = SessionOptions::default();
    let c = sent("04-lookup-g1g2", Command::Lookup);
    assert_same(&opts.lookup_frame(key(), 1), &c[0], &[], "LOOKUP");
    assert_eq!(c[0].header.backend_id, 0);
    let r = &replies("04-lookup-g1g2", Command::Lookup)[0];
    assert_eq!((r.header.backend_id, r.header.size), (1, 177));
    let info: FileInfoReply = common::body(r);
    assert_eq!(
        (info.addr, info.info.size, info.info.offset),
        (capture_addr(1), 36, 144)
    );
    assert_eq!(info.path, "/srv/ell/run/s2/b1/data/data-0.0");
}

#[test]
fn monitor_stat_05_06() {
    for (name, cat, size, inflated_min) in [
        ("05-monitor-stat-all", u64::MAX, 3765, 28_000),
        ("06-monitor-stat-backend", 0x10, 888, 3_900),
    ] {
        let c = sent(name, Command::MonitorStat);
        assert_same(&request::monitor_stat(cat), &c[0], &[], name);
        let r = replies(name, Command::MonitorStat);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].header.flags, r[0].header.backend_id, r[0].header.size),
            (CmdFlags(0x21a), -1, size)
        );
        assert_eq!(&r[0].payload[..2], &[0x78, 0x9c]);
        assert_eq!(
            (r[1].header.flags, r[1].header.size, r[1].header.status),
            (CmdFlags(0x218), 0, 0)
        );
        let report = decode_monitor_payload(&r[0].payload, 1 << 20).unwrap();
        assert!(report.is_enabled(), "{name}");
        let stats = report.backend_stats();
        assert_eq!(stats.len(), 2, "{name}");
        let mut inflated = Vec::new();
        use std::io::Read;
        flate2::read::ZlibDecoder::new(&r[0].payload[..])
            .read_to_end(&mut inflated)
            .unwrap();
        assert!(inflated.len() >= inflated_min, "{name}: {}", inflated.len());
    }
}

#[test]
fn remove_07_and_errors_08_09() {
    let opts = SessionOptions::default();
    let c = sent("07-remove-g1g2", Command::Del);
    for (f, (g, b)) in c.iter().zip([(1, 1), (2, 2)]) {
        assert_same(&opts.remove_frame(key(), g, b), f, &[], "DEL");
    }
    for r in replies("07-remove-g1g2", Command::Del) {
        assert_eq!(
            (r.header.status, r.header.size, r.header.flags),
            (0, 0, CmdFlags(0x200))
        );
    }
    let c = sent("08-lookup-after-remove", Command::Lookup);
    assert_eq!(c.len(), 2, "group 1, then group 2");
    for (f, g) in c.iter().zip([1, 2]) {
        assert_same(&opts.lookup_frame(key(), g), f, &[], "LOOKUP");
    }
    let c = sent("09-read-after-remove", Command::Read);
    for (f, (g, b)) in c.iter().zip([(1, 1), (2, 2)]) {
        assert_same(
            &opts.read_frame(key(), g, b, 0, 0, IoFlags::default()),
            f,
            &[],
            "READ",
        );
    }
    for name in ["08-lookup-after-remove", "09-read-after-remove"] {
        let frames = load(name);
        let errs: Vec<Frame> = frames
            .iter()
            .filter(|f| f.dir == Direction::ToClient)
            .map(|f| f.frame.clone())
            .filter(|f| f.header.status != 0)
            .collect();
        assert_eq!(errs.len(), 2, "{name}");
        for e in errs {
            assert_eq!(
                (e.header.status, e.header.size, e.header.flags),
                (-2, 0, CmdFlags(0x200))
            );
        }
    }
}

#[test]
fn backend_control_10() {
    let c = sent("10-defrag-start-s1-b2", Command::BackendControl);
    let ctl = BackendControl::new(2, BackendCommand::StartDefrag);
    let ours = request::backend_control(&ctl, [0x5a; 60]);
    assert_same(&ours, &c[0], &[4..64], "BACKEND_CONTROL");
    assert_eq!(&c[0].header.id.id.0[..4], &[2, 0, 0, 0]);
    assert_eq!(common::body::<BackendControl>(&c[0]), ctl);
    let r = &replies("10-defrag-start-s1-b2", Command::BackendControl)[0];
    assert_eq!(
        (r.header.flags, r.header.backend_id, r.header.size),
        (CmdFlags(0x208), -1, 100)
    );
    let list: BackendStatusList = common::body(r);
    assert_eq!(list.backends.len(), 1);
    let b = list.backends[0];
    assert_eq!(
        (b.backend_id, b.state, b.defrag_state, b.read_only, b.delay),
        (2, 1, 1, false, 0)
    );
}

#[test]
fn backend_status_11_12() {
    for (name, payload, ids) in [
        ("11-backend-status-s1", 292, vec![1, 2]),
        ("12-backend-status-s2", 196, vec![1]),
    ] {
        let c = sent(name, Command::BackendStatus);
        assert_same(&request::backend_status(), &c[0], &[], name);
        let r = &replies(name, Command::BackendStatus)[0];
        assert_eq!(
            (r.header.flags, r.header.backend_id, r.header.size),
            (CmdFlags(0x208), -1, payload)
        );
        let list: BackendStatusList = common::body(r);
        assert_eq!(
            list.backends
                .iter()
                .map(|b| b.backend_id)
                .collect::<Vec<_>>(),
            ids,
            "{name}"
        );
        assert!(
            list.backends
                .iter()
                .all(|b| b.state == 1 && b.defrag_state == 0)
        );
        // The unused trailing slots are zero.
        let used = 4 + 96 * ids.len();
        assert!(r.payload[used..].iter().all(|b| *b == 0));
    }
}

/// Every frame of every capture (00 included) decodes, and its payload decodes exactly
/// as the structure its command and direction carry.
#[test]
fn every_frame_of_every_capture_decodes() {
    use elliptics::proto::{AuthRequest, MonitorStatRequest};
    let mut names: Vec<&str> = ALL.to_vec();
    names.insert(0, "00-cluster-startup");
    let mut n = 0;
    for name in names {
        for cf in load(name) {
            let f = Frame::decode_exact(&cf.raw).unwrap();
            assert_eq!(f.to_bytes(), cf.raw, "{name}: re-encodes");
            let cmd = f.header.command().unwrap();
            assert_eq!(cmd.name().replace("REMOVE", "DEL"), cf.command, "{name}");
            let p = &f.payload[..];
            let ok = match (cf.dir, cmd) {
                (_, _) if p.is_empty() => true,
                (Direction::ToClient, Command::ReverseLookup)
                | (Direction::ToServer, Command::Join) => NodeAnnouncement::decode_all(p).is_ok(),
                (Direction::ToClient, Command::RouteList) => AddrContainer::decode_all(p).is_ok(),
                (Direction::ToClient, Command::Write | Command::Lookup) => {
                    FileInfoReply::decode_all(p).is_ok()
                }
                (_, Command::Read | Command::Write | Command::Del) => {
                    let io = IoAttr::decode_all(&p[..208]).unwrap();
                    io.size == (p.len() - 208) as u64
                        || cf.dir == Direction::ToServer && cmd != Command::Write
                }
                (Direction::ToClient, Command::MonitorStat) => {
                    decode_monitor_payload(p, 1 << 20).is_ok()
                }
                (Direction::ToServer, Command::MonitorStat) => {
                    MonitorStatRequest::decode_all(p).is_ok()
                }
                (Direction::ToServer, Command::BackendControl) => {
                    BackendControl::decode_all(p).is_ok()
                }
                (Direction::ToClient, Command::BackendControl | Command::BackendStatus) => {
                    BackendStatusList::decode_all(p).is_ok()
                }
                (Direction::ToServer, Command::Auth) => {
                    AuthRequest::decode_all(p).is_ok_and(|a| a.cookie.starts_with(b"qwerty\0"))
                }
                _ => false,
            };
            assert!(
                ok,
                "{name}: {:?} {cmd:?} payload of {} bytes",
                cf.dir,
                p.len()
            );
            n += 1;
        }
    }
    assert!(n > 150, "{n} frames");
}
