//! Listing benchmark (L1 of `../shared/BENCHMARKS.md`): `GET /list` through a `backrunner
//! proxy` process over two `backrunner node` processes (groups 1 and 2, loopback).
//!
//! 1. One bucket of `--keys` keys (default 1,000,000: `p0000/k0000` … `p0999/k0999`, 1,000
//!    top-level prefixes) logged in its key index in a scrambled order, 512 commits in
//!    flight, with the index's own background compactions running as they would under
//!    uploads; then compacted until its journals are empty. Storage bytes written per key
//!    (journals, segments and states, both groups, from the nodes' blob files) and the
//!    index's own records.
//! 2. The whole bucket listed page by page (`max-keys=1000`) by one client: keys/s, page
//!    latency p50/p99; every key exactly once, in order.
//! 3. `delimiter=/` over the 1,000 top-level prefixes of that bucket, and of a bucket with
//!    the same prefixes but 10 keys under each: the cost of a page of prefixes should not
//!    depend on how many keys sit under each.
//!
//! No reference system runs here (Garage's ListObjectsV2 needs `cargo install garage`,
//! about 9 minutes; not done in this run). Keys are logged straight into the index (an
//! index commit per key, no object bytes): the listing reads only the index for committed
//! entries, so the objects do not matter for what is measured.
//!
//! Run: `cargo build --release --bin backrunner && cargo run --release -p backrunner-bench
//! --bin listing -- [--keys N] [--dir PATH]`.

// Test and benchmark support: a failed setup step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use backrunner_bench::Latencies;
use backrunner_store::index::{BucketIndex, IndexOptions};
use backrunner_store::object::new_stamp;
use backrunner_store::{BucketMetadata, MetadataStore};
use backrunner_tests::proxy_process::ProxyProcess;
use backrunner_tests::{allocated_bytes, two_node_processes};
use futures_util::StreamExt;

struct Args {
    dir: PathBuf,
    keys: u64,
}

fn args() -> Args {
    let mut a = Args {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-listing"),
        keys: 1_000_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--keys" => a.keys = it.next().and_then(|k| k.parse().ok()).unwrap_or(a.keys),
            "--dir" => a.dir = it.next().map(PathBuf::from).unwrap_or(a.dir),
            other => eprintln!("ignoring argument {other}"),
        }
    }
    a
}

/// Key `n` of a bucket with `per` keys under each of 1,000 prefixes.
fn key(n: u64, per: u64) -> String {
    format!("p{:04}/k{:04}", n / per, n % per)
}

/// Logs `count` keys (`per` under each prefix) in `index`, in a scrambled order.
async fn load(index: &BucketIndex, count: u64, per: u64) -> Duration {
    // A step coprime with `count` visits every key once, far from key order.
    let step = (1..)
        .map(|k: u64| 7_919 * k + 1)
        .find(|s| gcd(*s, count) == 1)
        .unwrap_or(1);
    let t = Instant::now();
    futures_util::stream::iter(0..count)
        .map(|i| {
            let key = key(i * step % count, per);
            async move {
                index
                    .commit(key.as_bytes(), new_stamp(), 100, None)
                    .await
                    .expect("commit");
            }
        })
        .buffer_unordered(512)
        .collect::<Vec<()>>()
        .await;
    t.elapsed()
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Compacts until two compactions in a row find no journal entry.
async fn compact_all(index: &BucketIndex) {
    // Done after two compactions in a row merged nothing: one that finds a background
    // compaction merging (and returns when it did) merges nothing itself, while the
    // generation the writers moved to may still hold entries.
    let mut quiet = 0;
    for _ in 0..40 {
        match index.compact().await {
            Ok(r) if r.journal_entries == 0 => {
                quiet += 1;
                if quiet == 2 {
                    return;
                }
            }
            Ok(_) => quiet = 0,
            Err(e) => {
                eprintln!("compaction: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One page: its latency and JSON.
async fn page(proxy: &ProxyProcess, path: &str) -> (Duration, serde_json::Value) {
    let t = Instant::now();
    let (status, body) = proxy.get(path, &[]).await;
    let elapsed = t.elapsed();
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    (elapsed, serde_json::from_slice(&body).expect("JSON"))
}

#[tokio::main]
async fn main() {
    let a = args();
    let per = a.keys.div_ceil(1000).max(1);
    let _ = std::fs::remove_dir_all(&a.dir);
    std::fs::create_dir_all(&a.dir).expect("bench dir");
    let (n1, n2, client) = two_node_processes(&a.dir, "never").await;
    let dirs = [a.dir.join("n1"), a.dir.join("n2")];
    let store = MetadataStore::new(&client, vec![1, 2]);
    for name in ["big", "shallow"] {
        let mut b = BucketMetadata::new(name);
        b.groups = vec![1, 2];
        store.write_bucket(&b).await.check().expect("bucket");
        store
            .add_to_list("backrunner-bucket-list", name)
            .await
            .expect("bucket list");
    }
    let session = |name: &str| client.session().groups(vec![1, 2]).namespace(name);
    println!(
        "# listing benchmark: {} keys, 1,000 prefixes × {per}; two node processes, data in {}",
        a.keys,
        a.dir.display()
    );

    let before = allocated_bytes(&dirs[0]) + allocated_bytes(&dirs[1]);
    let big = BucketIndex::new(&session("big"), IndexOptions::default());
    let took = load(&big, a.keys, per).await;
    println!(
        "load: {} commits in {:.1} s = {:.0} keys/s (512 in flight, background compactions on)",
        a.keys,
        took.as_secs_f64(),
        a.keys as f64 / took.as_secs_f64()
    );
    let t = Instant::now();
    compact_all(&big).await;
    println!("final compaction: {:.1} s", t.elapsed().as_secs_f64());
    let written = allocated_bytes(&dirs[0]) + allocated_bytes(&dirs[1]) - before;
    println!(
        "storage written for the index: {:.1} MiB in both groups = {:.0} B per key per group (journals, segments, states; blobs are append-only)",
        written as f64 / (1u64 << 20) as f64,
        written as f64 / 2.0 / a.keys as f64
    );
    let usage = big.usage().await.expect("usage");
    assert_eq!(usage.objects, a.keys, "the index counts every key");

    let proxy_dir = a.dir.join("proxy");
    std::fs::create_dir_all(&proxy_dir).expect("proxy dir");
    let config = format!(
        "remotes = [\"{}\", \"{}\"]\nmetadata_groups = [1, 2]\nprotocol_version = \"2.26\"\n",
        n1.addr, n2.addr
    );
    let proxy = ProxyProcess::start(&proxy_dir, &config).await;

    // The whole bucket, page by page (twice: the first pass warms the segment cache).
    for pass in ["cold", "warm"] {
        let mut latencies = Vec::new();
        let mut token: Option<String> = None;
        let mut listed = 0u64;
        let mut last = String::new();
        let t = Instant::now();
        loop {
            let path = match &token {
                Some(t) => format!("/list/big?max-keys=1000&continuation-token={t}"),
                None => "/list/big?max-keys=1000".to_owned(),
            };
            let (elapsed, json) = page(&proxy, &path).await;
            latencies.push(elapsed);
            for e in json["indexes"].as_array().expect("indexes") {
                let k = e["key"].as_str().expect("key").to_owned();
                assert!(k > last, "keys in order, once: {k} after {last}");
                last = k;
                listed += 1;
            }
            match json["next-continuation-token"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(listed, a.keys, "every key listed");
        let l = Latencies::new(latencies);
        println!(
            "list all ({pass}): {listed} keys in {secs:.2} s = **{:.0} keys/s**; page p50 {} p99 {}",
            listed as f64 / secs,
            l.p(0.5),
            l.p(0.99)
        );
    }

    // Delimiter pages: 1,000 prefixes with `per` keys under each vs 10 under each.
    let shallow = BucketIndex::new(&session("shallow"), IndexOptions::default());
    load(&shallow, 10_000, 10).await;
    compact_all(&shallow).await;
    for (name, keys_per_prefix) in [("big", per), ("shallow", 10)] {
        let mut latencies = Vec::new();
        for _ in 0..21 {
            let (elapsed, json) = page(&proxy, &format!("/list/{name}?delimiter=%2F")).await;
            assert_eq!(json["common-prefixes"].as_array().map(Vec::len), Some(1000));
            latencies.push(elapsed);
        }
        let l = Latencies::new(latencies);
        println!(
            "delimiter=/ over 1,000 prefixes × {keys_per_prefix} keys: one page of 1,000 prefixes p50 {} p99 {}",
            l.p(0.5),
            l.p(0.99)
        );
    }

    drop(proxy);
    client.shutdown().await;
    let (mut n1, mut n2) = (n1, n2);
    n1.kill9().await;
    n2.kill9().await;
    let _ = std::fs::remove_dir_all(&a.dir);
}
