//! Connection timeouts, enforced by an I/O wrapper around each client socket:
//!
//! * **idle**: a read or write waiting longer than `idle_timeout` since the last byte moved
//!   in either direction fails. A slow but steady reader or uploader is never cut off
//!   (there is no total-duration limit), a stalled one is, and so is a keep-alive
//!   connection with no new request for that long.
//! * **request header**: once the first byte of a new request arrives, its header must be
//!   complete within `header_timeout` (slowloris). "Complete" is learnt from
//!   [`CountingService`], which sees each request the moment hyper has parsed its head.
//!   The clock does not run while a keep-alive connection sits idle between requests, so
//!   idle clients are not forced to reconnect every `header_timeout` (hyper's own header
//!   timeout, which is switched off, starts with the wait for the next request).
//!
//! Timers are armed lazily: moving bytes only records the time, and one timer per
//! connection fires at most every `min(idle, header)` to compare the clock with the
//! deadlines. Resetting a tokio timer on every read and write, or creating one per request,
//! would take the timer wheel's lock several times per request.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Requests of one connection whose head hyper has parsed, and those answered.
#[derive(Debug, Default)]
pub struct RequestCounter {
    started: AtomicU64,
    answered: AtomicU64,
}

impl RequestCounter {
    fn started(&self) -> u64 {
        self.started.load(Ordering::Acquire)
    }

    fn in_flight(&self) -> bool {
        self.started.load(Ordering::Acquire) != self.answered.load(Ordering::Acquire)
    }
}

/// `inner` with idle and request-header timeouts.
#[derive(Debug)]
pub struct IdleTimeoutIo<T> {
    inner: T,
    idle_timeout: Duration,
    header_timeout: Duration,
    requests: Arc<RequestCounter>,
    /// When bytes last moved.
    last: Instant,
    /// First byte of a request whose head is not parsed yet, and the request count then.
    head_since: Option<(Instant, u64)>,
    /// Fires no later than the earliest deadline (then it is re-armed or fails I/O).
    timer: Pin<Box<Sleep>>,
}

impl<T> IdleTimeoutIo<T> {
    /// Wraps `inner`; the clocks start now. `requests` must be shared with the
    /// connection's [`CountingService`].
    pub fn new(
        inner: T,
        idle_timeout: Duration,
        header_timeout: Duration,
        requests: Arc<RequestCounter>,
    ) -> IdleTimeoutIo<T> {
        let last = Instant::now();
        // The first request's header is due from the start (a client that connects and
        // sends nothing is closed at the header timeout, as before).
        let head_since = Some((last, 0));
        IdleTimeoutIo {
            inner,
            idle_timeout,
            header_timeout,
            requests,
            last,
            head_since,
            timer: Box::pin(tokio::time::sleep_until(
                last + idle_timeout.min(header_timeout),
            )),
        }
    }

    fn read_progress(&mut self) {
        self.last = Instant::now();
        if self.head_since.is_none() && !self.requests.in_flight() {
            self.head_since = Some((self.last, self.requests.started()));
        }
    }

    fn write_progress(&mut self) {
        self.last = Instant::now();
        // The server is answering: whatever was being read has been understood.
        self.head_since = None;
    }

    /// The earliest deadline now in force.
    fn due(&mut self) -> Instant {
        if let Some((_, at)) = self.head_since {
            if self.requests.started() != at {
                self.head_since = None;
            }
        }
        let idle = self.last + self.idle_timeout;
        match self.head_since {
            Some((since, _)) => idle.min(since + self.header_timeout),
            None => idle,
        }
    }

    /// The inner I/O's answer to a write, passed on: bytes written are progress; while the
    /// write is pending, an error once a deadline passed.
    fn written(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.write_progress();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.check(cx).map(Err),
        }
    }

    /// While the inner I/O is pending: an error once a deadline passed.
    fn check(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            match self.timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => {
                    let now = Instant::now();
                    let due = self.due();
                    if due <= now {
                        let what = if self.head_since.is_some() {
                            "request header not received in time"
                        } else {
                            "connection idle for too long"
                        };
                        return Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, what));
                    }
                    let period = self.idle_timeout.min(self.header_timeout);
                    // Poll again to register the waker for the new deadline.
                    self.timer.as_mut().reset(due.min(now + period));
                }
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleTimeoutIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.read_progress();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.check(cx).map(Err),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleTimeoutIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        self.written(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.written(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A connection's service that counts the requests hyper hands it (their heads are
/// parsed) and those it has answered, for [`IdleTimeoutIo`]'s header deadline.
#[derive(Debug, Clone)]
pub struct CountingService<S> {
    inner: S,
    requests: Arc<RequestCounter>,
}

impl<S> CountingService<S> {
    /// Wraps the connection's service.
    pub fn new(inner: S, requests: Arc<RequestCounter>) -> CountingService<S> {
        CountingService { inner, requests }
    }
}

impl<S, R> hyper::service::Service<R> for CountingService<S>
where
    S: hyper::service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, req: R) -> Self::Future {
        self.requests.started.fetch_add(1, Ordering::AcqRel);
        let answered = Answered(Arc::clone(&self.requests));
        let fut = self.inner.call(req);
        Box::pin(async move {
            let r = fut.await;
            drop(answered);
            r
        })
    }
}

/// Counts the request answered when dropped (also when the future is cancelled).
struct Answered(Arc<RequestCounter>);

impl Drop for Answered {
    fn drop(&mut self) {
        self.0.answered.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn wrap<T>(io: T, idle_ms: u64, header_ms: u64) -> (IdleTimeoutIo<T>, Arc<RequestCounter>) {
        let counter = Arc::new(RequestCounter::default());
        let io = IdleTimeoutIo::new(
            io,
            Duration::from_millis(idle_ms),
            Duration::from_millis(header_ms),
            Arc::clone(&counter),
        );
        (io, counter)
    }

    #[tokio::test]
    async fn stalls_fail_and_activity_keeps_alive() {
        let (client, server) = tokio::io::duplex(64);
        let (mut io, counter) = wrap(server, 250, 10_000);
        counter.started.fetch_add(1, Ordering::AcqRel); // a request is being served
        let mut client = client;
        let feeder = tokio::spawn(async move {
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                client.write_all(b"x").await.unwrap_or_default();
            }
            client
        });
        let mut buf = [0u8; 1];
        for _ in 0..4 {
            io.read_exact(&mut buf)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let _client = feeder.await;
        let err = io.read(&mut buf).await.err().map(|e| e.kind());
        assert_eq!(err, Some(io::ErrorKind::TimedOut));
    }

    #[tokio::test]
    async fn a_dribbled_header_times_out_but_an_idle_keep_alive_does_not() {
        // Dribbling: a byte every 100 ms never completes a head; closed at 400 ms.
        let (mut client, server) = tokio::io::duplex(64);
        let (mut io, _counter) = wrap(server, 5_000, 400);
        let started = Instant::now();
        let dribbler = tokio::spawn(async move {
            for _ in 0..20 {
                if client.write_all(b"x").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let mut buf = [0u8; 1];
        let err = loop {
            if let Err(e) = io.read(&mut buf).await {
                break e;
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("header"), "{err}");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(390), "{took:?}");
        assert!(took < Duration::from_millis(1_500), "{took:?}");
        drop(io);
        let _ = dribbler.await;

        // Idle between requests: a head was parsed and answered, a response written;
        // then nothing for longer than the header timeout — still open until `idle`.
        let (mut client, server) = tokio::io::duplex(64);
        let (mut io, counter) = wrap(server, 900, 300);
        client.write_all(b"G").await.unwrap_or_default();
        io.read_exact(&mut buf[..1]).await.unwrap_or_default();
        counter.started.fetch_add(1, Ordering::AcqRel);
        counter.answered.fetch_add(1, Ordering::AcqRel);
        io.write_all(b"HTTP/1.1 200 OK\r\n\r\n")
            .await
            .unwrap_or_default();
        let started = Instant::now();
        let err = io.read(&mut buf).await.err();
        let took = started.elapsed();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::TimedOut));
        assert!(took >= Duration::from_millis(850), "closed at {took:?}");
    }
}
