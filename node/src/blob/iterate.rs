//! What an iterator (`DNET_CMD_ITERATOR`) needs from the store: a sorted snapshot of the
//! keys in some ranges (committed objects and prepared-only records), and the current
//! view of one key — its metadata and, on demand, its data.
//!
//! The snapshot copies 64 bytes per matching key under the index read lock (one pass, no
//! sorting under the lock), so iterating a backend of a million keys holds 64 MB of ids,
//! less than half of what the index itself takes, and never a reply per record.

use super::BlobStore;
use super::error::StoreError;
use super::types::{KeyId, Timestamp, record_flags};
use super::{lock, rlock};

/// One record as an iterator reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IterRecord {
    /// Record timestamp.
    pub timestamp: Timestamp,
    /// Record user flags.
    pub user_flags: u64,
    /// Data size; 0 for a prepared, uncommitted record (as eblob reports it).
    pub size: u64,
    /// `DNET_RECORD_FLAGS_*`: [`record_flags::COMMITTED`] or [`record_flags::PREPARED`].
    pub record_flags: u64,
}

impl IterRecord {
    /// Whether the record is committed (has readable data).
    pub fn is_committed(&self) -> bool {
        self.record_flags & record_flags::UNCOMMITTED == 0
    }
}

/// The keys of a store at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySnapshot {
    /// Matching keys, ascending (memcmp order), each once.
    pub keys: Vec<KeyId>,
    /// Records in the whole store (committed keys plus prepared-only keys).
    pub total: u64,
}

impl BlobStore {
    /// The keys `keep` accepts, ascending: every committed key and every key that is only
    /// prepared. `total` counts the records of the whole store, matching or not.
    pub fn snapshot_keys(&self, keep: impl Fn(&KeyId) -> bool) -> KeySnapshot {
        // The prepared records are few; copy their keys first so the two locks are never
        // held together.
        let pending: Vec<KeyId> = lock(&self.pending).keys().copied().collect();
        let mut keys: Vec<KeyId> = Vec::new();
        let (committed, prepared_only) = {
            let idx = rlock(&self.index);
            keys.extend(idx.iter().map(|(k, _)| k).filter(|k| keep(k)).copied());
            let mut prepared_only = 0u64;
            for k in pending {
                if idx.get(&k).is_none() {
                    prepared_only += 1;
                    if keep(&k) {
                        keys.push(k);
                    }
                }
            }
            (idx.len() as u64, prepared_only)
        };
        keys.sort_unstable();
        keys.dedup();
        KeySnapshot {
            keys,
            total: committed + prepared_only,
        }
    }

    /// The current record of `key`: the committed object if there is one (a re-upload in
    /// progress does not hide it here, as it does not hide it from READ), else the prepared
    /// record; `None` when the key is gone.
    pub fn iter_record(&self, key: &KeyId) -> Option<IterRecord> {
        if let Some(e) = rlock(&self.index).get(key) {
            return Some(IterRecord {
                timestamp: Timestamp {
                    tsec: e.tsec,
                    tnsec: e.tnsec,
                },
                user_flags: e.user_flags,
                size: e.size,
                record_flags: record_flags::COMMITTED,
            });
        }
        lock(&self.pending).get(key).map(|p| IterRecord {
            timestamp: p.timestamp,
            user_flags: p.user_flags,
            size: 0,
            record_flags: record_flags::PREPARED,
        })
    }

    /// [`iter_record`](Self::iter_record) with the data of a committed record, read and
    /// verified whole (a prepared record has none). The metadata and the data come from
    /// the same version. `NotFound` when the key is gone.
    pub fn iter_record_data(
        &self,
        key: &KeyId,
    ) -> Result<(IterRecord, Option<Vec<u8>>), StoreError> {
        let rec = self.iter_record(key).ok_or(StoreError::NotFound)?;
        if !rec.is_committed() {
            return Ok((rec, None));
        }
        let (info, data) = self.read(key, 0, 0, true)?;
        Ok((
            IterRecord {
                timestamp: info.timestamp,
                user_flags: info.user_flags,
                size: info.size,
                record_flags: info.record_flags,
            },
            Some(data),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::WriteKind;
    use super::super::tests::{bytes, key, req, temp_store};
    use super::*;

    #[test]
    fn snapshot_is_sorted_and_covers_prepared_keys() {
        let (_dir, store) = temp_store();
        for i in 0..50 {
            store
                .write(&key(i), req(WriteKind::Plain, 0, &bytes(i, 10)))
                .unwrap();
        }
        store.remove(&key(3)).unwrap();
        // Prepared only.
        store
            .write(
                &key(100),
                req(WriteKind::Prepare { reserve: 64 }, 0, b"abc"),
            )
            .unwrap();
        // Committed, with a re-upload prepared over it.
        store
            .write(&key(7), req(WriteKind::Prepare { reserve: 64 }, 0, b"xyz"))
            .unwrap();
        let snap = store.snapshot_keys(|_| true);
        assert_eq!(snap.total, 50);
        assert_eq!(snap.keys.len(), 50);
        assert!(snap.keys.windows(2).all(|w| w[0] < w[1]));
        assert!(!snap.keys.contains(&key(3)));
        assert!(snap.keys.contains(&key(100)));
        let some = store.snapshot_keys(|k| k[0] < 10);
        assert_eq!(some.total, 50);
        assert_eq!(some.keys.len(), 9);

        let prepared = store.iter_record(&key(100)).unwrap();
        assert_eq!(prepared.record_flags, record_flags::PREPARED);
        assert_eq!(prepared.size, 0);
        assert!(!prepared.is_committed());
        assert_eq!(store.iter_record_data(&key(100)).unwrap().1, None);

        let (rec, data) = store.iter_record_data(&key(7)).unwrap();
        assert_eq!(rec.record_flags, record_flags::COMMITTED);
        assert_eq!(rec.size, 10);
        assert_eq!(data.unwrap(), bytes(7, 10));
        assert!(store.iter_record(&key(3)).is_none());
        assert!(matches!(
            store.iter_record_data(&key(3)),
            Err(StoreError::NotFound)
        ));
    }
}
