//! [`KeyLocks`]: striped per-key locks of a backend. A WRITE holds its key's lock from the
//! moment it reads the current record (for `CAS_TIMESTAMP`, `COMPARE_AND_SWAP`, `APPEND`)
//! until its record is in the index, so two writes to one key never both pass the same
//! compare — the newest stamp wins in every group, whatever order writes arrive in.

use elliptics::proto::Id;
use tokio::sync::{Mutex, MutexGuard};

/// Number of stripes (keys hash onto them; unrelated keys rarely share one).
const STRIPES: usize = 256;

/// Striped locks keyed by record id.
pub struct KeyLocks {
    stripes: Vec<Mutex<()>>,
}

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl KeyLocks {
    /// Waits for and holds the lock of `id`'s stripe.
    pub async fn lock(&self, id: &Id) -> MutexGuard<'_, ()> {
        // Ids are SHA-512 outputs: any byte is uniformly spread.
        self.stripes[usize::from(id.0[0]) % STRIPES].lock().await
    }
}
