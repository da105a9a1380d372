//! Listing under concurrent writers, checked against a model, on our node and on a real
//! Elliptics 3.0 cluster alike: two proxy processes, 16 writers, 2,400 keys with nested
//! prefixes, unicode, spaces and `%` in them.
//!
//! After each phase — uploads (a few large enough to be stored in parts), overwrites with
//! other sizes, single and bulk deletes — the listing from every proxy equals the set of
//! acknowledged writes exactly, sizes included, paged 1000 and 137 at a time; prefix,
//! delimiter and start-after queries, paged, give what S3's ListObjectsV2 gives on the
//! model (computed here from a `BTreeMap`). Then a listing paged 50 keys at a time while
//! 16 writers add and delete other keys shows every key that existed throughout exactly
//! once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use backrunner_store::BucketMetadata;
use backrunner_tests::proxy_process::ProxyProcess;
use futures_util::{StreamExt, stream};
use serde_json::Value;

use crate::payload;
use crate::two_groups::{Cluster, list_get};

const WRITERS: usize = 16;
const KEYS: u64 = 2400;
const CHUNK: usize = 64 << 10;

/// Key `i`: nested prefixes, unicode, spaces and `%`, some at the top level.
fn key(i: u64) -> String {
    let name = match i % 5 {
        0 => format!("file-{i}.bin"),
        1 => format!("ключ {i}"),
        2 => format!("100% done {i}"),
        3 => format!("a+b=c&d {i}"),
        _ => format!("日本-{i}"),
    };
    match i % 11 {
        0 => name,
        1..=3 => format!("top/{name}"),
        4..=6 => format!("top/mid{}/{name}", i % 3),
        7 | 8 => format!("top/mid{}/deep{}/{name}", i % 3, i % 4),
        _ => format!("other dir/{name}"),
    }
}

/// A size for write `round` of key `i` (a few past the chunk: stored in parts).
fn size(i: u64, round: u64) -> usize {
    if (i + round) % 97 == 0 {
        CHUNK + 1 + (i as usize % 5000)
    } else {
        1 + ((i * 7919 + round * 104_729) % 3000) as usize
    }
}

/// Percent-encodes all but unreserved characters (and `/` when `keep_slash`).
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

type Model = BTreeMap<String, u64>;

/// One item of a listing, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Key(String, u64),
    Prefix(String),
}

/// What ListObjectsV2 gives on `model` (all pages together).
fn model_list(model: &Model, prefix: &str, delimiter: &str, start_after: &str) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    for (k, size) in model.range::<str, _>((
        std::ops::Bound::Excluded(start_after),
        std::ops::Bound::Unbounded,
    )) {
        let Some(rest) = k.as_bytes().strip_prefix(prefix.as_bytes()) else {
            continue;
        };
        let cut = (!delimiter.is_empty())
            .then(|| {
                rest.windows(delimiter.len())
                    .position(|w| w == delimiter.as_bytes())
            })
            .flatten();
        match cut {
            Some(i) => {
                let common = k[..prefix.len() + i + delimiter.len()].to_owned();
                if out.last() != Some(&Item::Prefix(common.clone())) {
                    out.push(Item::Prefix(common));
                }
            }
            None => out.push(Item::Key(k.clone(), *size)),
        }
    }
    out
}

/// Every page of a listing through `proxy`, `max` items a page, as one sequence (keys and
/// prefixes merged in byte order).
async fn listed(
    proxy: &ProxyProcess,
    prefix: &str,
    delimiter: &str,
    start_after: &str,
    max: usize,
) -> Vec<Item> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..100_000 {
        let mut query = format!(
            "max-keys={max}&prefix={}&delimiter={}",
            encode(prefix, false),
            encode(delimiter, false)
        );
        if !start_after.is_empty() {
            query.push_str(&format!("&start-after={}", encode(start_after, false)));
        }
        if let Some(t) = &token {
            query.push_str(&format!("&continuation-token={t}"));
        }
        let (status, body) = list_get(proxy, &format!("/list/scale?{query}")).await;
        let page: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 200, "{query}: {page}");
        let mut items: Vec<Item> = page["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                Item::Key(
                    e["key"].as_str().unwrap().to_owned(),
                    e["size"].as_u64().unwrap(),
                )
            })
            .chain(
                page["common-prefixes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| Item::Prefix(p.as_str().unwrap().to_owned())),
            )
            .collect();
        items.sort_by(|a, b| item_key(a).cmp(item_key(b)));
        assert!(items.len() <= max, "{query}: {} items", items.len());
        assert_eq!(page["key-count"], items.len());
        out.extend(items);
        match page["next-continuation-token"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => return out,
        }
    }
    panic!("the listing never ended");
}

fn item_key(item: &Item) -> &str {
    match item {
        Item::Key(k, _) | Item::Prefix(k) => k,
    }
}

/// Every proxy lists exactly `model`, whole and in queries.
async fn check(proxies: &[ProxyProcess], model: &Model, phase: &str) {
    let all = model_list(model, "", "", "");
    for (p, proxy) in proxies.iter().enumerate() {
        for max in [1000, 137] {
            let got = listed(proxy, "", "", "", max).await;
            if got != all {
                let extra: Vec<_> = got.iter().filter(|i| !all.contains(i)).take(5).collect();
                let missing: Vec<_> = all.iter().filter(|i| !got.contains(i)).take(5).collect();
                panic!(
                    "{phase}: proxy {p} (max-keys {max}) lists {} items, the model {}; extra {extra:?}, missing {missing:?}",
                    got.len(),
                    all.len()
                );
            }
        }
    }
    let queries = [
        ("", "/", "", 1000),
        ("", "/", "", 2),
        ("top/", "/", "", 7),
        ("top/mid1/", "/", "", 1000),
        ("top/mid1/", "", "top/mid1/deep2/", 50),
        ("", "/", "other dir/", 3),
        ("other dir/", "", "other dir/ключ 1", 100),
        ("100", "", "", 10),
        ("", " ", "", 20),
        ("top/mid2/deep", "/", "", 1),
        ("nothing/", "/", "", 10),
    ];
    for (i, (prefix, delimiter, start_after, max)) in queries.into_iter().enumerate() {
        let proxy = &proxies[i % proxies.len()];
        let got = listed(proxy, prefix, delimiter, start_after, max).await;
        let want = model_list(model, prefix, delimiter, start_after);
        assert_eq!(
            got, want,
            "{phase}: prefix {prefix:?} delimiter {delimiter:?} start-after {start_after:?} max-keys {max}"
        );
    }
}

/// Uploads `writes` (key → size, seeded by `round`) through the proxies, 16 at a time; every
/// acknowledged write goes into the model.
async fn upload_all(
    proxies: &[ProxyProcess],
    writes: &[(u64, String)],
    round: u64,
    model: &mut Model,
) {
    let results: Vec<(String, usize, u16)> = stream::iter(writes.iter().enumerate())
        .map(|(n, (i, key))| async move {
            let proxy = &proxies[n % proxies.len()];
            let size = size(*i, round);
            let path = format!("/upload/scale/{}", encode(key, true));
            let (status, _) = proxy.post(&path, &[], payload(*i + round, size)).await;
            (key.clone(), size, status)
        })
        .buffer_unordered(WRITERS)
        .collect()
        .await;
    for (key, size, status) in results {
        assert_eq!(status, 200, "upload of {key:?}");
        model.insert(key, size as u64);
    }
}

async fn listing_matches_the_model(cluster: &Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let mut scale = BucketMetadata::new("scale");
    scale.groups = vec![1, 2];
    let config = format!(
        "write_chunk_size = {CHUNK}\nmax_inflight_upload_bytes = {}\n",
        64 << 20
    );
    let proxies = cluster.proxies_with(dir.path(), 2, &[scale], &config).await;
    let mut model = Model::new();

    // Uploads.
    let keys: Vec<(u64, String)> = (0..KEYS).map(|i| (i, key(i))).collect();
    upload_all(&proxies, &keys, 0, &mut model).await;
    assert_eq!(model.len() as u64, KEYS);
    check(&proxies, &model, "uploads").await;

    // Overwrites of a third with other sizes.
    let again: Vec<(u64, String)> = keys.iter().filter(|(i, _)| i % 3 == 0).cloned().collect();
    upload_all(&proxies, &again, 1, &mut model).await;
    check(&proxies, &model, "overwrites").await;

    // Single deletes of every 8th key, bulk deletes of every 8th + 3.
    let single: Vec<&String> = keys
        .iter()
        .filter(|(i, _)| i % 8 == 0)
        .map(|(_, k)| k)
        .collect();
    let statuses: Vec<u16> = stream::iter(single.iter().enumerate())
        .map(|(n, key)| {
            let proxy = &proxies[n % proxies.len()];
            async move {
                let path = format!("/delete/scale/{}", encode(key, true));
                proxy.post(&path, &[], Vec::new()).await.0
            }
        })
        .buffer_unordered(WRITERS)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    for key in single {
        model.remove(key);
    }
    let bulk: Vec<&String> = keys
        .iter()
        .filter(|(i, _)| i % 8 == 3)
        .map(|(_, k)| k)
        .collect();
    for (n, batch) in bulk.chunks(100).enumerate() {
        let body = serde_json::json!({ "keys": batch }).to_string();
        let (status, reply) = proxies[n % 2].post("/bulk_delete/scale", &[], body).await;
        assert_eq!((status, &reply[..]), (200, &b"{}"[..]));
    }
    for key in bulk {
        model.remove(key);
    }
    check(&proxies, &model, "deletes").await;

    // A paged listing while writers add and delete other keys: every key present
    // throughout appears exactly once, in order.
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = Arc::clone(&stop);
        let proxies = &proxies;
        async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<u64> = (n..n + WRITERS as u64).collect();
                n += WRITERS as u64;
                stream::iter(batch)
                    .for_each_concurrent(WRITERS, |i| async move {
                        // Keys spread over the whole key space, between the stable ones.
                        let key = format!("{}~churn{i}", key(i * 37 % KEYS));
                        let path = format!("/upload/scale/{}", encode(&key, true));
                        let proxy = &proxies[i as usize % 2];
                        let (status, _) = proxy.post(&path, &[], payload(i, 100)).await;
                        assert_eq!(status, 200);
                        if i % 2 == 0 {
                            let path = format!("/delete/scale/{}", encode(&key, true));
                            assert_eq!(proxy.post(&path, &[], Vec::new()).await.0, 200);
                        }
                    })
                    .await;
            }
            n
        }
    };
    let listing = async {
        let got = listed(&proxies[0], "", "", "", 50).await;
        stop.store(true, Ordering::Relaxed);
        got
    };
    let (written, got) = futures_util::future::join(churn, listing).await;
    assert!(written > 0, "no writer ran during the listing");
    let stable: Vec<&String> = model.keys().collect();
    let got_keys: Vec<&str> = got.iter().map(item_key).collect();
    let mut sorted = got_keys.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(got_keys, sorted, "each key once, in byte order");
    for key in stable {
        assert!(
            got_keys.contains(&key.as_str()),
            "{key:?} missing from the listing"
        );
    }
    let extra = got_keys
        .iter()
        .filter(|k| !model.contains_key(**k) && !k.contains("~churn"))
        .count();
    assert_eq!(extra, 0, "only stable and churned keys are listed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listing_matches_the_model_on_our_node() {
    let dir = tempfile::tempdir().unwrap();
    listing_matches_the_model(&Cluster::ours(dir.path()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listing_matches_the_model_on_real_elliptics() {
    let Some(cluster) = Cluster::oracle().await else {
        return;
    };
    listing_matches_the_model(&cluster).await;
}
