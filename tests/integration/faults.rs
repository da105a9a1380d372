//! Limits and faults: a full backend answers ENOSPC, a read-only one EROFS, garbage and
//! hostile frames only cost their own connection, and defragmentation under concurrent
//! reads reclaims space without failing a read.

use std::time::Duration;

use backrunner_node::Node;
use backrunner_tests::{BackendSpec, connect, start_node, wait_until};
use elliptics::proto::backend::defrag_state;
use elliptics::proto::errno::code;
use elliptics::proto::{BackendCommand, BackendControl, BackendStatus};
use elliptics::stats::MonitorCategories;
use elliptics::{Client, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{payload, read_all};

/// A node in a new temporary directory with the one backend `spec` (group 1), a client
/// connected to it and a session on group 1 in namespace `namespace`.
async fn one_backend(
    spec: BackendSpec,
    namespace: &str,
) -> (tempfile::TempDir, Node, Client, Session) {
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(dir.path(), &[spec], &[]).await;
    let client = connect(&[node.addr()]).await;
    let session = client.session().groups(vec![1]).namespace(namespace);
    (dir, node, client, session)
}

/// Sends `command` for backend 1 of `node`.
async fn control(
    client: &Client,
    node: &Node,
    command: BackendCommand,
) -> Result<BackendStatus, elliptics::Error> {
    client
        .backend_control(node.addr(), BackendControl::new(1, command))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_backend_is_enospc_and_read_only_is_erofs() {
    let mut spec = BackendSpec::new(1, 1);
    spec.size_limit = 1 << 20;
    let (_dir, node, client, s) = one_backend(spec, "limits").await;
    let body = payload(1, 100_000);
    let mut statuses = Vec::new();
    for i in 0..20 {
        let out = s
            .write(format!("k{i}").as_bytes(), &body[..], body.len() as u64, 0)
            .await;
        statuses.push(match out {
            Ok(_) => 0,
            Err(e) => e.status(),
        });
    }
    assert!(statuses[..5].iter().all(|s| *s == 0), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&code::ENOSPC), "{statuses:?}");
    // Reads still work on a full backend.
    assert_eq!(read_all(&s, b"k0", 0, 0).await.unwrap(), body);

    let st = control(&client, &node, BackendCommand::ReadOnly)
        .await
        .unwrap();
    assert!(st.read_only);
    let err = s.write(b"other", &b"x"[..], 1, 0).await.unwrap_err();
    assert_eq!(err.status(), code::EROFS, "{err}");
    let err = s.remove(b"k0").await.unwrap_err();
    assert_eq!(err.status(), code::EROFS, "{err}");
    assert_eq!(read_all(&s, b"k0", 0, 0).await.unwrap(), body);
    // Read-only twice is EALREADY.
    let err = control(&client, &node, BackendCommand::ReadOnly)
        .await
        .unwrap_err();
    assert_eq!(err.status(), code::EALREADY);
    control(&client, &node, BackendCommand::Writeable)
        .await
        .unwrap();
    s.remove(b"k0").await.unwrap();
    client.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_cost_only_their_connection() {
    let (_dir, node, client, s) = one_backend(BackendSpec::new(1, 1), "garbage").await;
    s.write(b"k", &b"hello"[..], 5, 0).await.unwrap();

    let addr = node.addr().0;
    // 1. Random bytes.
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(&payload(9, 10_000)).await.unwrap();
    // 2. A header claiming a 1 TiB payload.
    let mut h = elliptics::proto::Header::new(elliptics::proto::Command::Write);
    h.size = 1 << 40;
    let mut c2 = tokio::net::TcpStream::connect(addr).await.unwrap();
    c2.write_all(&h.to_bytes()).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), c2.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "hostile size closes the connection");
    // 3. An unknown command gets -EOPNOTSUPP, and the connection stays usable.
    let mut u = elliptics::proto::Header::new(elliptics::proto::Command::Iterator);
    u.cmd = 77;
    u.trans = 5;
    u.flags = elliptics::proto::CmdFlags::NEED_ACK;
    let mut c3 = tokio::net::TcpStream::connect(addr).await.unwrap();
    c3.write_all(&u.to_bytes()).await.unwrap();
    let mut reply = [0u8; 120];
    c3.read_exact(&mut reply).await.unwrap();
    let rh = elliptics::proto::Frame::decode_exact(&reply)
        .unwrap()
        .header;
    assert_eq!((rh.status, rh.trans, rh.cmd), (code::EOPNOTSUPP, 5, 77));
    // 4. A WRITE whose io_attr lies about the data size gets -EINVAL.
    let mut io =
        elliptics::proto::request::io_for(elliptics::proto::Id::from_key(b"garbage", b"k2"));
    io.size = 1000;
    let mut f = elliptics::proto::request::write(
        elliptics::proto::GroupId::new(io.id, 1),
        1,
        elliptics::proto::CmdFlags::default(),
        &io,
        bytes::Bytes::from_static(b"short"),
    );
    f.header.trans = 6;
    let mut raw = f.to_bytes();
    raw[120 + 200..120 + 208].copy_from_slice(&1000u64.to_le_bytes());
    c3.write_all(&raw).await.unwrap();
    c3.read_exact(&mut reply).await.unwrap();
    let rh = elliptics::proto::Frame::decode_exact(&reply)
        .unwrap()
        .header;
    assert_eq!((rh.status, rh.trans), (code::EINVAL, 6));

    // Meanwhile the node kept serving the well-behaved client.
    assert_eq!(read_all(&s, b"k", 0, 0).await.unwrap(), b"hello");
    // A flood of connections that never speak does not stop service.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    assert_eq!(read_all(&s, b"k", 0, 0).await.unwrap(), b"hello");
    drop(idle);
    client.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defrag_under_concurrent_reads_reclaims_space() {
    let (_dir, node, client, s) = one_backend(BackendSpec::new(1, 1), "defrag").await;
    let n = 300u64;
    for i in 0..n {
        let body = payload(i, 64 * 1024);
        s.write(format!("k{i}").as_bytes(), &body[..], body.len() as u64, 0)
            .await
            .unwrap();
    }
    for i in (0..n).filter(|i| i % 2 == 0) {
        s.remove(format!("k{i}").as_bytes()).await.unwrap();
    }
    let stats = |c: elliptics::client::Client| async move {
        let r = c.monitor_stat(MonitorCategories::BACKRUNNER.0).await;
        r.into_iter()
            .next()
            .unwrap()
            .1
            .unwrap()
            .backend_stats()
            .remove(0)
    };
    let before = stats(client.clone()).await;
    assert_eq!(
        before.records_total - before.records_removed,
        n / 2,
        "live records"
    );
    let removed_bytes = before.removed_size;
    assert!(removed_bytes >= (n / 2) * 64 * 1024);

    // Readers hammer the live keys during the whole defragmentation.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..4u64 {
        let (client, stop) = (client.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let s = client.session().groups(vec![1]).namespace("defrag");
            let mut reads = 0u64;
            let mut i = r;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let k = (i * 2 + 1) % n;
                let got = read_all(&s, format!("k{k}").as_bytes(), 0, 0).await;
                assert_eq!(got.expect("read during defrag"), payload(k, 64 * 1024));
                reads += 1;
                i += 7;
            }
            reads
        }));
    }
    let st = control(&client, &node, BackendCommand::StartDefrag)
        .await
        .unwrap();
    assert_eq!(st.defrag_state, defrag_state::IN_PROGRESS);
    assert!(
        wait_until(Duration::from_secs(60), async || {
            client.backend_status(node.addr()).await.unwrap()[0].defrag_state
                == defrag_state::NOT_STARTED
        })
        .await,
        "defrag finished"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total_reads = 0;
    for r in readers {
        total_reads += r.await.unwrap();
    }
    assert!(total_reads > 0);
    let after = stats(client.clone()).await;
    assert!(
        before.used_size - after.used_size >= removed_bytes,
        "used {} -> {}, removed {}",
        before.used_size,
        after.used_size,
        removed_bytes
    );
    assert_eq!(after.records_removed, 0);
    for i in 0..n {
        let got = read_all(&s, format!("k{i}").as_bytes(), 0, 0).await;
        if i % 2 == 0 {
            assert!(got.is_err_and(|e| e.is_not_found()), "k{i} stays removed");
        } else {
            assert_eq!(got.unwrap(), payload(i, 64 * 1024));
        }
    }
    client.shutdown().await;
    node.shutdown().await;
}
