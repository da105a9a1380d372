//! Reads: the first chunk is fetched eagerly (so "not found" and friends surface before
//! any byte is streamed), the rest lazily, one READ in flight at a time, each chunk
//! falling back over the groups from the current position. The first READ verifies the
//! checksum on the node; later ones add NOCSUM unless the record is chunk-checksummed
//! (§14.2).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::BoxFuture;
use tracing::Instrument;

use super::session::Session;
use crate::error::Error;
use crate::proto::codec::Reader;
use crate::proto::{Codec, DnetTime, Frame, Id, IoAttr, IoFlags, record_flags};

/// One READ reply.
struct Chunk {
    io: IoAttr,
    data: Bytes,
    group: u32,
}

/// The bytes of one object (or range), as a stream of chunks.
pub struct ReadStream {
    session: Session,
    id: Id,
    order: Vec<u32>,
    first: Option<Bytes>,
    pos: u64,
    end: u64,
    size: u64,
    attr: IoAttr,
    group: u32,
    extra: IoFlags,
    pending: Option<BoxFuture<'static, Result<Chunk, Error>>>,
    done: bool,
    span: tracing::Span,
}

impl fmt::Debug for ReadStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadStream")
            .field("id", &self.id)
            .field("group", &self.group)
            .field("pos", &self.pos)
            .field("end", &self.end)
            .field("total_size", &self.attr.total_size)
            .finish_non_exhaustive()
    }
}

impl ReadStream {
    /// Full size of the stored object.
    pub fn total_size(&self) -> u64 {
        self.attr.total_size
    }
    /// Bytes this stream yields in total.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// Record timestamp (`Last-Modified`).
    pub fn timestamp(&self) -> DnetTime {
        self.attr.timestamp
    }
    /// Stored record flags.
    pub fn record_flags(&self) -> u64 {
        self.attr.record_flags
    }
    /// Stored user flags.
    pub fn user_flags(&self) -> u64 {
        self.attr.user_flags
    }
    /// The group that served the first chunk.
    pub fn group(&self) -> u32 {
        self.group
    }
    /// The io attributes of the first reply.
    pub fn first_reply(&self) -> &IoAttr {
        &self.attr
    }
}

impl Session {
    /// Reads `size` bytes (0 = to the end) of `key` from `offset`. Groups are tried in
    /// session order until one answers the first chunk (at most the client's
    /// `read_chunk_size` bytes); the returned stream fetches the rest on demand.
    pub async fn read(&self, key: &[u8], offset: u64, size: u64) -> Result<ReadStream, Error> {
        self.read_id(self.id(key), offset, size).await
    }

    /// Reads the whole of a small object (metadata, records) into memory, refusing objects
    /// larger than `max` bytes before reading them (`Error::Protocol`).
    pub async fn read_bounded(&self, key: &[u8], max: u64) -> Result<Vec<u8>, Error> {
        use futures_util::TryStreamExt;
        let stream = self.read(key, 0, 0).await?;
        if stream.total_size() > max {
            return Err(Error::Protocol(format!(
                "object '{}' has {} bytes, more than {max}",
                String::from_utf8_lossy(key),
                stream.total_size()
            )));
        }
        stream
            .try_fold(Vec::new(), |mut acc, chunk| async move {
                acc.extend_from_slice(&chunk);
                Ok(acc)
            })
            .await
    }

    /// Reads the whole of a record that is only ever appended to (a journal), refusing one
    /// larger than `max` bytes. The bytes are those the record held at the first READ:
    /// the READs of the rest stay within that size, from the same group, and accept a
    /// record that grew meanwhile (an APPEND changes a record's size and timestamp, never
    /// the bytes before its old end), where [`Session::read_bounded`] would fail with
    /// "holds another version".
    pub async fn read_append_only(&self, key: &[u8], max: u64) -> Result<Vec<u8>, Error> {
        self.read_append_only_from(key, 0, max).await
    }

    /// [`Session::read_append_only`] from byte `from` on (the bytes before it already
    /// known): the record's bytes `[from, size)` at the first READ. `from` must be below
    /// the record's size (a node refuses a READ at or past the end); a reader that knows
    /// `n` bytes reads from `n - 1` and checks the overlapping byte.
    pub async fn read_append_only_from(
        &self,
        key: &[u8],
        from: u64,
        max: u64,
    ) -> Result<Vec<u8>, Error> {
        let id = self.id(key);
        let span = self.span("read_append_only", &id);
        async move {
            let chunk = self.client.config().read_chunk_size as u64;
            let groups = self.opts.groups.clone();
            let first = fetch(
                self.clone(),
                id,
                groups,
                from,
                chunk,
                IoFlags::default(),
                None,
            )
            .await?;
            let total = first.io.total_size;
            if total > max {
                return Err(Error::Protocol(format!(
                    "object '{}' has {total} bytes, more than {max}",
                    String::from_utf8_lossy(key)
                )));
            }
            let want_total = total.saturating_sub(from);
            let extra = match first.io.record_flags & record_flags::CHUNKED_CSUM {
                0 => IoFlags::NOCSUM,
                _ => IoFlags::default(),
            };
            let mut data = Vec::with_capacity(usize::try_from(want_total).unwrap_or(0));
            let head =
                usize::try_from(want_total).map_or(first.data.len(), |t| t.min(first.data.len()));
            data.extend_from_slice(&first.data[..head]);
            while (data.len() as u64) < want_total {
                let want = (want_total - data.len() as u64).min(chunk);
                let at = from + data.len() as u64;
                let next =
                    fetch(self.clone(), id, vec![first.group], at, want, extra, None).await?;
                if next.data.is_empty() {
                    return Err(Error::Protocol(format!(
                        "record '{}' shrank below {at} bytes while read",
                        String::from_utf8_lossy(key)
                    )));
                }
                let take =
                    usize::try_from(want).map_or(next.data.len(), |w| w.min(next.data.len()));
                data.extend_from_slice(&next.data[..take]);
            }
            Ok(data)
        }
        .instrument(span)
        .await
    }

    /// [`Session::read`] by id.
    pub async fn read_id(&self, id: Id, offset: u64, size: u64) -> Result<ReadStream, Error> {
        let span = self.span("read", &id);
        let chunk = self.client.config().read_chunk_size as u64;
        let want = if size == 0 { chunk } else { size.min(chunk) };
        let groups = self.opts.groups.clone();
        let first = fetch(
            self.clone(),
            id,
            groups.clone(),
            offset,
            want,
            IoFlags::default(),
            None,
        )
        .instrument(span.clone())
        .await?;
        let avail = first.io.total_size.saturating_sub(offset);
        let size = if size == 0 { avail } else { size.min(avail) };
        let mut data = first.data;
        data.truncate(size.min(data.len() as u64) as usize);
        let extra = match first.io.record_flags & record_flags::CHUNKED_CSUM {
            0 => IoFlags::NOCSUM,
            _ => IoFlags::default(),
        };
        Ok(ReadStream {
            session: self.clone(),
            id,
            order: order_from(&groups, first.group),
            pos: offset + data.len() as u64,
            end: offset + size,
            first: Some(data),
            size,
            attr: first.io,
            group: first.group,
            extra,
            pending: None,
            done: false,
            span,
        })
    }
}

/// `groups` with `first` moved to the front.
fn order_from(groups: &[u32], first: u32) -> Vec<u32> {
    let mut v = vec![first];
    v.extend(groups.iter().copied().filter(|g| *g != first));
    v
}

/// READs `size` bytes at `offset`, trying `groups` in order. With `expect` = (total
/// size, timestamp) of the first reply, a group holding another version counts as
/// failed.
async fn fetch(
    session: Session,
    id: Id,
    groups: Vec<u32>,
    offset: u64,
    size: u64,
    extra: IoFlags,
    expect: Option<(u64, DnetTime)>,
) -> Result<Chunk, Error> {
    let mut errors = Vec::new();
    for g in groups {
        let r = session
            .group_request(
                &id,
                g,
                |backend| session.opts.read_frame(id, g, backend, offset, size, extra),
                |f, _| parse_read(f),
            )
            .await;
        let (io, data) = match r.result {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(group = g, offset, error = %e, "read failed, trying the next group");
                errors.push((g, e));
                continue;
            }
        };
        if let Some((total, ts)) = expect {
            if io.total_size != total || io.timestamp != ts {
                errors.push((
                    g,
                    Error::Protocol(format!(
                        "group {g} holds another version (size {}, time {}.{})",
                        io.total_size, io.timestamp.tsec, io.timestamp.tnsec
                    )),
                ));
                continue;
            }
        }
        return Ok(Chunk { io, data, group: g });
    }
    Err(match errors.is_empty() {
        true => Error::InvalidArgument("session has no groups".into()),
        false => Error::from_group_errors(errors),
    })
}

/// Splits a READ reply into its io attributes and data (zero-copy).
fn parse_read(f: &Frame) -> Result<(IoAttr, Bytes), Error> {
    let io = IoAttr::decode(&mut Reader::new(&f.payload))?;
    let data = f.payload.slice(IoAttr::SIZE..);
    if data.len() as u64 != io.size {
        return Err(Error::Protocol(format!(
            "READ reply carries {} data bytes, io_attr says {}",
            data.len(),
            io.size
        )));
    }
    Ok((io, data))
}

impl Stream for ReadStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(b) = this.first.take() {
            if !b.is_empty() {
                return Poll::Ready(Some(Ok(b)));
            }
        }
        if this.done || this.pos >= this.end {
            return Poll::Ready(None);
        }
        let chunk = this.session.client.config().read_chunk_size as u64;
        let fut = this.pending.get_or_insert_with(|| {
            let fut = fetch(
                this.session.clone(),
                this.id,
                this.order.clone(),
                this.pos,
                chunk.min(this.end - this.pos),
                this.extra,
                Some((this.attr.total_size, this.attr.timestamp)),
            );
            Box::pin(fut.instrument(this.span.clone()))
        });
        let res = match fut.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        this.pending = None;
        match res {
            Err(e) => {
                this.done = true;
                Poll::Ready(Some(Err(e)))
            }
            Ok(c) => {
                let mut data = c.data;
                data.truncate((this.end - this.pos).min(data.len() as u64) as usize);
                if data.is_empty() {
                    this.done = true;
                    return Poll::Ready(Some(Err(Error::Protocol(format!(
                        "group {} returned no data at offset {} of {}",
                        c.group, this.pos, this.end
                    )))));
                }
                this.pos += data.len() as u64;
                if this.order.first() != Some(&c.group) {
                    this.order = order_from(&this.order, c.group);
                }
                Poll::Ready(Some(Ok(data)))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let chunk = self.session.client.config().read_chunk_size.max(1) as u64;
        let rest = self.end.saturating_sub(self.pos);
        let first = usize::from(self.first.as_ref().is_some_and(|b| !b.is_empty()));
        let n = usize::try_from(rest.div_ceil(chunk)).unwrap_or(usize::MAX);
        (first, Some(n.saturating_add(first)))
    }
}
