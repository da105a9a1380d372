//! A served backend: its blob store plus what the protocol exposes about it — group, ring
//! ids, enabled state, artificial delay, start time, and defragmentation runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use elliptics::proto::backend::{backend_state, defrag_state};
use elliptics::proto::{BackendIds, BackendStatus, DnetTime, Id};

use crate::blob::{BlobStore, DefragState, StoreConfig, StoreError};
use crate::config::ValidBackendConfig;
use crate::key_locks::KeyLocks;
use crate::ring;
use crate::writer_thread::WriterThread;

/// Errors while opening a backend.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The blob store could not be opened.
    #[error("backend {id}: {source}")]
    Store {
        /// Backend id.
        id: u32,
        /// Cause.
        source: StoreError,
    },
    /// The data directory cannot be resolved.
    #[error("backend {id}: data directory {dir}: {source}")]
    Dir {
        /// Backend id.
        id: u32,
        /// Directory.
        dir: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("backend {id}: starting the writer thread: {source}")]
    Thread {
        /// Backend id.
        id: u32,
        /// Cause.
        source: std::io::Error,
    },
    /// The ring ids could not be read or written.
    #[error("backend {id}: ring ids in {dir}: {source}")]
    RingIds {
        /// Backend id.
        id: u32,
        /// Directory.
        dir: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// One backend of this node.
pub struct Backend {
    /// Backend id.
    pub id: u32,
    /// Group served.
    pub group: u32,
    /// Ring ids owned in the group.
    pub ring_ids: Vec<Id>,
    /// The storage.
    pub store: Arc<BlobStore>,
    /// Configuration it was opened with.
    pub config: ValidBackendConfig,
    /// Runs small writes and removes (see [`WriterThread`]).
    pub writer: WriterThread,
    /// Per-key write locks (see [`KeyLocks`]).
    pub key_locks: KeyLocks,
    enabled: AtomicBool,
    defrag_running: Arc<AtomicBool>,
    delay_ms: AtomicU32,
    last_start: DnetTime,
}

impl Backend {
    /// Opens the store and ring ids (blocking: call from a blocking context).
    pub fn open(cfg: &ValidBackendConfig) -> Result<Backend, OpenError> {
        let ring_ids =
            ring::load_or_create(&cfg.dir, &cfg.ring_ids, cfg.ids_count).map_err(|source| {
                OpenError::RingIds {
                    id: cfg.id,
                    dir: cfg.dir.display().to_string(),
                    source,
                }
            })?;
        // Absolute paths in file-info replies, as a real node reports them.
        let dir = std::fs::canonicalize(&cfg.dir).map_err(|source| OpenError::Dir {
            id: cfg.id,
            dir: cfg.dir.display().to_string(),
            source,
        })?;
        let store = BlobStore::open(StoreConfig {
            dir: dir.join("data"),
            blob_size: cfg.blob_size,
            size_limit: cfg.size_limit,
            sync: cfg.sync,
        })
        .map_err(|source| OpenError::Store { id: cfg.id, source })?;
        if cfg.read_only {
            store
                .set_read_only(true)
                .map_err(|source| OpenError::Store { id: cfg.id, source })?;
        }
        let writer = WriterThread::start(cfg.id)
            .map_err(|source| OpenError::Thread { id: cfg.id, source })?;
        Ok(Backend {
            id: cfg.id,
            group: cfg.group,
            ring_ids,
            store: Arc::new(store),
            config: cfg.clone(),
            writer,
            key_locks: KeyLocks::default(),
            enabled: AtomicBool::new(true),
            defrag_running: Arc::new(AtomicBool::new(false)),
            delay_ms: AtomicU32::new(0),
            last_start: DnetTime::now(),
        })
    }

    /// Whether the backend serves requests.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Enables or disables the backend; returns the previous state.
    pub fn set_enabled(&self, on: bool) -> bool {
        self.enabled.swap(on, Ordering::AcqRel)
    }

    /// Artificial delay applied before every data operation.
    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms.load(Ordering::Relaxed).into())
    }

    /// Sets the artificial delay in milliseconds.
    pub fn set_delay_ms(&self, ms: u32) {
        self.delay_ms.store(ms, Ordering::Relaxed);
    }

    /// When the backend was started.
    pub fn last_start(&self) -> DnetTime {
        self.last_start
    }

    /// The wire defrag state.
    pub fn defrag_state(&self) -> u32 {
        if self.defrag_running.load(Ordering::Acquire)
            || matches!(self.store.defrag_state(), DefragState::InProgress { .. })
        {
            defrag_state::IN_PROGRESS
        } else {
            defrag_state::NOT_STARTED
        }
    }

    /// Starts defragmentation in the background (must be called inside a tokio runtime).
    /// Fails with -EALREADY while one runs.
    pub fn start_defrag(&self) -> Result<(), i32> {
        if self
            .defrag_running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(elliptics::proto::errno::code::EALREADY);
        }
        let (store, running, id) = (self.store.clone(), self.defrag_running.clone(), self.id);
        tokio::task::spawn_blocking(move || {
            tracing::info!(backend = id, "defragmentation started");
            match store.defrag() {
                Ok(report) => tracing::info!(backend = id, ?report, "defragmentation finished"),
                Err(e) => tracing::warn!(backend = id, error = %e, "defragmentation failed"),
            }
            running.store(false, Ordering::Release);
        });
        Ok(())
    }

    /// Asks a running defragmentation to stop. Fails with -EALREADY when none runs.
    pub fn stop_defrag(&self) -> Result<(), i32> {
        if self.defrag_state() != defrag_state::IN_PROGRESS {
            return Err(elliptics::proto::errno::code::EALREADY);
        }
        self.store.cancel_defrag();
        Ok(())
    }

    /// The `dnet_backend_status` of this backend.
    pub fn status(&self) -> BackendStatus {
        let enabled = self.is_enabled();
        BackendStatus {
            backend_id: self.id,
            state: if enabled {
                backend_state::ENABLED
            } else {
                backend_state::DISABLED
            },
            defrag_state: if enabled { self.defrag_state() } else { 0 },
            last_start: self.last_start,
            last_start_err: 0,
            read_only: self.store.is_read_only(),
            delay: self.delay_ms.load(Ordering::Relaxed),
        }
    }

    /// The route record announced for this backend (disabled → `BACKEND_DISABLE`).
    pub fn announcement(&self) -> BackendIds {
        if self.is_enabled() {
            BackendIds {
                backend_id: self.id as i32,
                group_id: self.group,
                flags: 0,
                ids: self.ring_ids.clone(),
            }
        } else {
            BackendIds {
                backend_id: self.id as i32,
                group_id: 0,
                flags: elliptics::proto::BACKEND_DISABLE,
                ids: Vec::new(),
            }
        }
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("id", &self.id)
            .field("group", &self.group)
            .field("dir", &self.config.dir)
            .finish()
    }
}
