//! One pending transaction: the caller's end of the reply channel, with the per-request
//! inactivity timeout (the deadline moves forward with every reply packet, §4.6) and
//! removal from the connection's in-flight map when dropped.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::conn::Shared;
use crate::error::Error;
use crate::proto::Frame;

/// Replies of one request, in order; the first packet without `MORE` is the last.
pub(crate) struct Transaction {
    rx: mpsc::Receiver<Frame>,
    trans: u64,
    cmd: i32,
    shared: Arc<Shared>,
    timeout: Duration,
    done: bool,
    _permit: OwnedSemaphorePermit,
}

impl Transaction {
    pub(crate) fn new(
        rx: mpsc::Receiver<Frame>,
        trans: u64,
        cmd: i32,
        shared: Arc<Shared>,
        timeout: Duration,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            rx,
            trans,
            cmd,
            shared,
            timeout,
            done: false,
            _permit: permit,
        }
    }

    /// The next reply packet; `None` after the final one or after an error.
    /// Errors: [`Error::Timeout`] when nothing arrived for the timeout, the connection's
    /// close reason ([`Error::ConnectionClosed`], [`Error::Protocol`]) when it died.
    pub async fn next(&mut self) -> Option<Result<Frame, Error>> {
        self.next_unless(|| false).await
    }

    /// Like [`Transaction::next`], but when the timeout passes while `keep_waiting()`
    /// says so (e.g. the caller paused a server-side iterator), waits another timeout
    /// instead of failing.
    pub async fn next_unless(
        &mut self,
        keep_waiting: impl Fn() -> bool,
    ) -> Option<Result<Frame, Error>> {
        if self.done {
            return None;
        }
        let received = loop {
            match tokio::time::timeout(self.timeout, self.rx.recv()).await {
                Err(_) if keep_waiting() => continue,
                r => break r,
            }
        };
        match received {
            Err(_) => {
                self.done = true;
                tracing::warn!(addr = %self.shared.addr, cmd = self.cmd, trans = self.trans, timeout = ?self.timeout, "no reply within the timeout");
                self.shared.remove(self.trans);
                self.shared.stall.fetch_add(1, Ordering::Relaxed);
                Some(Err(Error::Timeout))
            }
            Ok(None) => {
                self.done = true;
                Some(Err(self
                    .shared
                    .close_reason()
                    .unwrap_or(Error::ConnectionClosed)))
            }
            Ok(Some(frame)) => {
                if !frame.header.has_more() {
                    self.done = true;
                    self.shared.stall.store(0, Ordering::Relaxed);
                }
                Some(Ok(frame))
            }
        }
    }

    /// Reads every packet. A final packet with a non-zero status becomes the error
    /// ([`Error::from_status`]); otherwise all packets are returned, the final one last.
    pub async fn finish(mut self) -> Result<Vec<Frame>, Error> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next().await {
            let frame = frame?;
            if !frame.header.has_more() && frame.header.status != 0 {
                return Err(Error::from_status(frame.header.status));
            }
            frames.push(frame);
        }
        Ok(frames)
    }

    /// Like [`Transaction::finish`], returning only the final packet.
    pub async fn final_reply(self) -> Result<Frame, Error> {
        self.finish()
            .await?
            .pop()
            .ok_or_else(|| Error::Protocol("transaction ended without a reply".into()))
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if !self.done {
            self.shared.remove(self.trans);
        }
    }
}
