//! The key index (`backrunner_store::index`) over real storage: a model test of random
//! puts, deletes, missing commits, crashed writers and compactions against a `BTreeMap`;
//! several `BucketIndex` instances (as separate proxies) writing thousands of keys with
//! nested prefixes, unicode, spaces and `%` at once, with compactions running, and the
//! listing equal to the model with prefix/delimiter/start-after/pagination as S3's
//! ListObjectsV2 gives them; a listing paged while writers run; group 2 down and back;
//! a node killed mid-compaction; compare-and-swap writes as the index uses them. On our node and on real Elliptics 3.0.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backrunner_store::index::{BucketIndex, IndexOptions, ListRequest};
use backrunner_store::object::stamp::write_stamp;
use backrunner_store::object::{RecordKind, TOMBSTONE_BYTES};
use backrunner_tests::oracle::OracleCluster;
use backrunner_tests::{
    BackendSpec, NodeProcess, client_config, connect, node_config, start_two_groups, wait_until,
};
use bytes::Bytes;
use elliptics::proto::{DnetTime, Id, IoFlags};
use elliptics::{Client, ClientConfig, Session};
use proptest::prelude::*;

use crate::payload;

/// What a key holds: size and stamp.
type Model = BTreeMap<Vec<u8>, (u64, DnetTime)>;

static NONCE: AtomicU64 = AtomicU64::new(1);

fn stamp() -> DnetTime {
    write_stamp(&NONCE.fetch_add(1, Ordering::Relaxed).to_le_bytes())
}

fn objects(client: &Client, bucket: &str) -> Session {
    client.session().groups(vec![1, 2]).namespace(bucket)
}

/// Writes an object's single checked record with `stamp`, as `object::write_object` does.
async fn put_object(s: &Session, key: &[u8], size: usize, stamp: DnetTime) {
    let data = payload(stamp.tnsec ^ size as u64, size);
    let kind = RecordKind::CheckedData(crc32fast::hash(&data));
    s.clone()
        .ioflags(IoFlags::CAS_TIMESTAMP)
        .timestamp(Some(stamp))
        .user_flags(kind.user_flags())
        .write(key, &data[..], size as u64, 0)
        .await
        .unwrap();
}

/// Writes a tombstone with `stamp`, as `object::remove_object` does.
async fn delete_object(s: &Session, key: &[u8], stamp: DnetTime) {
    s.clone()
        .ioflags(IoFlags::CAS_TIMESTAMP)
        .timestamp(Some(stamp))
        .user_flags(RecordKind::Tombstone.user_flags())
        .write(key, TOMBSTONE_BYTES, TOMBSTONE_BYTES.len() as u64, 0)
        .await
        .unwrap();
}

/// An upload as the proxy will do it: intent, object, commit.
async fn upload(index: &BucketIndex, s: &Session, key: &[u8], size: usize) -> DnetTime {
    let t = stamp();
    index.intent_put(key, t).await.unwrap();
    put_object(s, key, size, t).await;
    index
        .commit(key, t, size as u64, Some("\"e\""))
        .await
        .unwrap();
    t
}

async fn delete(index: &BucketIndex, s: &Session, key: &[u8]) {
    let t = stamp();
    index.intent_delete(key, t).await.unwrap();
    delete_object(s, key, t).await;
    index.commit_delete(key, t).await.unwrap();
}

/// One item of a listing: a key (with size) or a common prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Key(Vec<u8>, u64),
    Prefix(Vec<u8>),
}

/// What ListObjectsV2 returns for the whole listing (before paging).
fn expected(
    model: &Model,
    prefix: &[u8],
    delimiter: &[u8],
    start_after: Option<&[u8]>,
) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    for (k, (size, _)) in model.range(prefix.to_vec()..) {
        if !k.starts_with(prefix) {
            break;
        }
        if start_after.is_some_and(|s| k.as_slice() <= s) {
            continue;
        }
        let rest = &k[prefix.len()..];
        let folded = (!delimiter.is_empty())
            .then(|| rest.windows(delimiter.len()).position(|w| w == delimiter))
            .flatten();
        match folded {
            Some(i) => {
                let p = k[..prefix.len() + i + delimiter.len()].to_vec();
                if out.last() != Some(&Item::Prefix(p.clone())) {
                    out.push(Item::Prefix(p));
                }
            }
            None => out.push(Item::Key(k.clone(), *size)),
        }
    }
    out
}

/// Pages through a listing with `max_keys` per page, checking every page's shape.
async fn list_all(
    index: &BucketIndex,
    prefix: &[u8],
    delimiter: &[u8],
    start_after: Option<&[u8]>,
    max_keys: usize,
) -> Vec<Item> {
    let mut out = Vec::new();
    let mut token = None;
    for _ in 0..100_000 {
        let page = index
            .list(&ListRequest {
                prefix: prefix.to_vec(),
                delimiter: delimiter.to_vec(),
                start_after: start_after.map(<[u8]>::to_vec),
                continuation_token: token.clone(),
                max_keys: Some(max_keys),
            })
            .await
            .unwrap();
        let n = page.entries.len() + page.common_prefixes.len();
        assert!(n <= max_keys.min(1000));
        let mut items: Vec<Item> = page
            .entries
            .iter()
            .map(|e| Item::Key(e.key.clone(), e.size))
            .chain(page.common_prefixes.iter().cloned().map(Item::Prefix))
            .collect();
        items.sort_by(|a, b| item_key(a).cmp(item_key(b)));
        out.extend(items);
        match page.is_truncated {
            true => {
                assert_eq!(n, max_keys.min(1000), "a truncated page is full");
                token = Some(page.next_continuation_token.expect("token when truncated"));
            }
            false => return out,
        }
    }
    panic!("listing never ended");
}

fn item_key(i: &Item) -> &[u8] {
    match i {
        Item::Key(k, _) | Item::Prefix(k) => k,
    }
}

async fn assert_listing(index: &BucketIndex, model: &Model) {
    let want = expected(model, b"", b"", None);
    assert_eq!(list_all(index, b"", b"", None, 1000).await, want);
    let usage = index.usage().await.unwrap();
    assert_eq!(usage.objects, model.len() as u64);
    assert_eq!(usage.bytes, model.values().map(|(s, _)| s).sum::<u64>());
}

fn model_options() -> IndexOptions {
    // Steps run one after another: no writer can be mid-append at a switch, so no grace.
    IndexOptions {
        state_ttl: Duration::ZERO,
        switch_grace: Duration::ZERO,
        retire_grace: Duration::ZERO,
        intent_grace: Duration::ZERO,
        auto_compact: false,
        lanes: 2,
        ..IndexOptions::default()
    }
}

fn concurrent_options() -> IndexOptions {
    IndexOptions {
        state_ttl: Duration::from_millis(100),
        append_timeout: Duration::from_secs(2),
        switch_grace: Duration::from_millis(2500),
        retire_grace: Duration::from_millis(500),
        intent_grace: Duration::from_secs(60),
        auto_compact: false,
        ..IndexOptions::default()
    }
}

// ---------------------------------------------------------------------------------------
// Model test.

#[derive(Debug, Clone)]
enum Op {
    /// Intent, object, commit.
    Put(usize, usize),
    /// Intent and object; the writer died before its commit.
    PutNoCommit(usize, usize),
    /// Intent only; the writer died before the object.
    PutCrashed(usize),
    Delete(usize),
    DeleteNoCommit(usize),
    DeleteCrashed(usize),
    /// Compaction, by another instance.
    Compact,
    /// A listing page by page, compared with the model.
    Check(usize),
}

const MODEL_KEYS: &[&str] = &[
    "a",
    "a/b",
    "a/b/c",
    "a/c",
    "a b",
    "a%20b",
    "ünï/κλειδί",
    "z/😀",
    "a/",
    "b/x/y",
    "b/x/z",
    "",
];

fn op_strategy() -> impl Strategy<Value = Op> {
    let k = 0..MODEL_KEYS.len() - 1; // the empty key is not a valid object key
    prop_oneof![
        6 => (k.clone(), 0usize..300).prop_map(|(k, s)| Op::Put(k, s)),
        2 => (k.clone(), 0usize..300).prop_map(|(k, s)| Op::PutNoCommit(k, s)),
        1 => k.clone().prop_map(Op::PutCrashed),
        3 => k.clone().prop_map(Op::Delete),
        1 => k.clone().prop_map(Op::DeleteNoCommit),
        1 => k.clone().prop_map(Op::DeleteCrashed),
        2 => Just(Op::Compact),
        2 => (1usize..5).prop_map(Op::Check),
    ]
}

async fn run_model_case(client: &Client, case: u64, ops: &[Op]) {
    let bucket = format!("model-{case}-{}", NONCE.fetch_add(1, Ordering::Relaxed));
    let s = objects(client, &bucket);
    let writer = BucketIndex::new(&s, model_options());
    let other = BucketIndex::new(&s, model_options());
    let mut model = Model::new();
    for op in ops {
        match op {
            Op::Put(k, size) | Op::PutNoCommit(k, size) => {
                let key = MODEL_KEYS[*k].as_bytes();
                let t = stamp();
                writer.intent_put(key, t).await.unwrap();
                put_object(&s, key, *size, t).await;
                if matches!(op, Op::Put(..)) {
                    writer.commit(key, t, *size as u64, None).await.unwrap();
                }
                model.insert(key.to_vec(), (*size as u64, t));
            }
            Op::PutCrashed(k) => {
                writer
                    .intent_put(MODEL_KEYS[*k].as_bytes(), stamp())
                    .await
                    .unwrap();
            }
            Op::Delete(k) | Op::DeleteNoCommit(k) => {
                let key = MODEL_KEYS[*k].as_bytes();
                let t = stamp();
                writer.intent_delete(key, t).await.unwrap();
                delete_object(&s, key, t).await;
                if matches!(op, Op::Delete(..)) {
                    writer.commit_delete(key, t).await.unwrap();
                }
                model.remove(key);
            }
            Op::DeleteCrashed(k) => {
                writer
                    .intent_delete(MODEL_KEYS[*k].as_bytes(), stamp())
                    .await
                    .unwrap();
            }
            Op::Compact => {
                other.compact().await.unwrap();
            }
            Op::Check(max) => {
                let got = list_all(&other, b"", b"", None, *max).await;
                assert_eq!(got, expected(&model, b"", b"", None));
                let got = list_all(&writer, b"a", b"/", None, *max).await;
                assert_eq!(got, expected(&model, b"a", b"/", None));
            }
        }
    }
    assert_listing(&other, &model).await;
    // Every stamp is the object's own.
    let page = other.list(&ListRequest::default()).await.unwrap();
    for e in page.entries {
        assert_eq!(model[&e.key].1, e.stamp);
    }
    other.compact().await.unwrap();
    assert_listing(&writer, &model).await;
}

#[test]
fn index_model_on_our_node() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (a, b, client) = rt.block_on(async {
        let (a, b) = start_two_groups(dir.path()).await;
        let client = connect(&[a.addr(), b.addr()]).await;
        (a, b, client)
    });
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 24,
        max_shrink_iters: 50,
        ..ProptestConfig::default()
    });
    let case = AtomicU64::new(0);
    runner
        .run(&proptest::collection::vec(op_strategy(), 1..30), |ops| {
            let n = case.fetch_add(1, Ordering::Relaxed);
            rt.block_on(run_model_case(&client, n, &ops));
            Ok(())
        })
        .unwrap();
    rt.block_on(async {
        client.shutdown().await;
        b.shutdown().await;
        a.shutdown().await;
    });
}

// ---------------------------------------------------------------------------------------
// Scenarios on our node and on real Elliptics.

/// A key of the `i`-th object: nested prefixes, unicode, spaces, `%`.
fn key_of(i: usize) -> Vec<u8> {
    let dirs = ["photos", "logs", "ünïcødé", "with space", "pct%2F", "a"];
    format!(
        "{}/{:02}/{} {}%{}",
        dirs[i % dirs.len()],
        (i / 7) % 13,
        ["x", "κ", "file", "🙂"][i % 4],
        i,
        i % 3
    )
    .into_bytes()
}

/// `writers` instances (each with a client of its own, as separate proxies) write `keys`
/// keys concurrently — uploads, overwrites with other sizes, deletes — while `compactions`
/// run; returns the model.
async fn concurrent_writes(
    clients: &[Client],
    bucket: &str,
    keys: usize,
    tasks_per_client: usize,
    compactions: usize,
) -> Model {
    let indexes: Vec<(BucketIndex, Session)> = clients
        .iter()
        .map(|c| {
            let s = objects(c, bucket);
            (BucketIndex::new(&s, concurrent_options()), s)
        })
        .collect();
    let tasks = indexes.len() * tasks_per_client;
    let writers = (0..tasks).map(|w| {
        let (index, s) = indexes[w % indexes.len()].clone();
        async move {
            let mut model = Model::new();
            for i in (w..keys).step_by(tasks) {
                let key = key_of(i);
                let t = upload(&index, &s, &key, 10 + i % 50).await;
                model.insert(key.clone(), ((10 + i % 50) as u64, t));
                match i % 5 {
                    0 => {
                        let t = upload(&index, &s, &key, 100 + i % 7).await;
                        model.insert(key.clone(), ((100 + i % 7) as u64, t));
                    }
                    1 => {
                        delete(&index, &s, &key).await;
                        model.remove(&key);
                    }
                    _ => {}
                }
            }
            model
        }
    });
    let compactor = {
        let (index, _) = indexes[0].clone();
        async move {
            for _ in 0..compactions {
                tokio::time::sleep(Duration::from_millis(300)).await;
                loop {
                    match index.compact().await {
                        Ok(_) => break,
                        Err(backrunner_store::index::IndexError::Busy) => continue,
                        Err(e) => panic!("compaction failed: {e}"),
                    }
                }
            }
        }
    };
    let (models, ()) =
        futures_util::future::join(futures_util::future::join_all(writers), compactor).await;
    models.into_iter().flatten().collect()
}

async fn check_s3_semantics(index: &BucketIndex, model: &Model) {
    assert_eq!(
        list_all(index, b"", b"", None, 1000).await,
        expected(model, b"", b"", None)
    );
    assert_eq!(
        list_all(index, b"", b"", None, 333).await,
        expected(model, b"", b"", None)
    );
    for (prefix, delimiter, start_after, max) in [
        (&b""[..], &b"/"[..], None, 1000),
        (b"", b"/", None, 2),
        (b"logs/", b"/", None, 5),
        ("ünïcødé/0".as_bytes(), b"", None, 50),
        (b"with space/", b"/", Some(&b"with space/03"[..]), 4),
        (b"pct%2F/1", b" ", None, 7),
        (b"", b"", Some(&b"photos/05"[..]), 250),
        (b"a/", b"%", Some(&b"a/01/x"[..]), 3),
        (b"nothing-here/", b"/", None, 10),
        (b"photos/", b"/", Some(&b"zzz"[..]), 10),
    ] {
        assert_eq!(
            list_all(index, prefix, delimiter, start_after, max).await,
            expected(model, prefix, delimiter, start_after),
            "prefix {:?} delimiter {:?} start-after {:?} max {max}",
            String::from_utf8_lossy(prefix),
            String::from_utf8_lossy(delimiter),
            start_after.map(String::from_utf8_lossy),
        );
    }
    // A token survives a compaction between pages.
    let first = index
        .list(&ListRequest {
            max_keys: Some(100),
            ..ListRequest::default()
        })
        .await
        .unwrap();
    index.compact().await.unwrap();
    let second = index
        .list(&ListRequest {
            max_keys: Some(100),
            continuation_token: first.next_continuation_token.clone(),
            ..ListRequest::default()
        })
        .await
        .unwrap();
    let want = expected(model, b"", b"", None);
    let got: Vec<Item> = first
        .entries
        .iter()
        .chain(&second.entries)
        .map(|e| Item::Key(e.key.clone(), e.size))
        .collect();
    assert_eq!(got, want[..got.len()]);
    assert_eq!(got.len(), 200.min(want.len()));
    // Bad tokens are refused.
    assert!(
        index
            .list(&ListRequest {
                continuation_token: Some("not-a-token".into()),
                ..ListRequest::default()
            })
            .await
            .is_err()
    );
}

/// A listing paged while writers add and delete other keys: every key present for the
/// whole listing appears exactly once, in order.
async fn paged_while_writing(clients: &[Client], bucket: &str) {
    let s = objects(&clients[0], bucket);
    let index = BucketIndex::new(&s, concurrent_options());
    let stable: Vec<Vec<u8>> = (0..600)
        .map(|i| format!("k{i:04}/s").into_bytes())
        .collect();
    let (index_ref, s_ref) = (&index, &s);
    futures_util::future::join_all(stable.chunks(75).map(|c| async move {
        for k in c {
            upload(index_ref, s_ref, k, 5).await;
        }
    }))
    .await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = clients.iter().enumerate().map(|(w, c)| {
        let stop = Arc::clone(&stop);
        let s = objects(c, bucket);
        let index = BucketIndex::new(&s, concurrent_options());
        async move {
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("k{:04}/c", (i * 37) % 600).into_bytes();
                upload(&index, &s, &key, 3).await;
                if i % 3 == 0 {
                    delete(&index, &s, &key).await;
                }
                i += clients.len();
            }
        }
    });
    let lister = async {
        let reader = BucketIndex::new(
            &objects(&clients[1 % clients.len()], bucket),
            concurrent_options(),
        );
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut token = None;
        let mut pages = 0;
        loop {
            let page = reader
                .list(&ListRequest {
                    max_keys: Some(50),
                    continuation_token: token.clone(),
                    ..ListRequest::default()
                })
                .await
                .unwrap();
            seen.extend(page.entries.into_iter().map(|e| e.key));
            pages += 1;
            if pages == 4 {
                // A compaction in the middle of the listing.
                reader.compact().await.unwrap();
            }
            match page.next_continuation_token {
                Some(t) if page.is_truncated => token = Some(t),
                _ => break,
            }
        }
        stop.store(true, Ordering::Relaxed);
        seen
    };
    let (seen, _) = futures_util::future::join(lister, futures_util::future::join_all(churn)).await;
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing, no key twice"
    );
    let seen: BTreeSet<Vec<u8>> = seen.into_iter().collect();
    for k in &stable {
        assert!(seen.contains(k), "{} missing", String::from_utf8_lossy(k));
    }
}

/// Compare-and-swap writes as the index uses them: a missing record matches anything, the
/// SHA-512 of the stored bytes matches, anything else is refused with -77 per group.
async fn cas_facts(client: &Client) {
    let s = client.session().groups(vec![1, 2]).namespace("cas");
    let first = Bytes::from_static(b"first");
    s.write_cas(b"k", first.clone(), Id::ZERO).await.unwrap();
    let out = s
        .write_cas(b"k", Bytes::from_static(b"second"), Id::checksum(b"other"))
        .await;
    match out {
        Err(e) => assert_eq!(e.status(), -77, "{e}"),
        Ok(o) => panic!("a wrong checksum was accepted: {o:?}"),
    }
    let out = s
        .write_cas(b"k", Bytes::from_static(b"second"), Id::checksum(&first))
        .await
        .unwrap();
    assert!(out.results.iter().all(|r| r.is_ok()));
    assert_eq!(crate::read_all(&s, b"k", 0, 0).await.unwrap(), b"second");
    // Per group: group 2 changed alone, so only group 1 takes the next swap.
    s.clone()
        .groups(vec![2])
        .write(b"k", &b"third"[..], 5, 0)
        .await
        .unwrap();
    let out = s
        .write_cas(b"k", Bytes::from_static(b"fourth"), Id::checksum(b"second"))
        .await
        .unwrap();
    let by_group: Vec<(u32, Option<i32>)> = out
        .results
        .iter()
        .map(|r| (r.group, r.result.as_ref().err().map(|e| e.status())))
        .collect();
    assert_eq!(by_group, vec![(1, None), (2, Some(-77))]);
}

async fn scenarios(cfg: ClientConfig, bucket: &str, keys: usize) {
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::connect(cfg.clone()).await.unwrap());
    }
    cas_facts(&clients[0]).await;
    let model = concurrent_writes(&clients, bucket, keys, 4, 2).await;
    for c in &clients {
        let index = BucketIndex::new(&objects(c, bucket), concurrent_options());
        assert_listing(&index, &model).await;
    }
    let index = BucketIndex::new(&objects(&clients[1], bucket), concurrent_options());
    check_s3_semantics(&index, &model).await;
    paged_while_writing(&clients, &format!("{bucket}-paged")).await;
    for c in clients {
        c.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_scenarios_on_our_node() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = start_two_groups(dir.path()).await;
    scenarios(client_config(&[a.addr(), b.addr()]), "bucket", 2400).await;
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_scenarios_on_real_elliptics() {
    let Some(cluster) = OracleCluster::start(&[1, 2]).await else {
        return;
    };
    scenarios(cluster.client_config(), "bucket", 1500).await;
}

/// Group 2 down: intents, uploads and deletes still succeed and list; back up, the
/// listing converges and compaction (which needs every group) works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_with_group_two_down_on_our_node() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = start_two_groups(dir.path()).await;
    let b_port = b.addr().0.port();
    let client = connect(&[a.addr(), b.addr()]).await;
    let s = objects(&client, "down");
    let index = BucketIndex::new(&s, concurrent_options());
    let mut model = Model::new();
    for i in 0..200 {
        let key = key_of(i);
        let t = upload(&index, &s, &key, i).await;
        model.insert(key, (i as u64, t));
    }
    index.compact().await.unwrap();
    b.shutdown().await;
    // A fresh instance (no cached state), as a proxy started meanwhile.
    let index = BucketIndex::new(&s, concurrent_options());
    for i in 150..300 {
        let key = key_of(i);
        match i % 4 {
            0 => {
                delete(&index, &s, &key).await;
                model.remove(&key);
            }
            _ => {
                let t = upload(&index, &s, &key, i + 1).await;
                model.insert(key, ((i + 1) as u64, t));
            }
        }
    }
    assert_listing(&index, &model).await;
    assert!(
        index.compact().await.is_err(),
        "compaction needs every group"
    );
    let cfg = node_config(
        &dir.path().join("b"),
        b_port,
        &[backrunner_tests::BackendSpec::new(1, 2)],
        &[a.addr()],
        "never",
    );
    let b = backrunner_node::Node::start(cfg.validate().unwrap())
        .await
        .unwrap();
    let back = async || index.compact().await.is_ok();
    assert!(backrunner_tests::wait_until(Duration::from_secs(30), back).await);
    assert_listing(&index, &model).await;
    // After that compaction, group 2 alone holds the whole index too.
    let only_two = BucketIndex::new(&s.clone().groups(vec![2]), concurrent_options());
    assert_listing(&only_two, &model).await;
    client.shutdown().await;
    b.shutdown().await;
    a.shutdown().await;
}

/// A storage node killed with SIGKILL while a compaction runs, at several points of it:
/// the compaction fails or finishes, writes go on meanwhile (to the group that is up), the
/// node restarts, the next compaction succeeds, and the listing equals the model: nothing
/// acknowledged is lost, nothing deleted comes back. Afterwards each group alone lists the
/// whole model (the last compaction wrote everything everywhere). Node processes, so the
/// kill is a real one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_compaction_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (p1, p2) = (
        backrunner_tests::ports::free_port(),
        backrunner_tests::ports::free_port(),
    );
    let (d1, d2) = (dir.path().join("n1"), dir.path().join("n2"));
    let n1 = NodeProcess::start(
        &d1,
        &node_config(&d1, p1, &[BackendSpec::new(1, 1)], &[], "never"),
    )
    .await;
    let mut n2 = NodeProcess::start(
        &d2,
        &node_config(&d2, p2, &[BackendSpec::new(1, 2)], &[n1.addr], "never"),
    )
    .await;
    let client = connect(&[n1.addr, n2.addr]).await;
    let both = async || client.nodes().len() == 2;
    assert!(wait_until(Duration::from_secs(20), both).await);
    let s = objects(&client, "killed");
    let options = IndexOptions {
        lanes: 4,
        ..model_options()
    };
    let index = BucketIndex::new(&s, options.clone());
    let mut model = Model::new();
    let mut next = 0usize;
    // The kill lands at a different point of each compaction: early (state switch,
    // journal reads), in the merge, and around the state write and the removals.
    for (round, delay_ms) in [0u64, 1, 2, 4, 7, 11, 30].into_iter().enumerate() {
        for _ in 0..400 {
            let key = key_of(next);
            let t = upload(&index, &s, &key, next % 700).await;
            model.insert(key, ((next % 700) as u64, t));
            next += 1;
        }
        for i in (round * 37..next).step_by(23).take(12) {
            let key = key_of(i);
            if model.remove(&key).is_some() {
                delete(&index, &s, &key).await;
            }
        }
        let compacting = {
            let index = index.clone();
            tokio::spawn(async move { index.compact().await })
        };
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        n2.kill9().await;
        let outcome = compacting.await.unwrap();
        eprintln!(
            "round {round}: kill after {delay_ms} ms, compaction: {:?}",
            outcome.map(|r| r.journal_entries)
        );
        // Writes go on with group 2 down.
        for _ in 0..50 {
            let key = key_of(next);
            let t = upload(&index, &s, &key, 3).await;
            model.insert(key, (3, t));
            next += 1;
        }
        n2 = NodeProcess::start_with(n2.config.clone()).await;
        let compacted = async || index.compact().await.is_ok();
        assert!(
            wait_until(Duration::from_secs(60), compacted).await,
            "round {round}: compaction never succeeded after the restart"
        );
        assert_listing(&index, &model).await;
    }
    index.compact().await.unwrap();
    for g in [1, 2] {
        let alone = BucketIndex::new(&s.clone().groups(vec![g]), options.clone());
        assert_listing(&alone, &model).await;
    }
    client.shutdown().await;
}

/// Measurements (run with `--run-ignored only`; prints figures): index bytes per key, the
/// time of a 1,000-key page, and keys/s paging through ~100k keys on our node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn index_measure_100k_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = start_two_groups(dir.path()).await;
    let client = connect(&[a.addr(), b.addr()]).await;
    let s = objects(&client, "measure");
    let options = IndexOptions {
        switch_grace: Duration::ZERO,
        auto_compact: false,
        ..IndexOptions::default()
    };
    let index = BucketIndex::new(&s, options.clone());
    let n = 100_000usize;
    let keys: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            format!(
                "data/{:03}/{:03}/object-{i:08}.bin",
                i % 997,
                (i / 997) % 101
            )
            .into_bytes()
        })
        .collect();
    let key_bytes: usize = keys.iter().map(Vec::len).sum();
    // Committed entries only (objects need not exist for committed entries to list), in
    // rounds of 10,000 with a compaction after each, as journals are kept small.
    let mut commits = Duration::ZERO;
    let mut compaction = Duration::ZERO;
    let mut written = 0u64;
    let mut report = None;
    for round in keys.chunks(10_000) {
        let start = std::time::Instant::now();
        futures_util::stream::StreamExt::for_each_concurrent(
            futures_util::stream::iter(round),
            256,
            |k| {
                let index = &index;
                async move {
                    index
                        .commit(k, stamp(), 4096, Some("\"etag\""))
                        .await
                        .unwrap();
                }
            },
        )
        .await;
        commits += start.elapsed();
        let start = std::time::Instant::now();
        let r = index.compact().await.unwrap();
        compaction += start.elapsed();
        written += r.segment_bytes_written;
        report = Some(r);
    }
    let state = index.usage().await.unwrap();
    assert_eq!(state.objects, n as u64);
    eprintln!(
        "{n} commits (256 concurrent, group commit): {:.1}s = {:.0}/s; 10 compactions {:.2}s, \
         {written} segment bytes written in all; last: {report:?}",
        commits.as_secs_f64(),
        n as f64 / commits.as_secs_f64(),
        compaction.as_secs_f64()
    );
    let report = report.unwrap();
    eprintln!(
        "segments: {} bytes for {n} keys = {:.1} bytes/key (keys alone {:.1} bytes/key); \
         compaction write amplification {:.1}x",
        report.segment_bytes_written,
        report.segment_bytes_written as f64 / n as f64,
        key_bytes as f64 / n as f64,
        written as f64 / report.segment_bytes_written as f64
    );
    // Cold instance: first page reads state, journals and one segment.
    for round in ["cold", "warm"] {
        let reader = match round {
            "cold" => BucketIndex::new(&s, options.clone()),
            _ => index.clone(),
        };
        let start = std::time::Instant::now();
        let page = reader.list(&ListRequest::default()).await.unwrap();
        eprintln!(
            "{round} first page of {}: {:.1} ms",
            page.entries.len(),
            start.elapsed().as_secs_f64() * 1000.0
        );
    }
    let start = std::time::Instant::now();
    let mut token = None;
    let mut total = 0;
    let mut pages = Vec::new();
    loop {
        let t = std::time::Instant::now();
        let page = index
            .list(&ListRequest {
                continuation_token: token.clone(),
                ..ListRequest::default()
            })
            .await
            .unwrap();
        pages.push(t.elapsed());
        total += page.entries.len();
        match page.next_continuation_token {
            Some(t) if page.is_truncated => token = Some(t),
            _ => break,
        }
    }
    let all = start.elapsed();
    pages.sort();
    eprintln!(
        "paged {total} keys in {} pages: {:.2}s = {:.0} keys/s; page p50 {:.1} ms, p99 {:.1} ms",
        pages.len(),
        all.as_secs_f64(),
        total as f64 / all.as_secs_f64(),
        pages[pages.len() / 2].as_secs_f64() * 1000.0,
        pages[pages.len() * 99 / 100].as_secs_f64() * 1000.0
    );
    assert_eq!(total, n);
    let start = std::time::Instant::now();
    let page = index
        .list(&ListRequest {
            prefix: b"data/".to_vec(),
            delimiter: b"/".to_vec(),
            ..ListRequest::default()
        })
        .await
        .unwrap();
    eprintln!(
        "delimiter page: {} common prefixes in {:.1} ms",
        page.common_prefixes.len(),
        start.elapsed().as_secs_f64() * 1000.0
    );
    client.shutdown().await;
    b.shutdown().await;
    a.shutdown().await;
}
