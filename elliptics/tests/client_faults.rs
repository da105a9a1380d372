//! The client against misbehaving nodes over real sockets (fake nodes replaying the
//! captures, with faults injected per request): hostile frame sizes, silence, closing
//! mid-transaction, slow multi-part replies, dropped callers, and group failures in the
//! middle of chunked writes and reads.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Action, DATA, FakeCluster, KEY};
use elliptics::Error;
use elliptics::client::Client;
use elliptics::proto::capture::Direction;
use elliptics::proto::{Codec, Command, Frame, Id, IoFlags};
use futures_util::StreamExt;

fn ack(req: &Frame, status: i32) -> Frame {
    Frame::bare(req.reply_header(status, false))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frame_size_drops_the_connection() {
    let fc = FakeCluster::intercepting("04-lookup-g1g2", Command::Lookup, |node, req| {
        (node == 1).then(|| {
            let mut h = req.reply_header(0, false);
            h.size = 1 << 40;
            Action::Raw(h.to_bytes().to_vec())
        })
    })
    .await;
    let client = fc.connect().await;
    let s = client.session().groups(vec![1]);
    let e = s.lookup_first(KEY).await.unwrap_err();
    assert!(
        matches!(&e, Error::Protocol(m) if m.contains("too large")),
        "{e:?}"
    );
    // The connection is dropped and its routes go with it: group 1 now routes to s1.
    let key = Id::from_key(b"", KEY);
    let deadline = Instant::now() + Duration::from_secs(2);
    while client.nodes().contains(&fc.addr(1))
        || client.route_table().owner(&key, 1) != Some((fc.addr(0), 1))
    {
        assert!(Instant::now() < deadline, "connection not dropped");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = s.lookup_first(KEY).await.unwrap();
    assert_eq!(r.addr, Some(fc.addr(0)));
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_node_times_out() {
    let fc = FakeCluster::intercepting("04-lookup-g1g2", Command::Lookup, |_, _| {
        Some(Action::Ignore)
    })
    .await;
    let client = fc.connect().await;
    let s = client
        .session()
        .groups(vec![1])
        .timeout(Duration::from_millis(300));
    let start = Instant::now();
    let e = s.lookup_first(KEY).await.unwrap_err();
    assert!(matches!(e, Error::Timeout), "{e:?}");
    assert_eq!(e.status(), -110);
    assert!(
        start.elapsed() >= Duration::from_millis(300) && start.elapsed() < Duration::from_secs(3)
    );
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_is_an_inactivity_timeout() {
    // MONITOR_STAT answered in two packets 250 ms apart: 500 ms in all, 400 ms timeout.
    let fc = FakeCluster::intercepting("05-monitor-stat-all", Command::MonitorStat, |_, _| {
        let r = common::load("05-monitor-stat-all");
        let frames = common::select(&r, Direction::ToClient, Command::MonitorStat);
        Some(Action::Paced(
            Duration::from_millis(250),
            frames.into_iter().map(|f| f.frame).collect(),
        ))
    })
    .await;
    let client = fc
        .connect_with(|c| c.wait_timeout = Duration::from_millis(400))
        .await;
    for (addr, r) in client.monitor_stat(u64::MAX).await {
        assert!(r.is_ok_and(|r| r.is_enabled()), "{addr}");
    }
    client.shutdown().await;
}

/// Keys whose group-1 owner is node `node` of `fc`.
fn keys_on(client: &Client, fc: &FakeCluster, node: usize, n: usize) -> Vec<Vec<u8>> {
    let rt = client.route_table();
    (0..)
        .map(|i| format!("key-{i}").into_bytes())
        .filter(|k| {
            rt.owner(&Id::from_key(b"", k), 1)
                .is_some_and(|o| o.0 == fc.addr(node))
        })
        .take(n)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_mid_transaction_fails_every_waiter() {
    let seen = Arc::new(AtomicUsize::new(0));
    let seen2 = seen.clone();
    let fc = FakeCluster::intercepting("04-lookup-g1g2", Command::Lookup, move |node, _| {
        (node == 1).then(|| {
            if seen2.fetch_add(1, Ordering::SeqCst) + 1 >= 3 {
                Action::Close
            } else {
                Action::Ignore
            }
        })
    })
    .await;
    let client = fc.connect().await;
    let s = client
        .session()
        .groups(vec![1])
        .timeout(Duration::from_secs(10));
    let keys = keys_on(&client, &fc, 1, 3);
    let results = futures_util::future::join_all(keys.iter().map(|k| s.lookup_first(k))).await;
    for r in results {
        let e = r.unwrap_err();
        assert!(matches!(e, Error::ConnectionClosed), "{e:?}");
        assert_eq!(e.status(), -104);
    }
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_request_frees_its_slot() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let fc = FakeCluster::intercepting("04-lookup-g1g2", Command::Lookup, move |_, _| {
        (n2.fetch_add(1, Ordering::SeqCst) == 0).then_some(Action::Ignore)
    })
    .await;
    let client = fc.connect_with(|c| c.max_in_flight = 1).await;
    let s = client
        .session()
        .groups(vec![1])
        .timeout(Duration::from_secs(2));
    let dropped = tokio::time::timeout(Duration::from_millis(200), s.lookup_first(KEY)).await;
    assert!(dropped.is_err(), "first lookup is never answered");
    let start = Instant::now();
    let r = s.lookup_first(KEY).await.unwrap();
    assert!(r.result.is_ok());
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "the slot was freed by the drop"
    );
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_write_prepare_plain_commit_and_group_loss() {
    // s1 (group 2) refuses the middle chunk with ENOSPC; group 2 is dropped from the
    // commit, group 1 completes.
    let fc = FakeCluster::intercepting("01-write-g1g2", Command::Write, |node, req| {
        (node == 0 && common::io_attr(req).flags == IoFlags::PLAIN_WRITE)
            .then(|| Action::Reply(vec![ack(req, -28)]))
    })
    .await;
    let client = fc.connect_with(|c| c.write_chunk_size = 16).await;
    let s = client.session().groups(vec![1, 2]);
    let out = s.write(KEY, DATA, 36, 0).await.unwrap();
    assert_eq!(out.succeeded().len(), 1);
    assert_eq!(out.succeeded()[0].group, 1);
    assert_eq!(out.failed()[0].result.as_ref().unwrap_err().status(), -28);
    let writes = fc.recorded(Command::Write);
    let on = |node| {
        writes
            .iter()
            .filter(|(n, _)| *n == node)
            .map(|(_, f)| f.clone())
            .collect::<Vec<_>>()
    };
    let (s2, s1) = (on(1), on(0));
    assert_eq!((s2.len(), s1.len()), (3, 2));
    let want = [(0x210, 36, 0, 16), (0x200, 32, 16, 16), (0x220, 36, 32, 4)];
    for (f, (flags, num, offset, size)) in s2.iter().zip(want) {
        let io = common::io_attr(f);
        assert_eq!(
            (io.flags.0, io.num, io.offset, io.size),
            (flags, num, offset, size)
        );
        assert_eq!(
            &f.payload[208..],
            &DATA[offset as usize..(offset + size) as usize]
        );
    }
    // A body shorter than declared is refused.
    let e = s.write(KEY, &DATA[..10], 36, 0).await.unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_read_with_group_fallback() {
    // Nodes answer READs from the 36-byte object; s2 (group 1) fails at offset 20.
    let fc = FakeCluster::intercepting("02-read-g1g2", Command::Read, |node, req| {
        let mut io = common::io_attr(req);
        if node == 1 && io.offset == 20 {
            return Some(Action::Reply(vec![ack(req, -5)]));
        }
        let end = (io.offset + io.size).min(36);
        let data = &DATA[io.offset as usize..end as usize];
        io.size = data.len() as u64;
        io.total_size = 36;
        io.record_flags = 0x40;
        let mut payload = io.to_vec();
        payload.extend_from_slice(data);
        Some(Action::Reply(vec![Frame::new(
            req.reply_header(0, false),
            payload.into(),
            Default::default(),
        )]))
    })
    .await;
    let client = fc.connect_with(|c| c.read_chunk_size = 10).await;
    let s = client.session().groups(vec![1, 2]);
    let mut st = s.read(KEY, 0, 0).await.unwrap();
    assert_eq!(st.size(), 36);
    let mut out = Vec::new();
    while let Some(c) = st.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    assert_eq!(out, DATA);
    let reads: Vec<(usize, u64, u32)> = fc
        .recorded(Command::Read)
        .iter()
        .map(|(n, f)| {
            let io = common::io_attr(f);
            (*n, io.offset, io.flags.0)
        })
        .collect();
    // First read verifies checksums; later ones add NOCSUM; after the failure at 20 the
    // stream stays on group 2 (s1).
    assert_eq!(
        reads,
        [
            (1, 0, 0),
            (1, 10, 0x100),
            (1, 20, 0x100),
            (0, 20, 0x100),
            (0, 30, 0x100)
        ]
    );
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_node_is_reconnected_in_the_background() {
    let closed = Arc::new(AtomicUsize::new(0));
    let closed2 = closed.clone();
    let fc = FakeCluster::intercepting("04-lookup-g1g2", Command::Lookup, move |node, _| {
        (node == 1 && closed2.fetch_add(1, Ordering::SeqCst) == 0).then_some(Action::Close)
    })
    .await;
    let client = fc
        .connect_with(|c| c.check_interval = Duration::from_secs(1))
        .await;
    let s = client.session().groups(vec![1]);
    assert!(matches!(
        s.lookup_first(KEY).await,
        Err(Error::ConnectionClosed)
    ));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let back = client.nodes().contains(&fc.addr(1))
            && client.route_table().owner(&Id::from_key(b"", KEY), 1) == Some((fc.addr(1), 1));
        if back {
            break;
        }
        assert!(Instant::now() < deadline, "node not reconnected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.lookup_first(KEY).await.unwrap().addr, Some(fc.addr(1)));
    client.shutdown().await;
    assert!(client.nodes().is_empty());
    assert!(client.route_table().is_empty());
    assert!(matches!(
        s.lookup_first(KEY).await.unwrap_err(),
        Error::NoRoute { group: 1 }
    ));
}

/// Operation futures and streams are `Send` (usable from spawned tasks and HTTP
/// handlers); checked at compile time.
#[test]
fn futures_are_send() {
    fn send<T: Send>(_: &T) {}
    fn check(c: &Client, s: &elliptics::Session) {
        send(&s.write(KEY, DATA, 36, 0));
        send(&s.read(KEY, 0, 0));
        send(&s.lookup(KEY));
        send(&s.lookup_first(KEY));
        send(&s.remove(KEY));
        send(&s.bulk_remove(vec![KEY.to_vec()], 4));
        send(&c.monitor_stat(0x54));
        send(&c.backend_status(c.nodes()[0]));
        send(&c.shutdown());
    }
    fn stream<T: Send + Unpin + 'static + futures_util::Stream>() {}
    stream::<elliptics::client::ReadStream>();
    let _ = check;
}
