//! What a record written by Backrunner is, told by its `user_flags` (stored with every
//! record and returned by READ and ITERATOR): plain data, a manifest, a part, an upload
//! record. Records of other writers (an original Backrunner writes 0) are data.

/// The high 32 bits every Backrunner-tagged record carries ("BRNR").
pub const TAG: u64 = 0x4252_4e52 << 32;

/// The kind of a record, from its `user_flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// The object's bytes themselves (the single layout, and anything not tagged).
    Data,
    /// A [`Manifest`](super::Manifest) naming the parts that hold the object's bytes.
    Manifest,
    /// One part of an object stored in parts.
    Part,
    /// An [`UploadRecord`](super::UploadRecord): which key an upload's parts are for.
    Upload,
}

impl RecordKind {
    /// The `user_flags` a record of this kind is written with.
    pub const fn user_flags(self) -> u64 {
        match self {
            RecordKind::Data => 0,
            RecordKind::Manifest => TAG | 1,
            RecordKind::Part => TAG | 2,
            RecordKind::Upload => TAG | 3,
        }
    }

    /// The kind of a record stored with `user_flags` (untagged or unknown values: data).
    pub const fn of(user_flags: u64) -> RecordKind {
        match user_flags {
            f if f == RecordKind::Manifest.user_flags() => RecordKind::Manifest,
            f if f == RecordKind::Part.user_flags() => RecordKind::Part,
            f if f == RecordKind::Upload.user_flags() => RecordKind::Upload,
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
            RecordKind::Manifest,
            RecordKind::Part,
            RecordKind::Upload,
        ] {
            assert_eq!(RecordKind::of(k.user_flags()), k);
        }
        assert_eq!(RecordKind::of(7), RecordKind::Data);
        assert_eq!(RecordKind::of(TAG | 99), RecordKind::Data);
    }
}
