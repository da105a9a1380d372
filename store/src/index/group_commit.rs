//! Group commit: concurrent appends of one proxy to one journal lane share one APPEND.
//!
//! The first caller to find the lane idle becomes its flusher (a spawned task, so a caller
//! that goes away — a client that disconnected — never strands the others): it takes
//! everything pending, APPENDs it as one WRITE to every group in parallel, wakes the
//! callers it carried, and repeats while more arrived meanwhile. Pending bytes per lane are
//! bounded: a caller waits for room before it adds its entry.

use std::sync::{Arc, Mutex};

use elliptics::Session;
use elliptics::proto::IoFlags;
use tokio::sync::{Semaphore, oneshot};

/// Most bytes waiting for one lane's next APPEND.
pub const MAX_PENDING_BYTES: usize = 1 << 20;

/// What one APPEND answered: the largest record size a group reported, or the error.
pub(crate) type AppendResult = Result<u64, elliptics::Error>;

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    waiters: Vec<oneshot::Sender<AppendResult>>,
    permits: usize,
    flushing: bool,
}

/// One journal lane's batcher.
pub(crate) struct LaneAppender {
    key: Vec<u8>,
    session: Session,
    pending: Mutex<Pending>,
    room: Semaphore,
}

impl LaneAppender {
    /// A batcher appending to `key` through `session` (the index session: every group of
    /// the bucket).
    pub(crate) fn new(session: Session, key: Vec<u8>) -> Arc<LaneAppender> {
        Arc::new(LaneAppender {
            key,
            session: session
                .ioflags(IoFlags::APPEND)
                .user_flags(crate::object::RecordKind::Journal.user_flags()),
            pending: Mutex::new(Pending::default()),
            room: Semaphore::new(MAX_PENDING_BYTES),
        })
    }

    /// Whether nothing is pending or being written.
    pub(crate) fn idle(&self) -> bool {
        self.pending
            .lock()
            .map(|p| !p.flushing && p.waiters.is_empty())
            .unwrap_or(false)
    }

    /// Appends `entry` (whole encoded entries) with the next APPEND of this lane; returns
    /// when that APPEND was stored by at least one group.
    pub(crate) async fn append(self: &Arc<Self>, entry: Vec<u8>) -> AppendResult {
        let n = entry.len().clamp(1, MAX_PENDING_BYTES) as u32;
        let permit = self
            .room
            .acquire_many(n)
            .await
            .map_err(|_| elliptics::Error::Protocol("journal lane closed".into()))?;
        permit.forget();
        let (tx, rx) = oneshot::channel();
        let start = {
            let Ok(mut p) = self.pending.lock() else {
                return Err(elliptics::Error::Protocol("journal lane poisoned".into()));
            };
            p.bytes.extend_from_slice(&entry);
            p.waiters.push(tx);
            p.permits += n as usize;
            !std::mem::replace(&mut p.flushing, true)
        };
        if start {
            let lane = Arc::clone(self);
            tokio::spawn(async move { lane.flush().await });
        }
        rx.await
            .map_err(|_| elliptics::Error::Protocol("journal append abandoned".into()))?
    }

    async fn flush(self: Arc<Self>) {
        loop {
            let (bytes, waiters, permits) = {
                let Ok(mut p) = self.pending.lock() else {
                    return;
                };
                if p.waiters.is_empty() {
                    p.flushing = false;
                    return;
                }
                (
                    std::mem::take(&mut p.bytes),
                    std::mem::take(&mut p.waiters),
                    std::mem::take(&mut p.permits),
                )
            };
            let len = bytes.len();
            let result = self
                .session
                .write(&self.key, &bytes[..], len as u64, 0)
                .await
                .map(|outcome| {
                    outcome
                        .results
                        .iter()
                        .filter_map(|r| r.result.as_ref().ok())
                        .map(|info| info.info.size)
                        .max()
                        .unwrap_or(0)
                });
            self.room.add_permits(permits);
            for w in waiters {
                let _ = w.send(result.clone());
            }
        }
    }
}
