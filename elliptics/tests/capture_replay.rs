//! The server side of captures 01–12 replayed to the real `Client` over real loopback
//! sockets (three listeners standing in for 1025/1026/1027, advertised addresses
//! rewritten): every operation returns what the stock client reported, and the requests
//! our client sends equal the stock client's byte for byte (trans aside; the read size
//! where our client chunks). Also: automatic protocol version, and UPDATE_IDS pushes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::single_range_in_vec_init
)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use common::{DATA, FakeCluster, KEY, masked, sent};
use elliptics::Error;
use elliptics::client::{Client, VersionPolicy};
use elliptics::proto::capture::Direction;
use elliptics::proto::{
    BackendCommand, BackendControl, BackendIds, CmdFlags, Codec, Command, DnetTime, Frame, Header,
    Id, IdContainer, IoAttr, ProtocolVersion,
};
use futures_util::StreamExt;

const CAPTURED_TS: DnetTime = DnetTime {
    tsec: 1795302519,
    tnsec: 28051000,
};
/// `io.size` of a READ request (our client asks for one chunk, the C++ client for 0).
const READ_SIZE: std::ops::Range<usize> = 120 + 200..120 + 208;

/// The fake cluster replaying `capture` and our client, which must have learnt all three
/// nodes from the route list.
async fn replay(capture: &str) -> (FakeCluster, Client) {
    let fc = FakeCluster::start(capture).await;
    let client = fc.connect().await;
    assert_eq!(
        client.nodes().len(),
        3,
        "all nodes learnt from the route list"
    );
    (fc, client)
}

/// Our recorded requests of `cmd` equal the capture's (masked), matched by group, and
/// went to the node the capture sent them to.
fn assert_requests(
    fc: &FakeCluster,
    capture: &str,
    cmd: Command,
    extra: &[std::ops::Range<usize>],
) {
    let ours = fc.recorded(cmd);
    let theirs = common::select(&common::load(capture), Direction::ToServer, cmd);
    assert_eq!(ours.len(), theirs.len(), "{capture}: number of {cmd:?}");
    for t in &theirs {
        let tf = &t.frame;
        let (node, f) = ours
            .iter()
            .find(|(_, f)| f.header.id.group_id == tf.header.id.group_id)
            .unwrap();
        assert_eq!(
            *node,
            common::node_of(t),
            "{capture}: {cmd:?} to the captured node"
        );
        assert_eq!(
            hex::encode(masked(f, extra)),
            hex::encode(masked(tf, extra)),
            "{capture}: {cmd:?}"
        );
    }
}

async fn read_all(s: &elliptics::Session, offset: u64, size: u64) -> Result<Vec<u8>, Error> {
    let mut st = s.read(KEY, offset, size).await?;
    let mut out = Vec::new();
    while let Some(c) = st.next().await {
        out.extend_from_slice(&c?);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_01() {
    let (fc, client) = replay("01-write-g1g2").await;
    let s = client
        .session()
        .groups(vec![1, 2])
        .timestamp(Some(CAPTURED_TS));
    let out = s.write(KEY, DATA, DATA.len() as u64, 0).await.unwrap();
    assert_eq!(out.succeeded().len(), 2);
    for (r, (group, node, backend, offset, path)) in out.results.iter().zip([
        (1, 1, 1, 144, "/srv/ell/run/s2/b1/data/data-0.0"),
        (2, 0, 2, 340, "/srv/ell/run/s1/b2/data/data-0.0"),
    ]) {
        let info = r.result.as_ref().unwrap();
        assert_eq!(
            (r.group, r.addr, r.backend_id),
            (group, Some(fc.addr(node)), backend)
        );
        assert_eq!(
            (info.addr, info.info.size, info.info.offset),
            (fc.addr(node), 36, offset)
        );
        assert_eq!((info.info.record_flags, info.path.as_str()), (0x140, path));
        assert_eq!(info.info.mtime, CAPTURED_TS);
    }
    // With the captured timestamp the WRITEs are identical but for trans.
    assert_requests(&fc, "01-write-g1g2", Command::Write, &[]);
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_02_and_range_03() {
    let (fc, client) = replay("02-read-g1g2").await;
    let s = client.session().groups(vec![1, 2]);
    let st = s.read(KEY, 0, 0).await.unwrap();
    assert_eq!((st.total_size(), st.size(), st.group()), (36, 36, 1));
    assert_eq!((st.timestamp(), st.record_flags()), (CAPTURED_TS, 0x140));
    assert_eq!(read_all(&s, 0, 0).await.unwrap(), DATA);
    let reads = fc.recorded(Command::Read);
    assert!(
        reads
            .iter()
            .all(|(node, f)| *node == 1 && f.header.id.group_id == 1)
    );
    let io = IoAttr::decode_all(&reads[0].1.payload).unwrap();
    assert_eq!(io.size, client.config().read_chunk_size as u64);
    fc.recorded
        .lock()
        .unwrap()
        .retain(|(_, f)| f.header.cmd != Command::Read as i32);
    drop(st);
    let _ = s.read(KEY, 0, 0).await.unwrap();
    assert_requests(&fc, "02-read-g1g2", Command::Read, &[READ_SIZE]);
    client.shutdown().await;

    let (fc, client) = replay("03-read-range-g2").await;
    let s = client.session().groups(vec![2, 1]);
    assert_eq!(read_all(&s, 10, 10).await.unwrap(), b"ABCDEFGHIJ");
    assert_requests(&fc, "03-read-range-g2", Command::Read, &[]);
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_04() {
    let (fc, client) = replay("04-lookup-g1g2").await;
    let s = client.session().groups(vec![1, 2]);
    let r = s.lookup_first(KEY).await.unwrap();
    let info = r.result.as_ref().unwrap();
    assert_eq!(
        (r.group, r.backend_id, info.addr, info.info.offset),
        (1, 1, fc.addr(1), 144)
    );
    assert_requests(&fc, "04-lookup-g1g2", Command::Lookup, &[]);
    let all = s.lookup(KEY).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .all(|r| r.result.as_ref().is_ok_and(|i| i.info.size == 36))
    );
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_stat_05_06() {
    for (capture, categories) in [
        ("05-monitor-stat-all", u64::MAX),
        ("06-monitor-stat-backend", 0x10),
    ] {
        let (fc, client) = replay(capture).await;
        let reports = client.monitor_stat(categories).await;
        assert_eq!(reports.len(), 3, "one per connected node");
        for (addr, r) in &reports {
            let r = r.as_ref().unwrap_or_else(|e| panic!("{addr}: {e}"));
            assert!(r.is_enabled());
            assert_eq!(r.backend_stats().len(), 2);
        }
        let ours = fc.recorded(Command::MonitorStat);
        let theirs = sent(capture, Command::MonitorStat);
        for (_, f) in ours {
            assert_eq!(masked(&f, &[]), masked(&theirs[0], &[]), "{capture}");
        }
        client.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_07_then_lookup_08_and_read_09_not_found() {
    let (fc, client) = replay("07-remove-g1g2").await;
    let s = client.session().groups(vec![1, 2]);
    let r = s.remove(KEY).await.unwrap();
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|g| g.result.is_ok()));
    assert_requests(&fc, "07-remove-g1g2", Command::Del, &[]);
    let bulk = s.bulk_remove([&b"a"[..], KEY, b"c"], 2).await;
    assert_eq!(
        bulk.iter()
            .map(|(k, r)| (*k, r.is_ok()))
            .collect::<Vec<_>>(),
        [(&b"a"[..], true), (KEY, true), (b"c", true)]
    );
    client.shutdown().await;

    let (fc, client) = replay("08-lookup-after-remove").await;
    let s = client.session().groups(vec![1, 2]);
    let e = s.lookup_first(KEY).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let Error::AllGroupsFailed { errors } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        errors
            .iter()
            .map(|(g, e)| (*g, e.status()))
            .collect::<Vec<_>>(),
        [(1, -2), (2, -2)]
    );
    // Group 1 first, then group 2, as the C++ client did.
    let order: Vec<usize> = fc
        .recorded(Command::Lookup)
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(order, [1, 0]);
    assert_requests(&fc, "08-lookup-after-remove", Command::Lookup, &[]);
    assert!(s.lookup(KEY).await.unwrap_err().is_not_found());
    client.shutdown().await;

    let (fc, client) = replay("09-read-after-remove").await;
    let s = client.session().groups(vec![1, 2]);
    let e = s.read(KEY, 0, 0).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(matches!(&e, Error::AllGroupsFailed { errors } if errors.len() == 2));
    assert_requests(&fc, "09-read-after-remove", Command::Read, &[READ_SIZE]);
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_control_10_and_status_11_12() {
    let (fc, client) = replay("10-defrag-start-s1-b2").await;
    let st = client
        .backend_control(
            fc.addr(0),
            BackendControl::new(2, BackendCommand::StartDefrag),
        )
        .await
        .unwrap();
    assert_eq!((st.backend_id, st.state, st.defrag_state), (2, 1, 1));
    let ours = fc.recorded(Command::BackendControl);
    assert_eq!(ours.len(), 1);
    let theirs = sent("10-defrag-start-s1-b2", Command::BackendControl);
    assert_eq!(masked(&ours[0].1, &[4..64]), masked(&theirs[0], &[4..64]));
    client.shutdown().await;

    for (capture, node, ids) in [
        ("11-backend-status-s1", 0, vec![1, 2]),
        ("12-backend-status-s2", 1, vec![1]),
    ] {
        let (fc, client) = replay(capture).await;
        let list = client.backend_status(fc.addr(node)).await.unwrap();
        assert_eq!(list.iter().map(|b| b.backend_id).collect::<Vec<_>>(), ids);
        assert!(list.iter().all(|b| b.defrag_state == 0 && b.state == 1));
        assert_requests(&fc, capture, Command::BackendStatus, &[]);
        client.ping(fc.addr(node)).await.unwrap();
        client.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_version_falls_back_to_3_0() {
    // The fake nodes, like real 3.0 nodes, drop a connection announcing 2.26.
    let fc = FakeCluster::start("04-lookup-g1g2").await;
    let client = fc
        .connect_with(|c| c.protocol_version = VersionPolicy::Auto)
        .await;
    let info = client.node_info();
    assert_eq!(info.len(), 3);
    assert!(
        info.iter().all(
            |n| n.version == ProtocolVersion::V3_0 && n.server_version == ProtocolVersion::V3_0
        )
    );
    let versions: Vec<ProtocolVersion> = fc
        .recorded(Command::ReverseLookup)
        .iter()
        .map(|(_, f)| ProtocolVersion::from_id(&f.header.id.id))
        .collect();
    // Only the first node is tried with 2.26: the client learns 3.0 there and greets the
    // nodes it discovers (from the route list) with 3.0 straight away.
    assert_eq!(
        versions
            .iter()
            .filter(|v| **v == ProtocolVersion::V2_26)
            .count(),
        1
    );
    assert_eq!(
        versions
            .iter()
            .filter(|v| **v == ProtocolVersion::V3_0)
            .count(),
        3
    );
    let r = client
        .session()
        .groups(vec![1])
        .lookup_first(KEY)
        .await
        .unwrap();
    assert_eq!(r.result.unwrap().info.size, 36);
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_ids_push_changes_routing() {
    let (fc, client) = replay("01-write-g1g2").await;
    let key = Id::from_key(b"", KEY);
    assert_eq!(client.route_table().owner(&key, 2), Some((fc.addr(0), 2)));
    // s3 announces a ring id just below the key for its backend 1 in group 2.
    let mut ring = key;
    ring.0[1] = 0;
    let mut h = Header::new(Command::UpdateIds);
    h.flags = CmdFlags::DIRECT | CmdFlags::NOLOCK;
    let ids = IdContainer {
        backends: vec![BackendIds {
            backend_id: 1,
            group_id: 2,
            flags: 0,
            ids: vec![ring],
        }],
    };
    fc.push(2, &Frame::with_body(h, &ids));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while client.route_table().owner(&key, 2) != Some((fc.addr(2), 1)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "route update not applied"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let out = client
        .session()
        .groups(vec![2])
        .write(KEY, DATA, 36, 0)
        .await
        .unwrap();
    assert_eq!(out.results[0].addr, Some(fc.addr(2)));
    let writes = fc.recorded(Command::Write);
    assert_eq!(writes.len(), 1);
    assert_eq!((writes[0].0, writes[0].1.header.backend_id), (2, 1));
    client.shutdown().await;
}
