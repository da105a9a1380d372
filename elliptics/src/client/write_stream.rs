//! Writes of unknown length (an HTTP body sent with chunked transfer encoding): the body
//! is read one `write_chunk_size` chunk at a time. A body that ends inside the first
//! chunk is one plain WRITE of known size. A longer one is a PREPARE reserving a caller-given
//! upper bound, PLAIN_WRITE chunks, and a COMMIT with the real final size (§6.2: the
//! committed size may be smaller than the reservation; eblob and our node make the record
//! exactly the committed size). The next chunk is read from the body while the current
//! one is in flight, so at most two chunks are held in memory. A short read marks the
//! last chunk, which carries the COMMIT; a body whose length is a multiple of the chunk
//! size ends with a zero-length COMMIT.
//!
//! A body that fails, or grows past the reservation, is never committed: the prepared
//! record stays invisible to reads and lookups (and any older version stays readable).

use bytes::{Bytes, BytesMut};
use futures_util::future::join;
use tokio::io::{AsyncRead, AsyncReadExt};
use tracing::Instrument;

use super::plan::{WriteChunk, WriteKind};
use super::result::WriteOutcome;
use super::session::Session;
use super::write::ChunkBuffers;
use crate::error::Error;
use crate::proto::Id;

impl Session {
    /// Writes all of `body`, whose length is not known in advance, at remote `offset` to
    /// every group in parallel. `limit` bounds the final object size (`offset` + body
    /// length) and is the reservation of the PREPARE when the body is longer than one
    /// chunk.
    ///
    /// Fails with [`Error::InvalidArgument`] when the body is empty or would make the
    /// object larger than `limit` (nothing is committed then), with [`Error::Io`] when
    /// `body` fails, and like [`Session::write`] when every group failed.
    pub async fn write_unsized(
        &self,
        key: &[u8],
        body: impl AsyncRead + Unpin + Send,
        offset: u64,
        limit: u64,
    ) -> Result<WriteOutcome, Error> {
        self.write_unsized_id(self.id(key), body, offset, limit)
            .await
    }

    /// [`Session::write_unsized`] by id.
    pub async fn write_unsized_id(
        &self,
        id: Id,
        body: impl AsyncRead + Unpin + Send,
        offset: u64,
        limit: u64,
    ) -> Result<WriteOutcome, Error> {
        let span = self.span("write_unsized", &id);
        self.write_unsized_inner(id, body, offset, limit)
            .instrument(span)
            .await
    }

    async fn write_unsized_inner(
        &self,
        id: Id,
        mut body: impl AsyncRead + Unpin + Send,
        offset: u64,
        limit: u64,
    ) -> Result<WriteOutcome, Error> {
        let chunk_size = self.client.config().write_chunk_size.max(1);
        let mut job = self.write_job(id)?;
        let mut buffers = ChunkBuffers::default();
        let first = read_up_to(&mut body, buffers.take(chunk_size as u64), chunk_size).await?;
        if first.is_empty() {
            return Err(Error::InvalidArgument("empty body".into()));
        }
        let mut end = within(offset, first.len(), limit)?;
        if first.len() < chunk_size {
            let len = first.len() as u64;
            let chunk = WriteChunk {
                kind: WriteKind::Plain,
                offset,
                len,
                num: 0,
            };
            self.send_to_alive(&mut job, &chunk, first, end).await;
            return job.finish();
        }
        let mut at = offset;
        let mut data = first;
        let mut kind = WriteKind::Prepare;
        loop {
            let len = data.len() as u64;
            if data.len() < chunk_size {
                // A short read: the body ended, this chunk commits the object.
                let chunk = WriteChunk {
                    kind: WriteKind::Commit,
                    offset: at,
                    len,
                    num: end,
                };
                self.send_to_alive(&mut job, &chunk, data, end).await;
                return job.finish();
            }
            let num = if kind == WriteKind::Prepare {
                limit
            } else {
                end
            };
            let chunk = WriteChunk {
                kind,
                offset: at,
                len,
                num,
            };
            let spare = buffers.take(chunk_size as u64);
            let (next, sent) = join(
                read_up_to(&mut body, spare, chunk_size),
                self.send_to_alive(&mut job, &chunk, data, end),
            )
            .await;
            buffers.recycle(sent);
            if !job.any_alive() {
                return job.finish();
            }
            let next = next?;
            at = end;
            end = within(at, next.len(), limit)?;
            data = next;
            kind = WriteKind::Middle;
        }
    }
}

/// `at + len` when it stays within `limit`.
fn within(at: u64, len: usize, limit: u64) -> Result<u64, Error> {
    at.checked_add(len as u64)
        .filter(|&end| end <= limit)
        .ok_or_else(|| Error::InvalidArgument(format!("body exceeds the limit of {limit} bytes")))
}

/// Reads `body` into `buf` (empty) until `max` bytes or its end, whichever comes first.
async fn read_up_to(
    body: &mut (impl AsyncRead + Unpin + Send),
    mut buf: BytesMut,
    max: usize,
) -> Result<Bytes, Error> {
    while buf.len() < max {
        let rest = (max - buf.len()) as u64;
        if (&mut *body).take(rest).read_buf(&mut buf).await? == 0 {
            break;
        }
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_up_to_the_chunk_or_the_end() -> Result<(), Error> {
        let data = [7u8; 25];
        let mut body = &data[..];
        assert_eq!(read_up_to(&mut body, BytesMut::new(), 10).await?.len(), 10);
        assert_eq!(read_up_to(&mut body, BytesMut::new(), 10).await?.len(), 10);
        assert_eq!(read_up_to(&mut body, BytesMut::new(), 10).await?.len(), 5);
        assert!(read_up_to(&mut body, BytesMut::new(), 10).await?.is_empty());
        Ok(())
    }

    #[test]
    fn limits() {
        assert_eq!(within(10, 5, 15).ok(), Some(15));
        assert!(within(10, 6, 15).is_err());
        assert!(within(u64::MAX, 1, u64::MAX).is_err());
    }
}
