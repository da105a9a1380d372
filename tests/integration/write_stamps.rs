//! Protocol facts the object layout and the key index rely on, checked on our node and on
//! a real Elliptics 3.0 node alike: a WRITE with `CAS_TIMESTAMP` is refused (-77) when the
//! stored record is newer, accepted when it is older or equal; `user_flags` and the
//! timestamp of a WRITE come back on READ; APPENDs to one key from many connections at
//! once all land, whole.

use elliptics::Session;
use elliptics::proto::{DnetTime, IoFlags};
use futures_util::TryStreamExt;

use backrunner_tests::oracle::OracleCluster;
use backrunner_tests::{connect, start_two_groups};

fn at(tsec: u64, tnsec: u64) -> Option<DnetTime> {
    Some(DnetTime { tsec, tnsec })
}

async fn write(
    s: &Session,
    key: &str,
    data: &'static [u8],
    ts: Option<DnetTime>,
    uf: u64,
) -> Vec<Result<(), i32>> {
    let out = s
        .clone()
        .ioflags(IoFlags::CAS_TIMESTAMP)
        .timestamp(ts)
        .user_flags(uf)
        .write(key.as_bytes(), data, data.len() as u64, 0)
        .await;
    match out {
        Ok(o) => o
            .results
            .iter()
            .map(|r| r.result.as_ref().map(|_| ()).map_err(|e| e.status()))
            .collect(),
        Err(e) => vec![Err(e.status())],
    }
}

async fn read(s: &Session, key: &str) -> (Vec<u8>, u64, DnetTime) {
    let stream = s.read(key.as_bytes(), 0, 0).await.unwrap();
    let (uf, ts) = (stream.user_flags(), stream.timestamp());
    let data: Vec<u8> = stream
        .try_fold(Vec::new(), |mut a, b| async move {
            a.extend_from_slice(&b);
            Ok(a)
        })
        .await
        .unwrap();
    (data, uf, ts)
}

async fn facts(s: Session) {
    assert_eq!(
        write(&s, "k", b"second", at(2000, 5), 7).await,
        vec![Ok(())]
    );
    assert_eq!(
        read(&s, "k").await,
        (
            b"second".to_vec(),
            7,
            DnetTime {
                tsec: 2000,
                tnsec: 5
            }
        )
    );
    // Older: refused, the newer record stays.
    assert_eq!(
        write(&s, "k", b"first", at(2000, 4), 8).await,
        vec![Err(-77)]
    );
    assert_eq!(read(&s, "k").await.0, b"second");
    // Equal: accepted.
    assert_eq!(write(&s, "k", b"same", at(2000, 5), 9).await, vec![Ok(())]);
    assert_eq!(
        read(&s, "k").await,
        (
            b"same".to_vec(),
            9,
            DnetTime {
                tsec: 2000,
                tnsec: 5
            }
        )
    );
    // Newer: accepted.
    assert_eq!(write(&s, "k", b"third", at(2001, 0), 0).await, vec![Ok(())]);
    assert_eq!(read(&s, "k").await.0, b"third");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_timestamp_and_user_flags_on_our_node() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _b) = start_two_groups(dir.path()).await;
    let client = connect(&[a.addr()]).await;
    facts(client.session().groups(vec![1]).namespace("t")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_timestamp_and_user_flags_on_real_elliptics() {
    let Some(cluster) = OracleCluster::start(&[1]).await else {
        return;
    };
    let client = cluster.connect().await;
    facts(client.session().groups(vec![1]).namespace("t")).await;
}

/// Eight connections append 300 self-checking 40-byte entries each to one key at once:
/// every entry is there once, none torn.
async fn concurrent_appends(cfg: elliptics::ClientConfig) {
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(elliptics::Client::connect(cfg.clone()).await.unwrap());
    }
    let writers = clients.iter().enumerate().map(|(w, c)| async move {
        let s = c
            .session()
            .groups(vec![1])
            .namespace("t")
            .ioflags(IoFlags::APPEND);
        for i in 0..300u32 {
            let mut entry = format!("w{w:02}-{i:06}-").into_bytes();
            entry.resize(36, b'x');
            let crc = crc32fast::hash(&entry);
            entry.extend_from_slice(&crc.to_le_bytes());
            s.write(b"journal", &entry[..], entry.len() as u64, 0)
                .await
                .unwrap();
        }
    });
    futures_util::future::join_all(writers).await;
    let s = clients[0].session().groups(vec![1]).namespace("t");
    let (data, _, _) = read(&s, "journal").await;
    assert_eq!(data.len(), 8 * 300 * 40);
    let mut seen = std::collections::HashSet::new();
    for e in data.chunks(40) {
        assert_eq!(
            crc32fast::hash(&e[..36]).to_le_bytes(),
            e[36..],
            "a torn entry"
        );
        assert!(seen.insert(e[..12].to_vec()), "an entry twice");
    }
    assert_eq!(seen.len(), 2400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_on_our_node() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _b) = start_two_groups(dir.path()).await;
    concurrent_appends(backrunner_tests::client_config(&[a.addr()])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_on_real_elliptics() {
    let Some(cluster) = OracleCluster::start(&[1]).await else {
        return;
    };
    concurrent_appends(cluster.client_config()).await;
}
