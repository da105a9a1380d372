//! How everything the index holds about one key — segment entries and journal entries,
//! from every group — becomes one answer: newest stamp wins, deletes hide, an uncommitted
//! intent newer than anything definite is settled by looking at the object.
//!
//! Entries are idempotent (identified by key, stamp and op), so the same entry read from
//! two groups, or appended twice, changes nothing. At equal stamps a put wins over a
//! delete: the only deletes that share a stamp with a put are the markers compaction
//! writes for an intent whose object it did not find, and a commit with that stamp says
//! the write landed after all.

use elliptics::proto::DnetTime;

use super::journal::{JournalEntry, JournalOp};
use super::segment::{EntryKind, SegmentEntry};

/// A definite fact about a key: put (with size and etag) or delete, at a stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definite {
    /// Put or delete.
    pub kind: EntryKind,
    /// The write's stamp.
    pub stamp: DnetTime,
    /// Object size (puts).
    pub size: u64,
    /// Object etag (puts, when known).
    pub etag: Option<String>,
}

impl Definite {
    fn newer_than(&self, other: &Definite) -> bool {
        (self.stamp, self.kind == EntryKind::Put) > (other.stamp, other.kind == EntryKind::Put)
    }
}

/// An intent no commit settled yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// The intent's stamp.
    pub stamp: DnetTime,
    /// Whether it is a delete (else a put).
    pub delete: bool,
}

/// What the index says about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Listed, as this put.
    Listed(Definite),
    /// Not listed (deleted, or never stored).
    Hidden,
    /// An intent newer than every definite entry: the object itself decides.
    Pending(Pending),
}

/// Everything known about one key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyMerge {
    definite: Option<Definite>,
    newest_put: Option<(DnetTime, Option<String>)>,
    intent: Option<Pending>,
}

impl KeyMerge {
    fn add_definite(&mut self, d: Definite) {
        if d.kind == EntryKind::Put && self.newest_put.as_ref().is_none_or(|(s, _)| d.stamp > *s) {
            self.newest_put = Some((d.stamp, d.etag.clone()));
        }
        if self.definite.as_ref().is_none_or(|cur| d.newer_than(cur)) {
            self.definite = Some(d);
        }
    }

    /// Adds a segment entry.
    pub fn add_segment(&mut self, e: &SegmentEntry) {
        self.add_definite(Definite {
            kind: e.kind,
            stamp: e.stamp,
            size: e.size,
            etag: e.etag.clone(),
        });
    }

    /// Adds a journal entry.
    pub fn add_journal(&mut self, e: &JournalEntry) {
        match e.op {
            JournalOp::PutCommit => self.add_definite(Definite {
                kind: EntryKind::Put,
                stamp: e.stamp,
                size: e.size,
                etag: e.etag.clone(),
            }),
            JournalOp::DeleteCommit => self.add_definite(Definite {
                kind: EntryKind::Delete,
                stamp: e.stamp,
                size: 0,
                etag: None,
            }),
            JournalOp::PutIntent | JournalOp::DeleteIntent => {
                let p = Pending {
                    stamp: e.stamp,
                    delete: e.op == JournalOp::DeleteIntent,
                };
                if self
                    .intent
                    .is_none_or(|cur| (p.stamp, !p.delete) > (cur.stamp, !cur.delete))
                {
                    self.intent = Some(p);
                }
            }
        }
    }

    /// Adds everything `other` knows.
    pub fn absorb(&mut self, other: &KeyMerge) {
        if let Some(d) = &other.definite {
            self.add_definite(d.clone());
        }
        if let Some((stamp, etag)) = &other.newest_put {
            if self.newest_put.as_ref().is_none_or(|(s, _)| stamp > s) {
                self.newest_put = Some((*stamp, etag.clone()));
            }
        }
        if let Some(p) = other.intent {
            if self.intent.is_none_or(|cur| p.stamp > cur.stamp) {
                self.intent = Some(p);
            }
        }
    }

    /// The newest definite entry, if any.
    pub fn definite(&self) -> Option<&Definite> {
        self.definite.as_ref()
    }

    /// The answer, before looking at the object.
    pub fn resolve(&self) -> Resolution {
        if let Some(p) = self.intent {
            if self.definite.as_ref().is_none_or(|d| p.stamp > d.stamp) {
                return Resolution::Pending(p);
            }
        }
        match &self.definite {
            Some(d) if d.kind == EntryKind::Put => Resolution::Listed(d.clone()),
            _ => Resolution::Hidden,
        }
    }

    /// The etag of the put with exactly this stamp, when the index knows it.
    pub fn etag_at(&self, stamp: DnetTime) -> Option<String> {
        match &self.newest_put {
            Some((s, etag)) if *s == stamp => etag.clone(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u64) -> DnetTime {
        DnetTime { tsec: n, tnsec: 0 }
    }

    fn j(op: JournalOp, n: u64, size: u64) -> JournalEntry {
        JournalEntry {
            op,
            key: b"k".to_vec(),
            stamp: t(n),
            size,
            etag: None,
        }
    }

    #[test]
    fn newest_wins_and_intents_wait_for_the_object() {
        let mut m = KeyMerge::default();
        assert_eq!(m.resolve(), Resolution::Hidden);
        m.add_journal(&j(JournalOp::PutIntent, 1, 0));
        assert!(matches!(m.resolve(), Resolution::Pending(p) if p.stamp == t(1) && !p.delete));
        m.add_journal(&j(JournalOp::PutCommit, 1, 5));
        assert!(matches!(m.resolve(), Resolution::Listed(d) if d.size == 5));
        m.add_journal(&j(JournalOp::DeleteIntent, 2, 0));
        assert!(matches!(m.resolve(), Resolution::Pending(p) if p.delete));
        m.add_journal(&j(JournalOp::DeleteCommit, 2, 0));
        assert_eq!(m.resolve(), Resolution::Hidden);
        // An older put arriving late stays hidden.
        m.add_journal(&j(JournalOp::PutCommit, 1, 9));
        m.add_journal(&j(JournalOp::PutIntent, 1, 0));
        assert_eq!(m.resolve(), Resolution::Hidden);
        // A put with the stamp of a delete marker wins.
        m.add_segment(&SegmentEntry {
            key: b"k".to_vec(),
            kind: EntryKind::Put,
            stamp: t(2),
            size: 3,
            etag: Some("e".into()),
        });
        assert!(matches!(m.resolve(), Resolution::Listed(d) if d.size == 3));
        assert_eq!(m.etag_at(t(2)).as_deref(), Some("e"));
    }
}
