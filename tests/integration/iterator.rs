//! Iterators (`DNET_CMD_ITERATOR`) through `Session::iterate`, with the same assertions
//! against our node and against the real Elliptics 3.0 server (`../shared/elliptics-oracle`;
//! skipped when absent, required with `BACKRUNNER_ORACLE_REQUIRED=1`): every key of a
//! backend (committed and prepared-only records, not removed ones), key ranges, a time
//! range, data, the backend chosen by address or by an id it owns, refusals, keep-alives
//! while a time range skips everything, pause / continue, cancel mid-way, and a slow
//! consumer that makes the node wait instead of buffering the backend.
//!
//! What the real server sends (recorded here and in the docs of `elliptics::proto::iterator`): records
//! in disk order (ours: ascending id), removed records left out, a prepared record with
//! size 0, flags 0x1c0 and no data, iterator ids never reported (the response id is 0),
//! a keep-alive per 10000 skipped records, and up to 102400 replies queued per connection
//! before the iterator waits — whatever their size.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use backrunner_node::Node;
use backrunner_tests::oracle::OracleCluster;
use backrunner_tests::{BackendSpec, client_config, start_node, wait_until};
use bytes::Bytes;
use elliptics::client::{
    Client, ClientConfig, IteratorEnd, IteratorEntry, IteratorOptions, IteratorStream,
    IteratorTarget,
};
use elliptics::proto::{DnetTime, Id, IteratorAction, record_flags};
use elliptics::{Error, Session};
use futures_util::{StreamExt, stream};
use tokio::io::{AsyncRead, ReadBuf};

/// Record flags of a committed record (EXTHDR | CHUNKED_CSUM), as eblob reports them.
const COMMITTED: u64 = record_flags::EXTHDR | record_flags::CHUNKED_CSUM;
/// ... of a prepared, uncommitted one.
const PREPARED: u64 = COMMITTED | record_flags::UNCOMMITTED;
/// Write chunk of the test clients: a write of two chunks whose body fails after the
/// first leaves a prepared, uncommitted record.
const CHUNK: usize = 4096;
/// How long a consumer stops reading before it cancels.
const STALL: Duration = Duration::from_secs(2);

/// The node under test: ours (a task of this process) or the real one.
enum Server {
    Ours { node: Node, _dir: tempfile::TempDir },
    Real { _cluster: OracleCluster },
}

/// A server with one backend (id 1, group 1) and a client for it.
struct Fixture {
    server: Server,
    client: Client,
}

impl Fixture {
    async fn ours() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let node = start_node(dir.path(), &[BackendSpec::new(1, 1)], &[]).await;
        let config = client_config(&[node.addr()]);
        Fixture {
            client: connect(config).await,
            server: Server::Ours { node, _dir: dir },
        }
    }

    async fn real() -> Option<Fixture> {
        let cluster = OracleCluster::start(&[1]).await?;
        let config = cluster.client_config();
        Some(Fixture {
            client: connect(config).await,
            server: Server::Real { _cluster: cluster },
        })
    }

    fn name(&self) -> &'static str {
        match self.server {
            Server::Ours { .. } => "our node",
            Server::Real { .. } => "the real server",
        }
    }

    fn our_node(&self) -> Option<&Node> {
        match &self.server {
            Server::Ours { node, .. } => Some(node),
            Server::Real { .. } => None,
        }
    }

    fn session(&self) -> Session {
        self.client.session().groups(vec![1])
    }

    /// Backend 1 by address.
    fn target(&self) -> IteratorTarget {
        let addr = self.client.nodes()[0];
        IteratorTarget::Backend {
            addr,
            backend_id: 1,
        }
    }

    /// Replies a node queues on a connection before its iterator must wait, plus what the
    /// sockets between it and a stalled consumer hold (key-only replies of 260 bytes: the
    /// node's send buffer, at most `net.ipv4.tcp_wmem` max; our receive buffer, 2 × 1 MiB;
    /// a read buffer and the 8-reply channel): how far a node may run ahead of a consumer
    /// that stopped reading.
    fn run_ahead_bound(&self) -> usize {
        let queue = match self.server {
            Server::Ours { .. } => 1024,
            // DNET_SEND_WATERMARK_HIGH: counted in replies, whatever their size.
            Server::Real { .. } => 102_400,
        };
        let wmem_max = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
            .ok()
            .and_then(|s| s.split_whitespace().nth(2)?.parse::<usize>().ok())
            .unwrap_or(4 << 20);
        let sockets = wmem_max / 260 + (2 << 20) / 260 + 512;
        queue + sockets
    }

    /// Keys for the flow scenario: 20000 more than the node can run ahead.
    fn flow_keys(&self) -> usize {
        self.run_ahead_bound() + 20_000
    }
}

async fn connect(config: ClientConfig) -> Client {
    Client::connect(ClientConfig {
        write_chunk_size: CHUNK,
        ..config
    })
    .await
    .expect("client connects")
}

/// A body that yields `ok` bytes, then fails: the upload stops after its first chunk.
struct FailAfter {
    left: usize,
}

impl AsyncRead for FailAfter {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.left == 0 {
            return Poll::Ready(Err(std::io::Error::other("body cut")));
        }
        let n = self.left.min(buf.remaining());
        buf.put_slice(&vec![b'p'; n]);
        self.left -= n;
        Poll::Ready(Ok(()))
    }
}

/// What was written to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Written {
    timestamp: DnetTime,
    user_flags: u64,
    data: Vec<u8>,
}

fn stamp(tsec: u64) -> DnetTime {
    DnetTime { tsec, tnsec: 7 }
}

/// Writes `k0`..`k9` (timestamps 1000+i), removes `k1`, rewrites `k2` larger, and leaves
/// `u` prepared but uncommitted. Returns the committed records by id, and the id of `u`.
async fn populate(fx: &Fixture) -> (BTreeMap<Id, Written>, Id) {
    let s = fx.session();
    let mut written = BTreeMap::new();
    for i in 0..10u64 {
        let data = vec![b'a' + i as u8; i as usize * 3 + 1];
        let w = Written {
            timestamp: stamp(1000 + i),
            user_flags: i * 10,
            data,
        };
        s.clone()
            .timestamp(Some(w.timestamp))
            .user_flags(w.user_flags)
            .write(
                format!("k{i}").as_bytes(),
                &w.data[..],
                w.data.len() as u64,
                0,
            )
            .await
            .unwrap();
        written.insert(s.id(format!("k{i}").as_bytes()), w);
    }
    s.remove(b"k1").await.unwrap();
    written.remove(&s.id(b"k1"));
    let k2 = Written {
        timestamp: stamp(3000),
        user_flags: 77,
        data: b"the second, longer version of k2".to_vec(),
    };
    s.clone()
        .timestamp(Some(k2.timestamp))
        .user_flags(k2.user_flags)
        .write(b"k2", &k2.data[..], k2.data.len() as u64, 0)
        .await
        .unwrap();
    written.insert(s.id(b"k2"), k2);
    let cut = s
        .clone()
        .timestamp(Some(stamp(2000)))
        .user_flags(5)
        .write(b"u", FailAfter { left: CHUNK }, 2 * CHUNK as u64, 0)
        .await;
    assert!(cut.is_err(), "the cut upload fails");
    (written, s.id(b"u"))
}

/// Every entry of a stream, and how it ended.
async fn collect(mut stream: IteratorStream) -> (Vec<IteratorEntry>, Option<IteratorEnd>) {
    let mut out = Vec::new();
    while let Some(e) = stream.next().await {
        out.push(e.unwrap());
    }
    (out, stream.end())
}

/// The entries of an iterator over backend 1 with `options`.
async fn iterate(fx: &Fixture, options: IteratorOptions) -> Vec<IteratorEntry> {
    let stream = fx.session().iterate(fx.target(), options).await.unwrap();
    let (entries, end) = collect(stream).await;
    assert_eq!(end, Some(IteratorEnd::Completed), "{}", fx.name());
    if fx.our_node().is_some() {
        assert!(
            entries.windows(2).all(|w| w[0].key < w[1].key),
            "our node sends ascending ids"
        );
    }
    entries
}

/// The first item of a stream that must fail at once.
async fn refused(fx: &Fixture, target: IteratorTarget, options: IteratorOptions) -> Error {
    let mut stream = fx.session().iterate(target, options).await.unwrap();
    let err = stream.next().await.unwrap().unwrap_err();
    assert!(stream.next().await.is_none());
    assert_eq!(stream.end(), None);
    err
}

fn keys(entries: &[IteratorEntry]) -> Vec<Id> {
    let mut k: Vec<Id> = entries.iter().map(|e| e.key).collect();
    k.sort();
    k
}

/// Listing, filters, data, targets and refusals.
async fn listing(fx: &Fixture) {
    let (written, u) = populate(fx).await;
    let name = fx.name();
    let mut all: Vec<Id> = written.keys().copied().chain([u]).collect();
    all.sort();

    // Every key, metadata only: committed records as written, the prepared one flagged.
    let mut stream = fx
        .session()
        .iterate(fx.target(), IteratorOptions::new())
        .await
        .unwrap();
    let mut entries = Vec::new();
    while let Some(e) = stream.next().await {
        entries.push(e.unwrap());
    }
    assert_eq!(stream.end(), Some(IteratorEnd::Completed));
    assert_eq!(
        stream.id(),
        Some(0),
        "{name}: the only iterator is number 0"
    );
    let progress = stream.progress();
    assert_eq!(
        (progress.iterated_keys, progress.total_keys),
        (10, 10),
        "{name}"
    );
    assert_eq!(keys(&entries), all, "{name}");
    for e in &entries {
        assert_eq!(e.data, None);
        if e.key == u {
            assert_eq!(e.record_flags, PREPARED, "{name}");
            assert_eq!((e.size, e.timestamp, e.user_flags), (0, stamp(2000), 5));
            continue;
        }
        let w = &written[&e.key];
        assert_eq!(e.record_flags, COMMITTED, "{name}");
        assert_eq!(
            (e.size, e.timestamp, e.user_flags),
            (w.data.len() as u64, w.timestamp, w.user_flags),
            "{name}"
        );
    }

    // With data: the bytes of the latest version; the prepared record has none.
    for e in iterate(fx, IteratorOptions::new().data(true)).await {
        let data = e.data.expect("data was asked for");
        match written.get(&e.key) {
            Some(w) => assert_eq!(data, Bytes::from(w.data.clone()), "{name}"),
            None => assert!(data.is_empty() && e.key == u, "{name}"),
        }
    }

    // Key ranges, both ends included: [all[1], all[3]] and [all[6], all[6]].
    let opts = IteratorOptions::new()
        .range(all[1], all[3])
        .range(all[6], all[6]);
    let want = vec![all[1], all[2], all[3], all[6]];
    assert_eq!(keys(&iterate(fx, opts).await), want, "{name}");
    // Overlapping ranges send each record once.
    let opts = IteratorOptions::new()
        .range(all[0], all[5])
        .range(all[2], all[9]);
    assert_eq!(keys(&iterate(fx, opts).await), all, "{name}");
    // A zero range matches nothing (it is not "every key").
    let opts = IteratorOptions::new().range(Id::ZERO, Id::ZERO);
    assert!(iterate(fx, opts).await.is_empty(), "{name}");

    // Time range, both ends included: k3 (1003.7) .. k5 (1005.7).
    let opts = IteratorOptions::new().time_range(stamp(1003), stamp(1005));
    let s = fx.session();
    let want: Vec<Id> = {
        let mut v: Vec<Id> = (3..=5).map(|i| s.id(format!("k{i}").as_bytes())).collect();
        v.sort();
        v
    };
    assert_eq!(keys(&iterate(fx, opts).await), want, "{name}");

    // The backend owning a ring id, found through the route table.
    let ring = fx.client.route_table().ring(1);
    let target = IteratorTarget::Owner {
        id: ring[0].0,
        group: 1,
    };
    let stream = s.iterate(target, IteratorOptions::new()).await.unwrap();
    assert_eq!(keys(&collect(stream).await.0), all, "{name}");

    // Refusals come as the stream's only item.
    let reversed = IteratorOptions::new().range(all[3], all[1]);
    assert_eq!(refused(fx, fx.target(), reversed).await.status(), -34);
    let reversed = IteratorOptions::new().time_range(stamp(2), stamp(1));
    assert_eq!(refused(fx, fx.target(), reversed).await.status(), -34);
    let addr = fx.client.nodes()[0];
    let missing = IteratorTarget::Backend {
        addr,
        backend_id: 7,
    };
    let err = refused(fx, missing, IteratorOptions::new()).await;
    assert_eq!(err.status(), -95, "{name}: {err}");
    // No iterator 999 runs.
    let err = s
        .iterator_control(fx.target(), 999, IteratorAction::Pause)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{name}: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterator_lists_a_backend() {
    listing(&Fixture::ours().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oracle_iterator_lists_a_backend() {
    let Some(fx) = Fixture::real().await else {
        return;
    };
    listing(&fx).await;
}

/// Writes `n` one-byte keys stamped 500.
async fn write_many(fx: &Fixture, n: usize) {
    let s = fx.session().timestamp(Some(DnetTime {
        tsec: 500,
        tnsec: 0,
    }));
    stream::iter(0..n)
        .for_each_concurrent(64, |i| {
            let s = s.clone();
            async move {
                s.write(format!("many-{i}").as_bytes(), &b"x"[..], 1, 0)
                    .await
                    .unwrap();
            }
        })
        .await;
}

/// Entries until the stream ends or stays silent for `quiet` (the node stopped sending);
/// `true` when it ended.
async fn drain_until_quiet(stream: &mut IteratorStream, quiet: Duration) -> (usize, bool) {
    let mut n = 0;
    loop {
        match tokio::time::timeout(quiet, stream.next()).await {
            Ok(Some(e)) => {
                e.unwrap();
                n += 1;
            }
            Ok(None) => return (n, true),
            Err(_) => return (n, false),
        }
    }
}

/// Pause / continue, cancel mid-way, a stalled consumer, keep-alives, over `n` keys.
async fn flow(fx: &Fixture, n: usize) {
    let name = fx.name();
    let bound = fx.run_ahead_bound();
    write_many(fx, n).await;
    let s = fx.session();

    // A consumer that stops reading after 10 entries: the node runs ahead at most `bound`
    // records (it waits for the connection instead of buffering the backend), so a
    // cancel still finds it running; what was sent before the cancel still arrives, then
    // the stream ends cleanly as cancelled.
    let mut stream = s
        .iterate(fx.target(), IteratorOptions::new())
        .await
        .unwrap();
    for _ in 0..10 {
        stream.next().await.unwrap().unwrap();
    }
    // Not a synchronisation: the stall gives the node time to run as far ahead as it
    // would (both nodes iterate more than `n` records a second); the bound holds however
    // long the consumer stalls.
    tokio::time::sleep(STALL).await;
    let handle = stream.handle();
    assert_eq!(handle.id(), Some(0));
    handle.cancel().await.unwrap();
    let (rest, ended) = drain_until_quiet(&mut stream, Duration::from_secs(30)).await;
    assert!(ended, "{name}: the cancelled stream ends");
    assert_eq!(stream.end(), Some(IteratorEnd::Cancelled), "{name}");
    assert!(
        rest <= bound,
        "{name}: {rest} records arrived after the consumer stalled (bound {bound})"
    );
    assert!(10 + rest < n, "{name}");
    eprintln!("{name}: {rest} of {n} records arrived after a stall and a cancel");
    if let Some(node) = fx.our_node() {
        assert!(
            wait_until(Duration::from_secs(10), async || node
                .running_iterators()
                .is_empty())
            .await
        );
    }

    // Pause: once what was queued has arrived, nothing more comes, the stream does not
    // end nor time out (silence is awaited for longer than the 1 s timeout); continue: the
    // rest arrives.
    let mut stream = s
        .clone()
        .timeout(Duration::from_secs(1))
        .iterate(fx.target(), IteratorOptions::new())
        .await
        .unwrap();
    for _ in 0..10 {
        stream.next().await.unwrap().unwrap();
    }
    let handle = stream.handle();
    handle.pause().await.unwrap();
    assert!(handle.is_paused());
    let (queued, ended) = drain_until_quiet(&mut stream, Duration::from_millis(1500)).await;
    assert!(!ended, "{name}: a paused iterator does not end");
    assert!(
        10 + queued < n,
        "{name}: {queued} records arrived while paused"
    );
    eprintln!("{name}: {queued} of {n} records arrived while paused");
    if let Some(node) = fx.our_node() {
        assert_eq!(node.running_iterators(), vec![0]);
    }
    handle.resume().await.unwrap();
    let (rest, ended) = drain_until_quiet(&mut stream, Duration::from_secs(30)).await;
    assert!(ended, "{name}");
    assert_eq!(10 + queued + rest, n, "{name}: every record once");
    assert_eq!(stream.end(), Some(IteratorEnd::Completed));
    assert_eq!(stream.progress().iterated_keys, n as u64);

    // A time range that skips everything: no entry, but a keep-alive per 10000 records.
    let opts = IteratorOptions::new().time_range(stamp(600), stamp(700));
    let mut stream = s.iterate(fx.target(), opts).await.unwrap();
    assert!(stream.next().await.is_none(), "{name}");
    assert_eq!(stream.end(), Some(IteratorEnd::Completed));
    let p = stream.progress();
    assert_eq!(p.iterated_keys, (n as u64 / 10_000) * 10_000, "{name}");
    assert_eq!(p.total_keys, n as u64, "{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterator_flow_control() {
    let fx = Fixture::ours().await;
    flow(&fx, fx.flow_keys()).await;
    // Dropping a stream mid-way stops the node's iterator too.
    let mut stream = fx
        .session()
        .iterate(fx.target(), IteratorOptions::new())
        .await
        .unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    let node = fx.our_node().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), async || node
            .running_iterators()
            .is_empty())
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oracle_iterator_flow_control() {
    let Some(fx) = Fixture::real().await else {
        return;
    };
    flow(&fx, fx.flow_keys()).await;
}

/// With data, our node bounds the bytes it has queued, not only the replies: a stalled
/// consumer of 32 KiB records holds the node back within a few hundred records. (A real
/// node counts replies only — up to 102400 whatever their size — so it would read and
/// queue all of these; not asserted against it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterator_with_data_bounds_queued_bytes() {
    let fx = Fixture::ours().await;
    let s = fx.session();
    let value = vec![0x5a_u8; 32 << 10];
    let n = 2000;
    stream::iter(0..n)
        .for_each_concurrent(32, |i| {
            let (s, value) = (s.clone(), value.clone());
            async move {
                s.write(
                    format!("big-{i}").as_bytes(),
                    &value[..],
                    value.len() as u64,
                    0,
                )
                .await
                .unwrap();
            }
        })
        .await;
    let mut stream = s
        .iterate(fx.target(), IteratorOptions::new().data(true))
        .await
        .unwrap();
    for _ in 0..5 {
        let e = stream.next().await.unwrap().unwrap();
        assert_eq!(e.data.unwrap().len(), value.len());
    }
    // Room for the node to run ahead, not a synchronisation (see `flow`).
    tokio::time::sleep(STALL).await;
    stream.handle().cancel().await.unwrap();
    let (rest, ended) = drain_until_quiet(&mut stream, Duration::from_secs(30)).await;
    assert!(ended);
    assert_eq!(stream.end(), Some(IteratorEnd::Cancelled));
    // 8 MiB of queued data, 4 MiB node socket buffer, 2 MiB of ours, a read buffer, the
    // channel: about 460 records of 32 KiB.
    assert!(
        rest <= 600,
        "{rest} records of 32 KiB arrived after the consumer stalled"
    );
    eprintln!("our node: {rest} of {n} records of 32 KiB arrived after a stall and a cancel");
}

/// A raw connection (handshake done) for requests the client API does not build.
struct Raw {
    sock: tokio::net::TcpStream,
    dec: elliptics::proto::FrameDecoder,
    buf: bytes::BytesMut,
    trans: u64,
}

impl Raw {
    async fn connect(fx: &Fixture) -> Raw {
        use tokio::io::AsyncWriteExt;
        let info = &fx.client.node_info()[0];
        let mut sock = tokio::net::TcpStream::connect(info.addr.0).await.unwrap();
        let hello = elliptics::proto::request::reverse_lookup(info.version);
        sock.write_all(&hello.to_bytes()).await.unwrap();
        let mut raw = Raw {
            sock,
            dec: elliptics::proto::FrameDecoder::new(64 << 20),
            buf: bytes::BytesMut::new(),
            trans: 0,
        };
        raw.next().await;
        raw
    }

    async fn next(&mut self) -> elliptics::proto::Frame {
        use tokio::io::AsyncReadExt;
        loop {
            if let Some(f) = self.dec.decode(&mut self.buf).unwrap() {
                return f;
            }
            let read = self.sock.read_buf(&mut self.buf);
            let n = tokio::time::timeout(Duration::from_secs(10), read)
                .await
                .expect("the node answers")
                .unwrap();
            assert!(n > 0, "the node closed the connection");
        }
    }

    /// Sends `frame` and returns its replies, the final one last.
    async fn run(&mut self, mut frame: elliptics::proto::Frame) -> Vec<elliptics::proto::Frame> {
        use tokio::io::AsyncWriteExt;
        self.trans += 1;
        frame.header.trans = self.trans;
        self.sock.write_all(&frame.to_bytes()).await.unwrap();
        let mut out = Vec::new();
        loop {
            let f = self.next().await;
            assert_eq!(f.header.trans, self.trans);
            let more = f.header.has_more();
            out.push(f);
            if !more {
                return out;
            }
        }
    }
}

/// Requests the client never sends, answered with the real server's statuses, reply
/// flags and backend ids; and the layout of the replies (140-byte responses, data after).
async fn refusals(fx: &Fixture) {
    use elliptics::proto::{
        CmdFlags, Frame, GroupId, IteratorFlags, IteratorRequest, IteratorType, request,
    };
    let name = fx.name();
    let s = fx.session();
    s.write(b"one", &b"12345"[..], 5, 0).await.unwrap();
    let direct = CmdFlags::DIRECT | CmdFlags::DIRECT_BACKEND;
    let frame = |req: &IteratorRequest, backend: i32| {
        request::iterator(GroupId::new(Id::ZERO, 1), backend, direct, req)
    };
    let with_payload =
        |f: Frame, payload: Vec<u8>| Frame::new(f.header, payload.into(), Bytes::new());
    let start = IteratorRequest::start();
    let mut raw = Raw::connect(fx).await;

    // One record with its data: 140-byte response + 5 bytes, MORE, then the ACK.
    let mut data = start.clone();
    data.flags = IteratorFlags::DATA;
    let replies = raw.run(frame(&data, 1)).await;
    assert_eq!(replies.len(), 2, "{name}");
    let (rec, ack) = (&replies[0].header, &replies[1].header);
    let want = direct | CmdFlags::NOLOCK | CmdFlags::REPLY;
    assert_eq!(rec.flags, want | CmdFlags::MORE, "{name}");
    assert_eq!(
        (rec.size, rec.backend_id, rec.status),
        (145, 1, 0),
        "{name}"
    );
    assert_eq!(&replies[0].payload[140..], b"12345");
    assert_eq!((ack.flags, ack.size, ack.status), (want, 0, 0), "{name}");

    let bare = |status: i32, backend: i32| (status, backend);
    let mut cases: Vec<(&str, Frame, (i32, i32))> = Vec::new();
    let mut r = start.clone();
    r.itype = IteratorType::Disk;
    cases.push(("DISK", frame(&r, 1), bare(-95, 1)));
    r.itype = IteratorType::ServerSend;
    cases.push(("SERVER_SEND without groups", frame(&r, 1), bare(-22, 1)));
    r.itype = IteratorType::Other(9);
    cases.push(("type 9", frame(&r, 1), bare(-95, 1)));
    let mut r = start.clone();
    r.flags = IteratorFlags(0x40);
    cases.push(("unknown flag", frame(&r, 1), bare(-95, 1)));
    let control = |action| IteratorRequest::control(999, action);
    cases.push((
        "action 9",
        frame(&control(IteratorAction::Other(9)), 1),
        bare(-22, 1),
    ));
    cases.push((
        "cancel 999",
        frame(&control(IteratorAction::Cancel), 1),
        bare(-2, 1),
    ));
    cases.push((
        "continue 999",
        frame(&control(IteratorAction::Continue), 1),
        bare(-2, 1),
    ));
    cases.push(("backend 7", frame(&start, 7), bare(-95, -1)));
    let good = frame(&start, 1);
    let mut lying = good.payload.to_vec();
    lying[12..20].copy_from_slice(&1u64.to_le_bytes());
    cases.push((
        "range_num lies",
        with_payload(good.clone(), lying),
        bare(-22, 1),
    ));
    let mut long = good.payload.to_vec();
    long.extend_from_slice(&[0; 10]);
    cases.push((
        "trailing bytes",
        with_payload(good.clone(), long),
        bare(-22, 1),
    ));
    let short = good.payload[..50].to_vec();
    cases.push(("short payload", with_payload(good, short), bare(-22, 1)));
    for (label, f, (status, backend)) in cases {
        let replies = raw.run(f).await;
        assert_eq!(replies.len(), 1, "{name}: {label}");
        let h = replies[0].header;
        assert_eq!(
            (h.status, h.backend_id),
            (status, backend),
            "{name}: {label}"
        );
        assert_eq!(h.flags, want, "{name}: {label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterator_refuses_like_the_real_server() {
    refusals(&Fixture::ours().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oracle_iterator_refusals() {
    let Some(fx) = Fixture::real().await else {
        return;
    };
    refusals(&fx).await;
}
