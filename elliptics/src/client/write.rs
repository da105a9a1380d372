//! Writes: the body is read one chunk at a time into one buffer that every group's
//! request shares (`Bytes` clones, no per-group copies); each chunk goes to all groups
//! still alive in parallel while the next chunk is read from the body, so at most two
//! chunks are in memory and reading the client overlaps writing to storage.
//! A group that fails is dropped from later chunks; the write fails only when no group
//! succeeded.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_util::future::{join, join_all};
use tokio::io::{AsyncRead, AsyncReadExt};
use tracing::Instrument;

use super::plan::{WriteChunk, write_plan};
use super::result::{GroupResult, WriteOutcome, at_least_one};
use super::session::{Session, parse_file_info};
use crate::error::Error;
use crate::proto::{DnetTime, FileInfo, FileInfoReply, Frame, Id, IoFlags, NodeAddr};

/// One group's progress through a write.
pub(super) struct GroupState {
    group: u32,
    route: Option<(NodeAddr, i32)>,
    backend_id: i32,
    start: Instant,
    elapsed: std::time::Duration,
    result: Option<Result<FileInfoReply, Error>>,
}

impl GroupState {
    fn alive(&self) -> bool {
        !matches!(self.result, Some(Err(_)))
    }
}

/// What every WRITE of one upload shares: the key, the groups' progress, the timestamp.
pub(super) struct WriteJob {
    id: Id,
    timestamp: DnetTime,
    no_file_info: bool,
    states: Vec<GroupState>,
}

impl WriteJob {
    /// Whether some group has not failed yet.
    pub(super) fn any_alive(&self) -> bool {
        self.states.iter().any(GroupState::alive)
    }

    /// The per-group results: the reply to each group's last WRITE, or its failure.
    pub(super) fn finish(self) -> Result<WriteOutcome, Error> {
        let results = self
            .states
            .into_iter()
            .map(|s| GroupResult {
                group: s.group,
                addr: s.route.map(|r| r.0),
                backend_id: s.backend_id,
                elapsed: s.elapsed,
                result: s
                    .result
                    .unwrap_or_else(|| Err(Error::Protocol("group got no reply".into()))),
            })
            .collect();
        Ok(WriteOutcome {
            results: at_least_one(results)?,
        })
    }
}

impl Session {
    /// Writes `size` bytes read from `body` at remote `offset` to every group in
    /// parallel. Objects up to the client's `write_chunk_size` go in one plain WRITE;
    /// larger ones as PREPARE / PLAIN_WRITE / COMMIT chunks (§6.2), never holding more
    /// than two chunks in memory (one in flight, the next being read). `io.timestamp` is the session timestamp or now.
    ///
    /// Fails when every group failed, when `body` fails or ends before `size` bytes
    /// ([`Error::Io`] / [`Error::InvalidArgument`]), or when the session has no groups.
    pub async fn write(
        &self,
        key: &[u8],
        body: impl AsyncRead + Unpin + Send,
        size: u64,
        offset: u64,
    ) -> Result<WriteOutcome, Error> {
        self.write_id(self.id(key), body, size, offset).await
    }

    /// [`Session::write`] by id.
    pub async fn write_id(
        &self,
        id: Id,
        body: impl AsyncRead + Unpin + Send,
        size: u64,
        offset: u64,
    ) -> Result<WriteOutcome, Error> {
        let span = self.span("write", &id);
        self.write_inner(id, body, size, offset)
            .instrument(span)
            .await
    }

    async fn write_inner(
        &self,
        id: Id,
        mut body: impl AsyncRead + Unpin + Send,
        size: u64,
        offset: u64,
    ) -> Result<WriteOutcome, Error> {
        let mut job = self.write_job(id)?;
        let plan = write_plan(offset, size, self.client.config().write_chunk_size);
        let mut chunks = plan.iter();
        let Some(mut chunk) = chunks.next() else {
            return job.finish();
        };
        let mut buffers = ChunkBuffers::default();
        let mut data = read_chunk(&mut body, buffers.take(chunk.len), chunk.len, size).await?;
        // The next chunk is read from the body while the current one is in flight.
        while job.any_alive() {
            let Some(next) = chunks.next() else {
                self.send_to_alive(&mut job, chunk, data, size).await;
                break;
            };
            let spare = buffers.take(next.len);
            let (read, sent) = join(
                read_chunk(&mut body, spare, next.len, size),
                self.send_to_alive(&mut job, chunk, data, size),
            )
            .await;
            buffers.recycle(sent);
            if !job.any_alive() {
                break;
            }
            data = read?;
            chunk = next;
        }
        job.finish()
    }

    /// A write of `id` to the session's groups, each routed now (an unrouted group has
    /// already failed).
    pub(super) fn write_job(&self, id: Id) -> Result<WriteJob, Error> {
        if self.opts.groups.is_empty() {
            return Err(Error::InvalidArgument("session has no groups".into()));
        }
        let inner = self.client.inner();
        let states = self
            .opts
            .groups
            .iter()
            .map(|&group| {
                let route = inner.route(&id, group);
                GroupState {
                    group,
                    route: route.as_ref().ok().copied(),
                    backend_id: route.as_ref().map_or(-1, |r| r.1),
                    start: Instant::now(),
                    elapsed: Default::default(),
                    result: route.err().map(Err),
                }
            })
            .collect();
        Ok(WriteJob {
            id,
            timestamp: self.opts.timestamp.unwrap_or_else(DnetTime::now),
            no_file_info: self.opts.ioflags.contains(IoFlags::WRITE_NO_FILE_INFO),
            states,
        })
    }

    /// Compare-and-swap WRITE (§6.2 `write_cas`) of the whole record `data` at `key`, to
    /// every group in parallel: each group stores `data` only when the SHA-512 of what it
    /// holds now equals `expected` ([`Id::checksum`] of the bytes read), or when it holds
    /// nothing; otherwise it refuses with -77 (EBADFD). Groups decide independently, so
    /// the outcome can differ per group: check every result. Fails like
    /// [`Session::write`] (every group failed), and with [`Error::InvalidArgument`] for
    /// data larger than one WRITE (`write_chunk_size`).
    pub async fn write_cas(
        &self,
        key: &[u8],
        data: Bytes,
        expected: Id,
    ) -> Result<WriteOutcome, Error> {
        let id = self.id(key);
        if data.len() > self.client.config().write_chunk_size {
            return Err(Error::InvalidArgument(format!(
                "compare-and-swap write of {} bytes, more than one chunk",
                data.len()
            )));
        }
        let span = self.span("write_cas", &id);
        async {
            let mut job = self.write_job(id)?;
            let timestamp = job.timestamp;
            let size = data.len() as u64;
            let sends = job.states.iter().map(|s| {
                let frame = s.route.map(|(_, backend)| {
                    self.opts.write_cas_frame(
                        id,
                        s.group,
                        backend,
                        data.clone(),
                        expected,
                        timestamp,
                    )
                });
                self.send_chunk(s.route, frame)
            });
            let replies = join_all(sends).await;
            let no_file_info = job.no_file_info;
            for (s, reply) in job.states.iter_mut().zip(replies) {
                if !s.alive() {
                    continue;
                }
                s.elapsed = s.start.elapsed();
                s.result = Some(reply.and_then(|f| {
                    s.backend_id = f.header.backend_id;
                    match (f.payload.is_empty(), s.route) {
                        (true, Some((addr, _))) if no_file_info => Ok(synthetic_info(addr, size)),
                        _ => parse_file_info(&f),
                    }
                }));
            }
            job.finish()
        }
        .instrument(span)
        .await
    }

    /// Sends `chunk` carrying `data` to every group still alive in parallel and records
    /// each reply; `size` is the object size reported for a bare ACK (`WRITE_NO_FILE_INFO`).
    /// Gives `data` back for [`ChunkBuffers::recycle`].
    pub(super) async fn send_to_alive(
        &self,
        job: &mut WriteJob,
        chunk: &WriteChunk,
        data: Bytes,
        size: u64,
    ) -> Bytes {
        let id = job.id;
        let timestamp = job.timestamp;
        let sends = job.states.iter().filter(|s| s.alive()).map(|s| {
            let frame = s.route.map(|(_, backend)| {
                self.opts
                    .write_frame(id, s.group, backend, chunk, data.clone(), timestamp)
            });
            self.send_chunk(s.route, frame)
        });
        let replies = join_all(sends).await;
        let no_file_info = job.no_file_info;
        let alive = job.states.iter_mut().filter(|s| s.alive());
        for (s, reply) in alive.zip(replies) {
            s.elapsed = s.start.elapsed();
            s.result = Some(reply.and_then(|f| {
                s.backend_id = f.header.backend_id;
                match (f.payload.is_empty(), s.route) {
                    (true, Some((addr, _))) if no_file_info => Ok(synthetic_info(addr, size)),
                    _ => parse_file_info(&f),
                }
            }));
        }
        data
    }

    async fn send_chunk(
        &self,
        route: Option<(NodeAddr, i32)>,
        frame: Option<Frame>,
    ) -> Result<Frame, Error> {
        let (Some((addr, _)), Some(frame)) = (route, frame) else {
            return Err(Error::Protocol("write to an unrouted group".into()));
        };
        let conn = self.client.inner().conn(&addr)?;
        conn.request(frame, self.effective_timeout())
            .await?
            .final_reply()
            .await
    }
}

/// The chunk buffers of one upload. A chunk's buffer is shared (`Bytes` clones) by the
/// frames of every group; once all of them were written it is unique again and serves a
/// later chunk. So an upload allocates two buffers, not one per chunk: fresh multi-MiB
/// allocations are paid in page faults and page zeroing on every chunk, which showed up
/// as a fifth of the proxy's CPU under concurrent large uploads.
#[derive(Default)]
pub(super) struct ChunkBuffers {
    spare: Option<BytesMut>,
}

impl ChunkBuffers {
    /// An empty buffer with room for `len` bytes (a recycled one when it is big enough).
    pub(super) fn take(&mut self, len: u64) -> BytesMut {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        match self.spare.take() {
            Some(mut b) if b.capacity() >= len => {
                b.clear();
                b
            }
            // Chunk sizes are bounded by the client's `write_chunk_size`.
            _ => BytesMut::with_capacity(len),
        }
    }

    /// Keeps `data`'s buffer for reuse when no frame holds it any more (a frame still
    /// queued after a timeout keeps it alive; then it is simply freed later).
    pub(super) fn recycle(&mut self, data: Bytes) {
        if let Ok(b) = data.try_into_mut() {
            self.spare = Some(b);
        }
    }
}

/// Reads exactly `len` bytes of `body` into `buf` (empty, from [`ChunkBuffers::take`]).
async fn read_chunk(
    body: &mut (impl AsyncRead + Unpin + Send),
    mut buf: BytesMut,
    len: u64,
    declared: u64,
) -> Result<Bytes, Error> {
    let want = usize::try_from(len)
        .map_err(|_| Error::InvalidArgument(format!("chunk of {len} bytes")))?;
    while buf.len() < want {
        let rest = (want - buf.len()) as u64;
        let n = (&mut *body).take(rest).read_buf(&mut buf).await?;
        if n == 0 {
            return Err(Error::InvalidArgument(format!(
                "body ended {rest} bytes short of the declared size {declared}"
            )));
        }
    }
    Ok(buf.freeze())
}

/// The file info reported for a group written with `WRITE_NO_FILE_INFO` (the node sent
/// a bare ACK): the node address and the written size, nothing else.
fn synthetic_info(addr: NodeAddr, size: u64) -> FileInfoReply {
    FileInfoReply {
        addr,
        info: FileInfo {
            size,
            ..FileInfo::default()
        },
        path: String::new(),
    }
}
