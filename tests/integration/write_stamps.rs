//! Protocol facts the object layout relies on, checked on our node and on a real
//! Elliptics 3.0 node alike: a WRITE with `CAS_TIMESTAMP` is refused (-77) when the stored
//! record is newer, accepted when it is older or equal; `user_flags` and the timestamp
//! of a WRITE come back on READ.

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
