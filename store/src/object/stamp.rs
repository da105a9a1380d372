//! The timestamp a write of an object carries. Every write to an object's key is made with
//! `CAS_TIMESTAMP`, so each group keeps the newest version whatever order writes arrive
//! in, and recovery between groups picks by the same rule. Two uploads stamped in the same
//! microsecond must still be ordered the same way in every group: the nanosecond digits
//! (below the microsecond the clock gives) come from the upload's own random nonce.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use elliptics::proto::DnetTime;

/// A fresh stamp for a write starting now (the nonce is random). The caller picks it
/// before anything is written, so the key index can log the write under the same stamp
/// first.
pub fn new_stamp() -> DnetTime {
    write_stamp(&rand::random::<[u8; 16]>())
}

/// The stamp of a write made now by the upload with `nonce`.
pub fn write_stamp(nonce: &[u8]) -> DnetTime {
    stamp_at(SystemTime::now(), nonce)
}

/// [`write_stamp`] at a given time.
pub fn stamp_at(now: SystemTime, nonce: &[u8]) -> DnetTime {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    // FNV-1a: stable across processes and versions (unlike std's hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in nonce {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    DnetTime {
        tsec: d.as_secs(),
        tnsec: u64::from(d.subsec_micros()) * 1000 + h % 1000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_microsecond_is_ordered_by_nonce_and_stays_a_valid_time() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let a = stamp_at(t, b"a");
        let b = stamp_at(t, b"b");
        assert_eq!(a.tsec, 1_700_000_000);
        assert_eq!(a.tnsec / 1000, 123_456);
        assert!(a.tnsec < 1_000_000_000);
        assert_ne!(a, b);
        assert_eq!(stamp_at(t, b"a"), a);
    }
}
