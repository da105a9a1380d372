//! The operator's `MetadataStore` against real nodes: bucket metadata readable by the proxy
//! (the same bytes `backrunner bucket put` writes), drift in one group detected per group,
//! the bucket list, token-alias and ownership records, and per-group failure reports when a
//! metadata group is down.

use std::collections::BTreeMap;

use backrunner_operator::metadata::{GroupCopy, MetadataError, MetadataStore, OwnerRecord};
use backrunner_store::BucketRecord;
use backrunner_store::bucket::{AclEntry, AclFlags, BucketMetadata, METADATA_NAMESPACE};
use backrunner_store::token_aliases::{TOKEN_ALIASES_NAMESPACE, TokenAlias, TokenAliases};
use backrunner_tests::{connect, start_two_groups, wait_until};

use crate::read_all;

fn sample(name: &str) -> BucketMetadata {
    let mut meta = BucketMetadata::new(name);
    meta.groups = vec![1, 2];
    meta.max_size = 1 << 30;
    meta.max_key_num = 10;
    meta.acl = BTreeMap::from([(
        "alice".to_owned(),
        AclEntry {
            version: 1,
            user: "alice".into(),
            token: "secret".into(),
            flags: AclFlags::WRITE,
        },
    )]);
    meta
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_store_on_real_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = start_two_groups(dir.path()).await;
    let client = connect(&[a.addr()]).await;
    assert!(
        wait_until(std::time::Duration::from_secs(10), async || client
            .nodes()
            .len()
            == 2)
        .await
    );
    let store = MetadataStore::new(&client, vec![1, 2]);

    // Absent records read as None; removing an absent record is complete.
    assert!(store.read_bucket("photos").await.unwrap().is_none());
    assert!(
        store
            .read_record::<OwnerRecord>("photos")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.remove_bucket("photos").await.is_complete());

    // Metadata: written to both groups, read back, and read by the proxy's own store.
    let meta = sample("photos");
    let report = store.write_bucket(&meta).await;
    assert_eq!(
        (report.ok.clone(), report.failed.len()),
        (vec![1, 2], 0),
        "{report:?}"
    );
    assert_eq!(
        store.read_bucket("photos").await.unwrap(),
        Some(meta.clone())
    );
    let copies = store.read_bucket_copies("photos").await;
    assert_eq!(
        copies,
        vec![
            (1, GroupCopy::Present(meta.encode())),
            (2, GroupCopy::Present(meta.encode()))
        ]
    );

    // Drift: someone rewrites group 2 only; the per-group read shows it, a write repairs it.
    let mut other = meta.clone();
    other.max_size = 1;
    let bytes = other.encode();
    let g2 = client
        .session()
        .groups(vec![2])
        .namespace(METADATA_NAMESPACE);
    g2.write(b"photos", &bytes[..], bytes.len() as u64, 0)
        .await
        .unwrap();
    let copies = store.read_bucket_copies("photos").await;
    assert_eq!(copies[0], (1, GroupCopy::Present(meta.encode())));
    assert_eq!(copies[1], (2, GroupCopy::Present(other.encode())));
    assert!(store.write_bucket(&meta).await.is_complete());
    assert_eq!(read_all(&g2, b"photos", 0, 0).await.unwrap(), meta.encode());

    // Bucket list: read-modify-write, idempotent.
    assert!(store.add_to_list("list", "photos").await.unwrap());
    assert!(store.add_to_list("list", "videos").await.unwrap());
    assert!(!store.add_to_list("list", "photos").await.unwrap());
    assert_eq!(
        store.read_list("list").await.unwrap().names(),
        ["photos", "videos"]
    );
    assert!(store.remove_from_list("list", "photos").await.unwrap());
    assert!(!store.remove_from_list("list", "photos").await.unwrap());
    assert_eq!(store.read_list("list").await.unwrap().names(), ["videos"]);

    // Token aliases in their own namespace, in the format the proxy decodes.
    let mut aliases = TokenAliases::new();
    aliases.users.insert(
        "alice".into(),
        vec![TokenAlias {
            token: "old".into(),
            expires_at: 4_000_000_000,
        }],
    );
    write_and_read_back(&store, "photos", &aliases).await;
    let raw = client
        .session()
        .groups(vec![1])
        .namespace(TOKEN_ALIASES_NAMESPACE);
    let stored = TokenAliases::decode(&read_all(&raw, b"photos", 0, 0).await.unwrap()).unwrap();
    assert_eq!(stored.live_tokens("alice", 0).collect::<Vec<_>>(), ["old"]);
    remove_and_miss::<TokenAliases>(&store, "photos").await;

    // Ownership record: write, read, release, remove.
    let owner = OwnerRecord::new("prod", "team-a", "photos", "uid-1", 100);
    write_and_read_back(&store, "photos", &owner).await;
    let released = owner.released(200);
    write_and_read_back(&store, "photos", &released).await;
    assert!(released.released);
    remove_and_miss::<OwnerRecord>(&store, "photos").await;

    // A malformed record is an error, not a missing one.
    let owners = client
        .session()
        .groups(vec![1, 2])
        .namespace("backrunner.owner");
    owners.write(b"junk", &b"{nope"[..], 5, 0).await.unwrap();
    assert!(matches!(
        store.read_record::<OwnerRecord>("junk").await,
        Err(MetadataError::Malformed { .. })
    ));

    // Group 2 down: writes report it per group, reads still find group 1's copy.
    b.shutdown().await;
    let report = store.write_bucket(&sample("photos")).await;
    assert_eq!(report.ok, vec![1], "{report:?}");
    assert_eq!(report.failed.iter().map(|f| f.0).collect::<Vec<_>>(), [2]);
    let err = report.check().unwrap_err();
    assert!(err.is_transient());
    assert!(err.to_string().contains("failed in groups 2"), "{err}");
    assert_eq!(
        store.read_bucket("photos").await.unwrap(),
        Some(meta.clone())
    );
    let copies = store.read_bucket_copies("photos").await;
    assert!(
        matches!(copies[1], (2, GroupCopy::Unreadable(_))),
        "{copies:?}"
    );
    let removal = store.remove_bucket("photos").await;
    assert_eq!((removal.ok, removal.failed.len()), (vec![1], 1));
    a.shutdown().await;
}

/// Writes `record` as bucket `name`'s record of its type to every group and reads the
/// same record back.
async fn write_and_read_back<R>(store: &MetadataStore, name: &str, record: &R)
where
    R: BucketRecord + PartialEq + std::fmt::Debug,
{
    assert!(store.write_record(name, record).await.is_complete());
    assert_eq!(
        store.read_record::<R>(name).await.unwrap().as_ref(),
        Some(record)
    );
}

/// Removes bucket `name`'s record of type `R` from every group; reading it finds none.
async fn remove_and_miss<R: BucketRecord>(store: &MetadataStore, name: &str) {
    assert!(store.remove_record::<R>(name).await.is_complete());
    assert!(store.read_record::<R>(name).await.unwrap().is_none());
}

/// Many writers (proxies, the operator) changing one bucket list and one directory's
/// members at once lose no name: each change is a compare-and-swap in each group, retried
/// when another writer got there first. Every group ends with every name; removals race too,
/// and an emptied list reads as empty.
async fn concurrent_list_and_directory_updates_lose_nothing(client: elliptics::Client) {
    use backrunner_store::directory::BucketDirectory;
    let store = MetadataStore::new(&client, vec![1, 2]);
    let names: Vec<String> = (0..24).map(|i| format!("b{i:02}")).collect();
    futures_util::future::join_all(names.iter().map(|n| {
        let store = store.clone();
        async move {
            store.add_to_list("race-list", n).await.unwrap();
            store
                .move_to_directory(n, Some("race-dir"), true)
                .await
                .unwrap();
        }
    }))
    .await;
    for (g, copy) in store.read_copies(METADATA_NAMESPACE, "race-list").await {
        let GroupCopy::Present(bytes) = copy else {
            panic!("group {g}: {copy:?}");
        };
        let list = backrunner_store::bucket_list::BucketList::parse(&bytes);
        let mut got = list.names().to_vec();
        got.sort();
        assert_eq!(got, names, "bucket list in group {g}");
    }
    let directory_copies = store
        .read_copies(backrunner_store::directory::DIRECTORY_NAMESPACE, "race-dir")
        .await;
    for (g, copy) in directory_copies {
        let GroupCopy::Present(bytes) = copy else {
            panic!("group {g}: {copy:?}");
        };
        let directory = BucketDirectory::decode(&bytes).unwrap();
        for n in &names {
            assert!(directory.contains(n), "group {g} lost {n}: {directory:?}");
        }
    }
    // Half leave the directory (into no directory) and every name leaves the list, at once.
    futures_util::future::join_all(names.iter().enumerate().map(|(i, n)| {
        let store = store.clone();
        async move {
            store.remove_from_list("race-list", n).await.unwrap();
            if i % 2 == 0 {
                store.move_to_directory(n, None, false).await.unwrap();
            }
        }
    }))
    .await;
    assert!(
        store
            .read_list("race-list")
            .await
            .unwrap()
            .names()
            .is_empty()
    );
    let directory = store.read_directory("race-dir").await.unwrap().unwrap();
    for (i, n) in names.iter().enumerate() {
        assert_eq!(directory.contains(n), i % 2 == 1, "{n}: {directory:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_metadata_updates_lose_nothing_on_our_node() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = start_two_groups(dir.path()).await;
    let client = connect(&[a.addr(), b.addr()]).await;
    concurrent_list_and_directory_updates_lose_nothing(client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_metadata_updates_lose_nothing_on_real_elliptics() {
    let Some(cluster) = backrunner_tests::oracle::OracleCluster::start(&[1, 2]).await else {
        return;
    };
    concurrent_list_and_directory_updates_lose_nothing(cluster.connect().await).await;
}
