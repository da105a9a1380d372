//! Copying one id: READ the newest version by id from a group holding it, stream it into
//! one WRITE per target group — by id, with the source record's timestamp and user flags
//! and `CAS_TIMESTAMP` — paced by the [`Pacer`].
//!
//! * Streaming: the client reads the source in its read chunks (1 MiB) and writes in its
//!   write chunks (4 MiB; larger records as PREPARE / PLAIN_WRITE / COMMIT), holding at
//!   most two write chunks; every target group is written from the same chunk. A record is
//!   never buffered whole.
//! * What is copied is what the READ returned: its timestamp and flags, not the listing's.
//!   If the key was overwritten since the scan, the newer version is copied; the client's
//!   read stream refuses to mix chunks of two versions (it fails instead, and the copy is
//!   tried again).
//! * `CAS_TIMESTAMP`: a target that meanwhile got a newer write (a foreground PUT)
//!   refuses with -77 and keeps it: counted as *already newer*, not an error.
//! * A source that no longer has the key (-2 from every holder: removed, or its record
//!   moved) is counted as *source gone*.
//! * Other failures (timeouts, resets, no route, a source that changed mid-read) are
//!   retried twice, 100 ms then 200 ms later, for the groups that failed only. A copy that
//!   fails half-way through a chunked record leaves a prepared, uncommitted record on the
//!   target (invisible to reads on our node; on a real eblob node it hides the older
//!   version it replaced until the retry or the next run commits a new one).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use elliptics::client::ReadStream;
use elliptics::proto::IoFlags;
use elliptics::proto::errno::code;
use elliptics::{Error, Session};
use futures_util::{Stream, StreamExt, stream};
use tokio_util::io::StreamReader;

use crate::limiter::Pacer;
use crate::plan::Decision;

/// Attempts per copy (the first and two retries).
const ATTEMPTS: u32 = 3;
/// Pause before the first retry; doubled for the next.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// What copying one id did, per target group.
#[derive(Debug, Default)]
pub struct KeyResult {
    /// Copies written.
    pub copied: u64,
    /// Bytes they wrote.
    pub copied_bytes: u64,
    /// Targets that refused with -77: they hold a newer version.
    pub already_newer: u64,
    /// Targets not written because no holder had the key any more.
    pub source_gone: u64,
    /// Targets that could not be written, with the last error.
    pub failed: Vec<(u32, String)>,
    /// Time the reads and writes took (pacing excluded).
    pub busy: Duration,
}

/// How one attempt ended.
enum Attempt {
    /// The source could not be read (before or while streaming).
    Source(Error),
    /// Per target group: the bytes written, or why not.
    Written(Vec<(u32, Result<u64, Error>)>),
}

/// Copies `d.newest` (or whatever newer version the holders have now) to `d`'s targets,
/// then rests as the pacer's tranquility says.
pub async fn copy_decision(session: &Session, d: &Decision, pacer: &Arc<Pacer>) -> KeyResult {
    pacer.keys(d.copies()).await;
    let mut out = KeyResult::default();
    let mut targets = d.target_groups();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(RETRY_PAUSE * (1 << (attempt - 1))).await;
        }
        let last = attempt + 1 == ATTEMPTS;
        let (result, busy) = copy_once(session, d, &targets, pacer).await;
        out.busy += busy;
        match result {
            Attempt::Source(e) if all_not_found(&e) => {
                out.source_gone += targets.len() as u64;
                break;
            }
            Attempt::Source(e) if last => {
                tracing::debug!(id = %d.id, error = %e, "reading the source failed");
                let msg = format!("reading the source: {e}");
                out.failed.extend(targets.iter().map(|&g| (g, msg.clone())));
                break;
            }
            Attempt::Source(e) => {
                tracing::debug!(id = %d.id, attempt, error = %e, "reading the source failed, retrying");
            }
            Attempt::Written(results) => {
                let mut retry = Vec::new();
                for (group, r) in results {
                    match r {
                        Ok(bytes) => {
                            out.copied += 1;
                            out.copied_bytes += bytes;
                        }
                        Err(e) if e.status() == code::EBADFD => out.already_newer += 1,
                        Err(e) if last => out.failed.push((group, format!("writing: {e}"))),
                        Err(e) => {
                            tracing::debug!(id = %d.id, group, attempt, error = %e, "write failed, retrying");
                            retry.push(group);
                        }
                    }
                }
                targets = retry;
                if targets.is_empty() {
                    break;
                }
            }
        }
    }
    pacer.rest(out.busy).await;
    out
}

/// One READ + WRITE of `d.id` to `targets`; also returns the time it kept the nodes busy.
async fn copy_once(
    session: &Session,
    d: &Decision,
    targets: &[u32],
    pacer: &Arc<Pacer>,
) -> (Attempt, Duration) {
    let start = Instant::now();
    let waited = Arc::new(AtomicU64::new(0));
    let result = async {
        let source = session.clone().groups(d.holders.clone());
        let read = match source.read_id(d.id, 0, 0).await {
            Ok(r) => r,
            Err(e) => return Attempt::Source(e),
        };
        let (size, timestamp, user_flags) = (read.size(), read.timestamp(), read.user_flags());
        let failure = Arc::new(Mutex::new(None));
        let fanout = targets.len() as u64;
        let body = paced(read, pacer.clone(), fanout, failure.clone(), waited.clone());
        let writer = session
            .clone()
            .groups(targets.to_vec())
            .ioflags(IoFlags::CAS_TIMESTAMP)
            .timestamp(Some(timestamp))
            .user_flags(user_flags);
        let written = writer
            .write_id(d.id, StreamReader::new(Box::pin(body)), size, 0)
            .await;
        if let Some(e) = failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            return Attempt::Source(e);
        }
        Attempt::Written(per_group(targets, written, size))
    }
    .await;
    let paused = Duration::from_nanos(waited.load(Ordering::Relaxed));
    (result, start.elapsed().saturating_sub(paused))
}

/// The source's chunks, each released once the pacer allows its bytes (times the groups
/// it is written to). A read error is kept in `failure` (the writer only sees an I/O
/// error) and ends the stream.
fn paced(
    read: ReadStream,
    pacer: Arc<Pacer>,
    fanout: u64,
    failure: Arc<Mutex<Option<Error>>>,
    waited: Arc<AtomicU64>,
) -> impl Stream<Item = io::Result<Bytes>> + Send {
    stream::unfold(Some(read), move |read| {
        let (pacer, failure, waited) = (pacer.clone(), failure.clone(), waited.clone());
        async move {
            let mut read = read?;
            match read.next().await? {
                Ok(chunk) => {
                    let slept = pacer.bytes(chunk.len() as u64 * fanout).await;
                    let nanos = u64::try_from(slept.as_nanos()).unwrap_or(u64::MAX);
                    waited.fetch_add(nanos, Ordering::Relaxed);
                    Some((Ok(chunk), Some(read)))
                }
                Err(e) => {
                    let err = io::Error::other(e.to_string());
                    *failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                    Some((Err(err), None))
                }
            }
        }
    })
}

/// Per target group, the outcome of a write of `size` bytes.
fn per_group(
    targets: &[u32],
    written: Result<elliptics::client::WriteOutcome, Error>,
    size: u64,
) -> Vec<(u32, Result<u64, Error>)> {
    match written {
        Ok(o) => o
            .results
            .into_iter()
            .map(|r| (r.group, r.result.map(|_| size)))
            .collect(),
        Err(Error::AllGroupsFailed { errors }) => {
            errors.into_iter().map(|(g, e)| (g, Err(e))).collect()
        }
        // One target: the client reports its error alone.
        Err(e) if targets.len() == 1 => vec![(targets[0], Err(e))],
        Err(e) => {
            let msg = e.to_string();
            targets
                .iter()
                .map(|&g| (g, Err(Error::InvalidArgument(msg.clone()))))
                .collect()
        }
    }
}

/// Whether every group answered -2.
fn all_not_found(e: &Error) -> bool {
    match e {
        Error::NotFound => true,
        Error::AllGroupsFailed { errors } => {
            !errors.is_empty() && errors.iter().all(|(_, e)| matches!(e, Error::NotFound))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_everywhere_is_a_gone_source() {
        assert!(all_not_found(&Error::NotFound));
        assert!(all_not_found(&Error::AllGroupsFailed {
            errors: vec![(1, Error::NotFound), (2, Error::NotFound)]
        }));
        assert!(!all_not_found(&Error::AllGroupsFailed {
            errors: vec![(1, Error::NotFound), (2, Error::Timeout)]
        }));
        assert!(!all_not_found(&Error::Timeout));
    }

    #[test]
    fn write_errors_are_spread_over_the_targets() {
        let one = per_group(&[2], Err(Error::from_status(code::EBADFD)), 5);
        assert_eq!(one.len(), 1);
        assert!(matches!(&one[0], (2, Err(e)) if e.status() == code::EBADFD));
        let all = per_group(
            &[2, 3],
            Err(Error::AllGroupsFailed {
                errors: vec![(2, Error::Timeout), (3, Error::NotFound)],
            }),
            5,
        );
        assert_eq!(all.len(), 2);
        let other = per_group(&[2, 3], Err(Error::InvalidArgument("x".into())), 5);
        assert_eq!(other.len(), 2);
    }
}
