//! A dedicated thread per backend that runs small store mutations (writes of up to
//! [`WriterThread::MAX_BYTES`] and removes) one after another, in arrival order.
//!
//! Why: tokio's blocking pool hands every operation to whichever of its threads is free,
//! so under a stream of small writes many threads wake, contend for the store's append
//! lock and sleep again — a 4 KiB write cost more in futex calls and context switches than
//! in `pwrite`. One thread fed by a queue never contends with itself and does not sleep
//! while work is queued. The async side never blocks: when [`WriterThread::QUEUE`] jobs
//! are already waiting (or the thread is gone) [`WriterThread::try_run`] hands the job
//! back and the caller uses the blocking pool as before. Large writes and writes under
//! `sync = "always"` (each waits for `fdatasync`; they overlap better in parallel) keep
//! using the pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

/// A queued job.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// The writer thread of one backend. Dropping it closes the queue; the thread finishes
/// the queued jobs and exits.
pub struct WriterThread {
    tx: Option<Sender<Job>>,
    queued: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl WriterThread {
    /// Largest write (data bytes) meant for the writer thread.
    pub const MAX_BYTES: usize = 256 * 1024;
    /// Jobs waiting at most; more are handed back to the caller.
    pub const QUEUE: usize = 1024;

    /// Starts the thread, named after the backend.
    pub fn start(backend: u32) -> std::io::Result<WriterThread> {
        let (tx, rx) = channel::<Job>();
        let queued = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&queued);
        let thread = std::thread::Builder::new()
            .name(format!("backend-{backend}-writer"))
            .spawn(move || run(rx, &count))?;
        Ok(WriterThread {
            tx: Some(tx),
            queued,
            thread: Some(thread),
        })
    }

    /// Runs `f` on the writer thread and returns its result. `Err(f)` gives the job back
    /// when the queue is full or the thread has stopped; `Ok(None)` if the job was lost
    /// (the thread panicked while running it).
    pub async fn try_run<T, F>(&self, f: F) -> Result<Option<T>, F>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let Some(tx) = &self.tx else { return Err(f) };
        if self.queued.fetch_add(1, Ordering::AcqRel) >= Self::QUEUE {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(f);
        }
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done_tx.send(f());
        });
        if tx.send(job).is_err() {
            // The thread is gone (it only stops when `tx` is dropped, or by a panic); the
            // job inside the error cannot be unboxed back into `F`.
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Ok(None);
        }
        Ok(done_rx.await.ok())
    }

    /// Jobs waiting or running now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}

fn run(rx: Receiver<Job>, queued: &AtomicUsize) {
    while let Ok(job) = rx.recv() {
        // A panicking job loses only its own reply (the caller sees EIO); the thread
        // keeps serving the queue instead of failing every later write.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            tracing::error!("a store job panicked on the writer thread");
        }
        queued.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            // Waits at most for the queued small writes.
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for WriterThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterThread")
            .field("queued", &self.queued())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::task::Poll;
    use std::time::{Duration, Instant};

    /// Waits until the writer thread has finished its bookkeeping: a job's reply is sent
    /// from inside the job, so the caller can see it before the thread decrements
    /// [`WriterThread::queued`]. Fails after 5 s.
    async fn wait_until_idle(w: &WriterThread) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while w.queued() != 0 {
            assert!(
                Instant::now() < deadline,
                "queued() stayed at {} for 5 s",
                w.queued()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn runs_jobs_in_order_and_returns_results() {
        let w = WriterThread::start(7).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut pending = Vec::new();
        for i in 0..100u32 {
            let seen = seen.clone();
            let mut fut = Box::pin(w.try_run(move || {
                seen.lock().unwrap().push(i);
                i * 2
            }));
            // Poll once, so the jobs are queued in this order.
            let first = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
            pending.push((first, fut));
        }
        for (i, (first, fut)) in pending.into_iter().enumerate() {
            let got = match first {
                Poll::Ready(r) => r.ok().flatten(),
                Poll::Pending => fut.await.ok().flatten(),
            };
            assert_eq!(got, Some(i as u32 * 2));
        }
        assert_eq!(*seen.lock().unwrap(), (0..100).collect::<Vec<_>>());
        wait_until_idle(&w).await;
    }

    #[tokio::test]
    async fn a_panicking_job_loses_only_its_own_reply() {
        let w = WriterThread::start(9).unwrap();
        let lost: Result<Option<u8>, _> = w.try_run(|| panic!("store bug")).await;
        assert!(matches!(lost, Ok(None)));
        assert_eq!(w.try_run(|| 5u8).await.ok().flatten(), Some(5));
        wait_until_idle(&w).await;
    }

    #[tokio::test]
    async fn a_full_queue_gives_the_job_back() {
        let w = WriterThread::start(8).unwrap();
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        // Occupy the thread, then fill the queue behind it.
        let mut blocker = Box::pin(w.try_run(move || {
            let _ = hold_rx.recv();
        }));
        let poll = std::future::poll_fn(|cx| Poll::Ready(blocker.as_mut().poll(cx))).await;
        assert!(poll.is_pending());
        let mut queued = Vec::new();
        for n in 0..WriterThread::QUEUE + 8 {
            let mut f = Box::pin(w.try_run(move || n));
            match std::future::poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await {
                Poll::Pending => queued.push((n, f)),
                Poll::Ready(r) => {
                    let job = r.expect_err("a full queue refuses the job");
                    assert_eq!(job(), n, "the job comes back unrun");
                    assert_eq!(queued.len(), WriterThread::QUEUE - 1);
                    hold_tx.send(()).unwrap();
                    assert!(blocker.await.is_ok());
                    for (n, q) in queued {
                        assert_eq!(q.await.ok().flatten(), Some(n));
                    }
                    return;
                }
            }
        }
        panic!("the queue never filled");
    }
}
