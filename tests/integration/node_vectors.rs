//! Our node against the captures of a real Elliptics 3.0.0.1 cluster: the captured client
//! requests are sent to our node over a socket, and its replies must have the shape,
//! flags, fields and layout of the captured replies, differing only in values that depend
//! on the run (addresses, paths, blob offsets, statistics).
//!
//! The node mirrors the captured server s1 (backend 1 in group 1, backend 2 in group 2,
//! the same ring ids, protocol 3.0.0.1), so requests captured towards s2 and s3 are
//! served by it too.

use backrunner_node::Node;
use backrunner_tests::capture::{CapturedFrame, Direction, OPERATIONS, load};
use backrunner_tests::{BackendSpec, node_config};
use bytes::BytesMut;
use elliptics::proto::{
    AddrContainer, BackendStatusList, Codec, Command, FileInfoReply, Frame, FrameDecoder, IoAttr,
    NodeAnnouncement,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const S1_RING: [&str; 2] = [
    "6c1fd61bb1f16f0dc6a26e4a3e5369fb39c6393835843907f6e7801bb275b2a90bc93282988c01fb60c288d3fa023e206c6e63f3f1a78e6978eea8eb03bba385",
    "4046faff3eeadcc35b1327a760f4a3b85f11a29d673df2c28cb9bda9aaab5f9ec17d2b597645a631aedc29c54b4382ab3c550617212ea635935875399d1dcec9",
];

async fn next_frame(sock: &mut TcpStream, dec: &mut FrameDecoder, buf: &mut BytesMut) -> Frame {
    loop {
        if let Some(f) = dec.decode(buf).expect("node sends valid frames") {
            return f;
        }
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), sock.read_buf(buf))
            .await
            .expect("node answers in time")
            .expect("read");
        assert!(n > 0, "node closed the connection");
    }
}

/// Compares one of our replies with the captured one.
fn compare(capture: &str, ours: &Frame, theirs: &Frame) {
    let (o, t) = (&ours.header, &theirs.header);
    let ctx = format!("{capture}: {:?} trans {}", theirs.header.command(), t.trans);
    assert_eq!(o.cmd, t.cmd, "{ctx}: cmd");
    assert_eq!(o.status, t.status, "{ctx}: status");
    assert_eq!(o.flags, t.flags, "{ctx}: flags");
    assert_eq!(o.trans, t.trans, "{ctx}: trans");
    assert_eq!(o.trace_id, t.trace_id, "{ctx}: trace id");
    assert_eq!(o.id.group_id, t.id.group_id, "{ctx}: group");
    assert_eq!(o.backend_id, t.backend_id, "{ctx}: backend id");
    if t.command() != Some(Command::ReverseLookup) {
        assert_eq!(o.id.id, t.id.id, "{ctx}: id");
    }
    match t.command() {
        Some(Command::ReverseLookup) => {
            assert_eq!(o.id.id.0[..16], t.id.id.0[..16], "{ctx}: version");
            let a: NodeAnnouncement = ours.body().expect("announcement decodes");
            assert_eq!(a.addrs.node_addr_num, 1);
            assert_eq!(a.ids.backends.len(), 2);
            let b: NodeAnnouncement = theirs.body().unwrap();
            if b.ids.backends.len() == 2 {
                assert_eq!(a.ids, b.ids, "{ctx}: ids of s1");
                assert_eq!(ours.payload.len(), theirs.payload.len(), "{ctx}: size");
            }
        }
        Some(Command::RouteList) => {
            let a: AddrContainer = ours.body().expect("route list decodes");
            assert_eq!(a.node_addr_num, 1);
            assert!(!a.addrs.is_empty());
        }
        Some(Command::Write | Command::Lookup) if t.size > 0 => {
            let a: FileInfoReply = ours.body().expect("file info decodes");
            let b: FileInfoReply = theirs.body().unwrap();
            assert_eq!(a.info.size, b.info.size, "{ctx}: size");
            assert_eq!(a.info.mtime, b.info.mtime, "{ctx}: mtime");
            assert_eq!(
                a.info.checksum, b.info.checksum,
                "{ctx}: checksum (zero unless asked)"
            );
            assert_eq!(
                a.info.record_flags, b.info.record_flags,
                "{ctx}: record flags"
            );
            assert!(
                std::path::Path::new(&a.path).exists(),
                "{ctx}: path {} exists",
                a.path
            );
        }
        Some(Command::Read) if t.size > 0 => {
            // Same data, same stored timestamp: the reply is byte-identical.
            let a = IoAttr::decode_all(&ours.payload[..IoAttr::SIZE]).unwrap();
            let b = IoAttr::decode_all(&theirs.payload[..IoAttr::SIZE]).unwrap();
            assert_eq!(a, b, "{ctx}: io attr");
            assert_eq!(ours.payload, theirs.payload, "{ctx}: payload");
        }
        Some(Command::MonitorStat) if t.size > 0 => {
            let r = elliptics::stats::decode_monitor_payload(&ours.payload, 16 << 20)
                .expect("our statistics decode");
            assert_eq!(r.monitor_status, "enabled");
            if t.size > 1000 {
                assert_backrunner_fields(&ours.payload);
            }
            assert_eq!(r.backends.as_ref().map(|b| b.len()), Some(2));
        }
        Some(Command::BackendStatus | Command::BackendControl) => {
            assert_eq!(
                ours.payload.len(),
                theirs.payload.len(),
                "{ctx}: padded size"
            );
            let a: BackendStatusList = ours.body().unwrap();
            let b: BackendStatusList = theirs.body().unwrap();
            assert_eq!(a.backends.len(), b.backends.len(), "{ctx}: count");
            for (x, y) in a.backends.iter().zip(&b.backends) {
                assert_eq!(
                    (x.backend_id, x.state, x.read_only, x.delay),
                    (y.backend_id, y.state, y.read_only, y.delay),
                    "{ctx}"
                );
            }
        }
        _ => assert_eq!(ours.payload, theirs.payload, "{ctx}: payload"),
    }
}

/// Replays `capture` and returns how many replies were compared.
async fn replay(node: &Node, capture: &str) -> usize {
    let frames = load(capture);
    let mut compared = 0;
    let mut conns: Vec<(String, TcpStream, FrameDecoder, BytesMut)> = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        if f.dir != Direction::ToServer {
            continue;
        }
        let pos = match conns.iter().position(|c| c.0 == f.client) {
            Some(p) => p,
            None => {
                let s = TcpStream::connect(node.addr().0).await.unwrap();
                s.set_nodelay(true).unwrap();
                conns.push((
                    f.client.clone(),
                    s,
                    FrameDecoder::new(64 << 20),
                    BytesMut::new(),
                ));
                conns.len() - 1
            }
        };
        let (_, sock, dec, buf) = &mut conns[pos];
        sock.write_all(&f.raw).await.unwrap();
        let expected: Vec<&CapturedFrame> = frames[i + 1..]
            .iter()
            .filter(|r| {
                r.dir == Direction::ToClient
                    && r.client == f.client
                    && r.frame.header.trans == f.frame.header.trans
                    && r.frame.header.cmd == f.frame.header.cmd
            })
            .collect();
        // Requests the server does not answer (JOIN) have no captured reply.
        for e in &expected {
            let ours = next_frame(sock, dec, buf).await;
            compare(capture, &ours, &e.frame);
            compared += 1;
            if !e.frame.header.has_more() {
                break;
            }
        }
    }
    compared
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_answers_like_the_captured_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = node_config(
        dir.path(),
        0,
        &[BackendSpec::new(1, 1), BackendSpec::new(2, 2)],
        &[],
        "never",
    );
    cfg.protocol_version = "3.0.0.1".into();
    for (b, ring) in cfg.backends.iter_mut().zip(S1_RING) {
        b.ring_ids = vec![ring.to_string()];
    }
    let node = Node::start(cfg.validate().unwrap()).await.unwrap();
    // Captures 01–10; 11 (backend status of s1) once the defrag of 10 is over, below;
    // 12 is the status of s2, which this node does not play.
    for capture in &OPERATIONS[..10] {
        let replies = load(capture)
            .iter()
            .filter(|f| f.dir == Direction::ToClient)
            .count();
        assert_eq!(
            replay(&node, capture).await,
            replies,
            "{capture}: every captured reply compared"
        );
    }
    // Let the defrag started by capture 10 finish, as it had in the real cluster.
    assert!(
        backrunner_tests::wait_until(std::time::Duration::from_secs(30), async || {
            node.backends().iter().all(|b| b.defrag_state() == 0)
        })
        .await
    );
    assert_eq!(replay(&node, "11-backend-status-s1").await, 5);
    node.shutdown().await;
}

/// The statistics JSON carries every field the protocol reference (§8.4) says Backrunner
/// reads, with the same names, checked on the raw inflated document.
fn assert_backrunner_fields(payload: &[u8]) {
    use std::io::Read;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(payload)
        .read_to_end(&mut json)
        .expect("zlib stream");
    let doc: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
    for top in ["/timestamp/tv_sec", "/timestamp/tv_usec", "/monitor_status"] {
        assert!(doc.pointer(top).is_some(), "missing {top}");
    }
    let backends = doc["backends"].as_object().expect("backends object");
    assert_eq!(backends.len(), 2);
    for (id, b) in backends {
        for path in [
            "/backend_id",
            "/status/state",
            "/status/defrag_state",
            "/status/read_only",
            "/status/delay",
            "/backend/config/group",
            "/backend/config/blob_flags",
            "/backend/config/blob_size_limit",
            "/backend/vfs/bsize",
            "/backend/vfs/frsize",
            "/backend/vfs/blocks",
            "/backend/vfs/bfree",
            "/backend/summary_stats/base_size",
            "/backend/summary_stats/records_total",
            "/backend/summary_stats/records_removed",
            "/backend/summary_stats/records_removed_size",
            "/backend/summary_stats/records_corrupted",
            "/backend/global_stats/datasort_start_time",
            "/backend/global_stats/datasort_completion_time",
            "/backend/global_stats/datasort_completion_status",
        ] {
            assert!(b.pointer(path).is_some(), "backend {id}: missing {path}");
        }
        assert!(
            b.pointer("/status/read_only")
                .is_some_and(|v| v.is_boolean())
        );
        assert!(
            b.pointer("/backend/vfs/blocks")
                .and_then(|v| v.as_u64())
                .is_some_and(|v| v > 0)
        );
    }
}
