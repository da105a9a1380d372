//! Bucket choice under a slow backend: two buckets on different nodes take uploads without
//! a bucket about equally; once one node is slowed (a per-operation delay injected through
//! BACKEND_CONTROL), its bucket's share of uploads drops below 10% within 10 seconds.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use backrunner_tests::wait_until;
use elliptics::proto::{BackendCommand, BackendControl};

use crate::payload;
use crate::proxy_support::{ProxyFixture, json, public_bucket};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_selection_moves_away_from_a_slow_node() {
    let mut fast = public_bucket("fast");
    fast.groups = vec![1];
    let mut slow = public_bucket("slow");
    slow.groups = vec![2];
    let fx = ProxyFixture::start_with(&[fast, slow], |c| c.stats_interval_secs = 1).await;
    let loaded = async || json(fx.get("/stat").await).await["stats_loaded"] == true;
    assert!(wait_until(Duration::from_secs(10), loaded).await);
    let body = payload(3, 64 << 10);

    let mut before = 0;
    for i in 0..40 {
        if fx.upload_anywhere(&format!("sel/{i}"), &body).await == "slow" {
            before += 1;
        }
    }
    assert!(
        (4..=36).contains(&before),
        "healthy buckets share uploads: {before}/40 to slow"
    );

    let mut ctl = BackendControl::new(1, BackendCommand::Ctl);
    ctl.delay = 50;
    fx.storage
        .backend_control(fx.node_addrs()[1], ctl)
        .await
        .unwrap();

    let start = Instant::now();
    let mut window: VecDeque<bool> = VecDeque::new();
    let mut i = 1000;
    let share = loop {
        i += 1;
        let to_slow = fx.upload_anywhere(&format!("sel/{i}"), &body).await == "slow";
        window.push_back(to_slow);
        if window.len() > 50 {
            window.pop_front();
        }
        let share = window.iter().filter(|s| **s).count() as f64 / window.len() as f64;
        if window.len() == 50 && share < 0.10 {
            break share;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "share to the slow bucket still {share:.2} after 10 s"
        );
    };
    eprintln!("slow bucket share {share:.2} after {:?}", start.elapsed());
}
