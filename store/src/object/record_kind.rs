//! What a record written by Backrunner is, told by its `user_flags` (stored with every
//! record and returned by READ and ITERATOR): checked data, a manifest, a part, an upload
//! record. Records of other writers (an original Backrunner writes 0) are plain data.
//!
//! Checked data carries the CRC-32 of its bytes in the low 32 bits: a real Elliptics node
//! overwrites a record in place and does not order a READ after a concurrent WRITE of the
//! same key, so a read can return a mix of two versions; the CRC tells the reader to read
//! again.

/// The high 32 bits every Backrunner-tagged record other than checked data carries ("BRNR").
pub const TAG: u64 = 0x4252_4e52 << 32;

/// The high 32 bits of checked data ("BSD1"); the low 32 bits are the data's CRC-32.
pub const CHECKED_TAG: u64 = 0x4253_4431 << 32;

/// The kind of a record, from its `user_flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// The object's bytes themselves, untagged (written by another writer).
    Data,
    /// The object's bytes with their CRC-32 (the single layout).
    CheckedData(u32),
    /// A [`Manifest`](super::Manifest) naming the parts that hold the object's bytes.
    Manifest,
    /// One part of an object stored in parts.
    Part,
    /// An [`UploadRecord`](super::UploadRecord): which key an upload's parts are for.
    Upload,
    /// A deleted object: kept (stamped) so that recovery copies the delete over older
    /// copies instead of bringing them back; removed by a sweep after a retention period.
    Tombstone,
    /// A journal lane of a bucket's key index: appended in each group independently and
    /// read as the union of the groups' copies, so never replaced by another group's copy.
    Journal,
}

impl RecordKind {
    /// The `user_flags` a record of this kind is written with.
    pub const fn user_flags(self) -> u64 {
        match self {
            RecordKind::Data => 0,
            RecordKind::CheckedData(crc) => CHECKED_TAG | crc as u64,
            RecordKind::Manifest => TAG | 1,
            RecordKind::Part => TAG | 2,
            RecordKind::Upload => TAG | 3,
            RecordKind::Tombstone => TAG | 4,
            RecordKind::Journal => TAG | 5,
        }
    }

    /// The kind of a record stored with `user_flags` (untagged or unknown values: data).
    pub const fn of(user_flags: u64) -> RecordKind {
        match user_flags {
            f if f == RecordKind::Manifest.user_flags() => RecordKind::Manifest,
            f if f == RecordKind::Part.user_flags() => RecordKind::Part,
            f if f == RecordKind::Upload.user_flags() => RecordKind::Upload,
            f if f == RecordKind::Tombstone.user_flags() => RecordKind::Tombstone,
            f if f == RecordKind::Journal.user_flags() => RecordKind::Journal,
            f if f & !0xffff_ffff == CHECKED_TAG => RecordKind::CheckedData(f as u32),
            _ => RecordKind::Data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_foreign_flags_are_data() {
        for k in [
            RecordKind::Data,
            RecordKind::CheckedData(0xdead_beef),
            RecordKind::Manifest,
            RecordKind::Part,
            RecordKind::Journal,
            RecordKind::Upload,
            RecordKind::Tombstone,
        ] {
            assert_eq!(RecordKind::of(k.user_flags()), k);
        }
        assert_eq!(RecordKind::of(7), RecordKind::Data);
        assert_eq!(RecordKind::of(TAG | 99), RecordKind::Data);
    }
}
