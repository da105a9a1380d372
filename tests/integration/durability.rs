//! Durability: data survives a clean restart, and after `kill -9` in the middle of a write
//! loop every acknowledged write reads back intact (the node runs as a real process).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backrunner_tests::{BackendSpec, NodeProcess, connect, node_config, start_node};
use elliptics::proto::Id;

use crate::{payload, read_all};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let backends = [BackendSpec::new(1, 1)];
    let node = start_node(dir.path(), &backends, &[]).await;
    let client = connect(&[node.addr()]).await;
    let s = client.session().groups(vec![1]).namespace("restart");
    for i in 0..200u64 {
        let body = payload(i, (i as usize * 131) % 20_000 + 1);
        s.write(format!("k{i}").as_bytes(), &body[..], body.len() as u64, 0)
            .await
            .unwrap();
    }
    for i in (0..200u64).step_by(3) {
        s.remove(format!("k{i}").as_bytes()).await.unwrap();
    }
    // Overwrite some with different sizes.
    for i in (1..200u64).step_by(10) {
        let body = payload(i + 1000, 777);
        s.write(format!("k{i}").as_bytes(), &body[..], 777, 0)
            .await
            .unwrap();
    }
    client.shutdown().await;
    node.shutdown().await;

    let node = start_node(dir.path(), &backends, &[]).await;
    let client = connect(&[node.addr()]).await;
    let s = client.session().groups(vec![1]).namespace("restart");
    for i in 0..200u64 {
        let key = format!("k{i}");
        let got = read_all(&s, key.as_bytes(), 0, 0).await;
        if i % 10 == 1 {
            assert_eq!(got.unwrap(), payload(i + 1000, 777), "{key} overwritten");
        } else if i % 3 == 0 {
            assert!(got.is_err_and(|e| e.is_not_found()), "{key} was removed");
        } else {
            assert_eq!(
                got.unwrap(),
                payload(i, (i as usize * 131) % 20_000 + 1),
                "{key}"
            );
        }
    }
    client.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    // A fixed port so the restarted process has the same address.
    let port = backrunner_tests::ports::free_port();
    let cfg = node_config(dir.path(), port, &[BackendSpec::new(1, 1)], &[], "never");
    let mut proc = NodeProcess::start(dir.path(), &cfg).await;
    let client = connect(&[proc.addr]).await;
    let acked: Arc<Mutex<HashMap<String, Id>>> = Arc::default();

    let mut writers = Vec::new();
    for w in 0..4u64 {
        let (client, acked) = (client.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            let s = client.session().groups(vec![1]).namespace("kill9");
            for i in 0.. {
                let key = format!("w{w}/k{i}");
                // Mix small and multi-chunk sizes so kills land inside large records too.
                let len = if i % 7 == 0 {
                    300_000
                } else {
                    1 + (i * 977 % 9000) as usize
                };
                let body = payload(w * 1_000_000 + i, len);
                match s.write(key.as_bytes(), &body[..], len as u64, 0).await {
                    Ok(out) if out.results.iter().any(|r| r.result.is_ok()) => {
                        acked.lock().unwrap().insert(key, Id::checksum(&body));
                    }
                    _ => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proc.kill9().await;
    for w in writers {
        let _ = w.await;
    }
    client.shutdown().await;
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "the write loop made progress before the kill ({})",
        acked.len()
    );

    let proc2 = NodeProcess::start_with(proc.config.clone()).await;
    let client = connect(&[proc2.addr]).await;
    let s = client.session().groups(vec![1]).namespace("kill9");
    for (key, sum) in &acked {
        let got = read_all(&s, key.as_bytes(), 0, 0)
            .await
            .unwrap_or_else(|e| panic!("acknowledged {key} lost after kill -9: {e}"));
        assert_eq!(Id::checksum(&got), *sum, "{key} corrupted");
    }
    client.shutdown().await;
}
