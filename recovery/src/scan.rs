//! The scan: every backend of every group to recover — as the client's route table lists
//! them — is walked by a key-only ITERATOR (ids, timestamps, sizes, user flags; no data),
//! several backends at once, into one [`GroupListing`] per group.
//!
//! A backend whose listing fails fails the scan: planning on a partial listing would call
//! keys missing that are merely unlisted. Dropping the streams (on error, or when the
//! caller drops the future) closes their connections, which stops the nodes' iterators.

use std::time::{Duration, Instant};

use elliptics::Session;
use elliptics::client::{IteratorEnd, IteratorOptions, IteratorTarget};
use elliptics::proto::NodeAddr;
use futures_util::{StreamExt, TryStreamExt, stream};

use crate::error::RecoveryError;
use crate::listing::{GroupListing, ListingBuilder};
use crate::progress::Progress;

/// Backends listed at once (one connection each).
pub const DEFAULT_SCAN_CONCURRENCY: usize = 8;

/// How a scan went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Backends listed.
    pub backends: usize,
    /// Records the iterators sent (uncommitted ones included).
    pub listed: u64,
    /// Wall time of the scan.
    pub elapsed: Duration,
}

impl ScanStats {
    /// Records listed per second.
    pub fn records_per_sec(&self) -> f64 {
        rate(self.listed, self.elapsed)
    }
}

/// `n` per second over `d` (0 for an empty duration).
pub(crate) fn rate(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 { n as f64 / s } else { 0.0 }
}

/// One backend to list.
#[derive(Debug, Clone, Copy)]
struct Job {
    group: u32,
    addr: NodeAddr,
    backend: i32,
}

/// Lists every backend of `groups` (at most `concurrency` at once) and returns one
/// listing per group, in the order of `groups`.
pub async fn scan(
    session: &Session,
    groups: &[u32],
    concurrency: usize,
    progress: &Progress,
) -> Result<(Vec<GroupListing>, ScanStats), RecoveryError> {
    let start = Instant::now();
    let routes = session.client().route_table();
    let backends = routes.backends();
    let mut jobs = Vec::new();
    for &group in groups {
        let before = jobs.len();
        jobs.extend(backends.iter().filter(|b| b.group == group).map(|b| Job {
            group,
            addr: b.addr,
            backend: b.backend_id,
        }));
        if jobs.len() == before {
            return Err(RecoveryError::NoBackends { group });
        }
    }
    let count = jobs.len();
    let listed: Vec<(u32, ListingBuilder, u64)> = stream::iter(jobs)
        .map(|job| list_backend(session, job, progress))
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    let mut builders: Vec<ListingBuilder> =
        groups.iter().map(|&g| ListingBuilder::new(g)).collect();
    let mut total = 0;
    for (group, b, n) in listed {
        total += n;
        if let Some(i) = groups.iter().position(|&g| g == group) {
            builders[i].merge(b);
        }
    }
    let listings = builders.into_iter().map(ListingBuilder::finish).collect();
    Ok((
        listings,
        ScanStats {
            backends: count,
            listed: total,
            elapsed: start.elapsed(),
        },
    ))
}

/// Lists one backend: its group, what it holds, and how many records it sent.
async fn list_backend(
    session: &Session,
    job: Job,
    progress: &Progress,
) -> Result<(u32, ListingBuilder, u64), RecoveryError> {
    let fail = |source| RecoveryError::Scan {
        group: job.group,
        addr: job.addr,
        backend: job.backend,
        source,
    };
    let target = IteratorTarget::Backend {
        addr: job.addr,
        backend_id: job.backend,
    };
    let mut stream = session
        .iterate(target, IteratorOptions::new())
        .await
        .map_err(fail)?;
    let mut builder = ListingBuilder::new(job.group);
    let mut n = 0u64;
    while let Some(entry) = stream.next().await {
        let entry = entry.map_err(fail)?;
        builder.push(&entry);
        n += 1;
        if n % 1024 == 0 {
            progress.listed(1024);
        }
    }
    progress.listed(n % 1024);
    match stream.end() {
        Some(IteratorEnd::Completed) => {}
        _ => {
            return Err(RecoveryError::ScanCancelled {
                group: job.group,
                addr: job.addr,
                backend: job.backend,
            });
        }
    }
    tracing::debug!(group = job.group, addr = %job.addr, backend = job.backend, records = n, "backend listed");
    Ok((job.group, builder, n))
}
