//! ITERATOR (19): streams the records of one backend — committed objects and prepared,
//! uncommitted ones (flagged UNCOMMITTED, size 0, as eblob reports them) — one reply with
//! MORE per record, then a final ACK; PAUSE / CONTINUE / CANCEL of a running iterator by
//! id. What a real 3.0 server does is listed in the docs of `elliptics::proto::iterator`;
//! this handler answers alike, except where noted.
//!
//! * Order: ascending id within the requested ranges (a real eblob node sends disk
//!   order). A key with a committed object and a re-upload prepared over it shows as the
//!   committed object (our store keeps it readable; eblob prepares in place).
//! * Filters: key ranges (inclusive; applied whenever ranges are given, KEY_RANGE or not),
//!   time range (TS_RANGE, inclusive). Every 10000 consecutive records skipped by the time
//!   range, a keep-alive (status 1, no key) carries the progress.
//! * Refusals: bad payload size, unknown action or SERVER_SEND without groups -22;
//!   unknown flags, DISK, SERVER_SEND (not implemented here) or unknown types -95; a
//!   range or time range with begin > end -34; PAUSE / CONTINUE / CANCEL of an id not
//!   running -2. A cancelled iterator ends with ACK -8.
//! * Ids: node-wide, the lowest free number from 0, as the real server numbers them; we
//!   also report the number in every response, where the real server leaves 0.
//! * Memory: the keys are snapshot once (64 bytes per matching key, sorted), then resolved
//!   and read in batches; replies go through the connection's bounded writer queue, so a
//!   slow reader stops the iterator instead of piling up replies, and the data of replies
//!   not yet written is capped per iterator ([`DATA_IN_FLIGHT`]). A record too large for
//!   one reply (the node's `max_payload`) is sent without its data.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use elliptics::proto::errno::code;
use elliptics::proto::{
    Frame, Id, IteratorAction, IteratorFlags, IteratorRequest, IteratorResponse, IteratorType,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::data::{from_ts, pick_backend};
use super::{NODE_LEVEL, ack, encoded, reply};
use crate::backend::Backend;
use crate::blob::{IterRecord, KeyId, StoreError};
use crate::server::NodeState;
use crate::server::conn::ConnCtx;

/// Keys resolved (and read, with DATA) per trip to the store.
const BATCH: usize = 256;
/// Data bytes read per batch before the batch is cut short (at least one record).
const BATCH_BYTES: usize = 4 << 20;
/// Data bytes of an iterator's replies queued but not yet written to the socket.
pub(crate) const DATA_IN_FLIGHT: usize = 8 << 20;
/// Consecutive records skipped by the time range between two keep-alives.
const KEEPALIVE_EVERY: u64 = 10_000;

/// What a running iterator has been told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunState {
    Running,
    Paused,
    Cancelled,
}

/// The running iterators of a node, by id.
#[derive(Debug, Default)]
pub(crate) struct IteratorRegistry {
    running: Mutex<BTreeMap<u64, watch::Sender<RunState>>>,
}

impl IteratorRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, watch::Sender<RunState>>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new iterator under the lowest free id.
    fn register(&self) -> Registration<'_> {
        let mut map = self.lock();
        let mut id = 0u64;
        for k in map.keys() {
            if *k != id {
                break;
            }
            id += 1;
        }
        let (tx, rx) = watch::channel(RunState::Running);
        map.insert(id, tx);
        Registration {
            registry: self,
            id,
            state: rx,
        }
    }

    /// Applies PAUSE / CONTINUE / CANCEL to iterator `id`; -2 when none runs. A cancel
    /// cannot be undone.
    fn set(&self, id: u64, action: IteratorAction) -> Result<(), i32> {
        let map = self.lock();
        let tx = map.get(&id).ok_or(code::ENOENT)?;
        let next = match action {
            IteratorAction::Pause => RunState::Paused,
            IteratorAction::Continue => RunState::Running,
            _ => RunState::Cancelled,
        };
        tx.send_if_modified(|s| {
            let changed = *s != RunState::Cancelled && *s != next;
            if changed {
                *s = next;
            }
            changed
        });
        Ok(())
    }

    /// Ids of the running iterators.
    pub(crate) fn ids(&self) -> Vec<u64> {
        self.lock().keys().copied().collect()
    }
}

/// A registered iterator; unregisters on drop.
struct Registration<'a> {
    registry: &'a IteratorRegistry,
    id: u64,
    state: watch::Receiver<RunState>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

/// Handles one ITERATOR request: the record replies go straight to the connection's
/// writer queue; returns the final ACK (nothing when the connection went away) and the
/// data bytes sent.
pub(super) async fn handle(state: &NodeState, ctx: &ConnCtx, req: &Frame) -> (Vec<Frame>, u64) {
    let Some(backend) = pick_backend(state, req) else {
        return (vec![ack(req, code::EOPNOTSUPP, NODE_LEVEL)], 0);
    };
    let bid = backend.id as i32;
    let delay = backend.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let Ok(ireq) = req.body::<IteratorRequest>() else {
        return (vec![ack(req, code::EINVAL, bid)], 0);
    };
    match ireq.action {
        IteratorAction::Start => {}
        IteratorAction::Pause | IteratorAction::Continue | IteratorAction::Cancel => {
            let status = match state.iterators.set(ireq.id, ireq.action) {
                Ok(()) => 0,
                Err(e) => e,
            };
            return (vec![ack(req, status, bid)], 0);
        }
        IteratorAction::Other(_) => return (vec![ack(req, code::EINVAL, bid)], 0),
    }
    if let Err(status) = check(&ireq) {
        return (vec![ack(req, status, bid)], 0);
    }
    let reg = state.iterators.register();
    tracing::debug!(id = reg.id, backend = bid, ranges = ireq.ranges.len(), flags = ?ireq.flags, "iterator started");
    let run = Run {
        state,
        ctx,
        req,
        backend,
        ireq: &ireq,
        reg,
        budget: Arc::new(Semaphore::new(DATA_IN_FLIGHT >> 10)),
        close: ctx.close.subscribe(),
    };
    match run.run().await {
        Some((status, bytes)) => (vec![ack(req, status, bid)], bytes),
        None => (Vec::new(), 0),
    }
}

/// The checks of a START, in the real server's order.
fn check(ireq: &IteratorRequest) -> Result<(), i32> {
    if !IteratorFlags::KNOWN.contains(ireq.flags) {
        return Err(code::EOPNOTSUPP);
    }
    match ireq.itype {
        IteratorType::Network => {}
        // The real server refuses a server-send without destination groups first.
        IteratorType::ServerSend if ireq.groups.is_empty() => return Err(code::EINVAL),
        // DISK was never implemented; SERVER_SEND is not implemented here.
        _ => return Err(code::EOPNOTSUPP),
    }
    if ireq.ranges.iter().any(|r| !r.is_valid()) {
        return Err(code::ERANGE);
    }
    if ireq.flags.contains(IteratorFlags::TS_RANGE) && ireq.time_begin > ireq.time_end {
        return Err(code::ERANGE);
    }
    Ok(())
}

/// One running iterator.
struct Run<'a> {
    state: &'a NodeState,
    ctx: &'a ConnCtx,
    req: &'a Frame,
    backend: &'a Arc<Backend>,
    ireq: &'a IteratorRequest,
    reg: Registration<'a>,
    /// Data bytes (KiB permits) of replies not yet written.
    budget: Arc<Semaphore>,
    /// Becomes true when the connection closes.
    close: watch::Receiver<bool>,
}

/// What the store said about one key of a batch.
struct Resolved {
    key: KeyId,
    rec: IterRecord,
    data: Option<Vec<u8>>,
}

/// Record data that gives its share of the in-flight budget back when the writer has
/// written (dropped) it.
struct Tracked {
    data: Vec<u8>,
    _permit: OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Tracked {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Run<'_> {
    /// Runs to the end; `Some((final status, data bytes sent))`, or `None` when the
    /// connection went away.
    async fn run(mut self) -> Option<(i32, u64)> {
        let ranges = self.ireq.ranges.clone();
        let store = self.backend.store.clone();
        let snap = tokio::task::spawn_blocking(move || {
            store.snapshot_keys(|k| {
                let id = Id(*k);
                ranges.is_empty() || ranges.iter().any(|r| r.contains(&id))
            })
        })
        .await;
        let snap = match snap {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "iterator snapshot failed");
                return Some((code::EIO, 0));
            }
        };
        let with_data = self.ireq.flags.contains(IteratorFlags::DATA);
        let ts = self
            .ireq
            .flags
            .contains(IteratorFlags::TS_RANGE)
            .then_some((self.ireq.time_begin, self.ireq.time_end));
        let (mut iterated, mut skipped, mut sent_bytes) = (0u64, 0u64, 0u64);
        let mut pos = 0;
        while pos < snap.keys.len() {
            let batch = match self.resolve(&snap.keys[pos..], with_data).await {
                Ok(b) => b,
                Err(status) => return Some((status, sent_bytes)),
            };
            pos += batch.0;
            for r in batch.1 {
                iterated += 1;
                let stamp = from_ts(r.rec.timestamp);
                if ts.is_some_and(|(b, e)| stamp < b || stamp > e) {
                    skipped += 1;
                    if skipped == KEEPALIVE_EVERY {
                        skipped = 0;
                        let resp = self.response(Id::ZERO, None, iterated, snap.total);
                        self.send(resp, None).await?;
                    }
                    continue;
                }
                skipped = 0;
                let resp = self.response(Id(r.key), Some(&r.rec), iterated, snap.total);
                let len = r.data.as_ref().map_or(0, |d| d.len() as u64);
                self.send(resp, r.data).await?;
                sent_bytes += len;
                if self.flow_control().await? {
                    return Some((code::ENOEXEC, sent_bytes));
                }
            }
            // Control also applies while a time range skips everything.
            if self.flow_control().await? {
                return Some((code::ENOEXEC, sent_bytes));
            }
        }
        tracing::debug!(
            id = self.reg.id,
            iterated,
            total = snap.total,
            "iterator finished"
        );
        Some((0, sent_bytes))
    }

    /// Resolves the records of the first keys of `keys` (and reads their data): at most
    /// [`BATCH`] keys, fewer when their data passes [`BATCH_BYTES`]. Returns how many keys
    /// were consumed and the records still present.
    async fn resolve(
        &self,
        keys: &[KeyId],
        with_data: bool,
    ) -> Result<(usize, Vec<Resolved>), i32> {
        let take = keys.len().min(BATCH);
        if !with_data {
            // Metadata lives in memory: no trip to the blocking pool.
            let out = keys[..take]
                .iter()
                .filter_map(|k| {
                    self.backend.store.iter_record(k).map(|rec| Resolved {
                        key: *k,
                        rec,
                        data: None,
                    })
                })
                .collect();
            return Ok((take, out));
        }
        let cap = self.state.config.max_payload as usize;
        let store = self.backend.store.clone();
        let batch: Vec<KeyId> = keys[..take].to_vec();
        let job = move || {
            let mut out = Vec::new();
            let (mut used, mut bytes) = (0, 0usize);
            for k in &batch {
                used += 1;
                match store.iter_record_data(k) {
                    Ok((rec, data)) => {
                        // A record that would not fit in one reply goes without its data.
                        let data = data.filter(|d| d.len() + IteratorResponse::SIZE <= cap);
                        bytes += data.as_ref().map_or(0, Vec::len);
                        out.push(Resolved { key: *k, rec, data });
                    }
                    Err(StoreError::NotFound) => {}
                    Err(e) => {
                        tracing::warn!(key = %Id(*k), error = %e, "iterator skips an unreadable record");
                    }
                }
                if bytes >= BATCH_BYTES {
                    break;
                }
            }
            (used, out)
        };
        tokio::task::spawn_blocking(job).await.map_err(|e| {
            tracing::error!(error = %e, "iterator read failed");
            code::EIO
        })
    }

    fn response(
        &self,
        key: Id,
        rec: Option<&IterRecord>,
        iterated: u64,
        total: u64,
    ) -> IteratorResponse {
        let mut resp = IteratorResponse {
            id: self.reg.id,
            key,
            iterated_keys: iterated,
            total_keys: total,
            ..IteratorResponse::default()
        };
        match rec {
            Some(r) => {
                resp.timestamp = from_ts(r.timestamp);
                resp.user_flags = r.user_flags;
                resp.size = r.size;
                resp.flags = r.record_flags;
            }
            None => resp.status = IteratorResponse::KEEPALIVE,
        }
        resp
    }

    /// Queues one reply (waiting for room in the writer queue and in the data budget);
    /// `None` when the connection is gone.
    async fn send(&mut self, resp: IteratorResponse, data: Option<Vec<u8>>) -> Option<()> {
        let data = match data {
            None => Bytes::new(),
            Some(d) => {
                let total = (DATA_IN_FLIGHT >> 10) as u32;
                let need = u32::try_from(d.len().div_ceil(1024))
                    .unwrap_or(u32::MAX)
                    .clamp(1, total);
                let permit = tokio::select! {
                    p = self.budget.clone().acquire_many_owned(need) => p.ok()?,
                    _ = self.close.wait_for(|c| *c) => return None,
                };
                Bytes::from_owner(Tracked {
                    data: d,
                    _permit: permit,
                })
            }
        };
        let frame = reply(self.req, true, self.backend.id as i32, encoded(&resp), data);
        tokio::select! {
            r = self.ctx.tx.send(frame) => r.ok(),
            _ = self.close.wait_for(|c| *c) => None,
        }
    }

    /// Applies PAUSE / CANCEL: waits while paused; `Some(true)` when cancelled, `None`
    /// when the connection closed meanwhile.
    async fn flow_control(&mut self) -> Option<bool> {
        loop {
            let s = *self.reg.state.borrow_and_update();
            match s {
                RunState::Running => return Some(false),
                RunState::Cancelled => return Some(true),
                RunState::Paused => {
                    tokio::select! {
                        r = self.reg.state.changed() => r.ok()?,
                        _ = self.close.wait_for(|c| *c) => return None,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_lowest_free_numbers() {
        let reg = IteratorRegistry::default();
        let a = reg.register();
        let b = reg.register();
        let c = reg.register();
        assert_eq!((a.id, b.id, c.id), (0, 1, 2));
        drop(b);
        assert_eq!(reg.ids(), vec![0, 2]);
        let d = reg.register();
        assert_eq!(d.id, 1);
        drop((a, c, d));
        assert!(reg.ids().is_empty());
    }

    #[test]
    fn control_changes_the_state() {
        let reg = IteratorRegistry::default();
        let r = reg.register();
        assert_eq!(reg.set(7, IteratorAction::Pause), Err(code::ENOENT));
        reg.set(r.id, IteratorAction::Pause).unwrap();
        assert_eq!(*r.state.borrow(), RunState::Paused);
        reg.set(r.id, IteratorAction::Continue).unwrap();
        assert_eq!(*r.state.borrow(), RunState::Running);
        reg.set(r.id, IteratorAction::Cancel).unwrap();
        reg.set(r.id, IteratorAction::Continue).unwrap();
        assert_eq!(*r.state.borrow(), RunState::Cancelled, "a cancel sticks");
    }

    #[test]
    fn start_checks() {
        use elliptics::proto::{DnetTime, IteratorRange};
        let ok = IteratorRequest::start();
        assert_eq!(check(&ok), Ok(()));
        let mut r = ok.clone();
        r.flags = IteratorFlags(0x40);
        assert_eq!(check(&r), Err(code::EOPNOTSUPP));
        for t in [IteratorType::Disk, IteratorType::Other(9)] {
            let mut r = ok.clone();
            r.itype = t;
            assert_eq!(check(&r), Err(code::EOPNOTSUPP));
        }
        let mut r = ok.clone();
        r.itype = IteratorType::ServerSend;
        assert_eq!(check(&r), Err(code::EINVAL), "server-send without groups");
        r.groups = vec![2];
        assert_eq!(
            check(&r),
            Err(code::EOPNOTSUPP),
            "server-send is not implemented"
        );
        let mut r = ok.clone();
        r.ranges = vec![IteratorRange::new(Id([2; 64]), Id([1; 64]))];
        assert_eq!(
            check(&r),
            Err(code::ERANGE),
            "checked with or without KEY_RANGE"
        );
        let mut r = ok.clone();
        r.flags = IteratorFlags::TS_RANGE;
        r.time_begin = DnetTime { tsec: 2, tnsec: 0 };
        r.time_end = DnetTime { tsec: 1, tnsec: 0 };
        assert_eq!(check(&r), Err(code::ERANGE));
        r.flags = IteratorFlags::empty();
        assert_eq!(check(&r), Ok(()), "times are ignored without TS_RANGE");
    }
}
