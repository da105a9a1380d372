//! Errors of the blob store and their Elliptics status codes (negative Linux errno).

use std::path::PathBuf;

/// Linux errno values used by [`StoreError::errno`].
mod errno {
    pub const ENOENT: i32 = 2;
    pub const EIO: i32 = 5;
    pub const EAGAIN: i32 = 11;
    pub const E2BIG: i32 = 7;
    pub const EBUSY: i32 = 16;
    pub const EINVAL: i32 = 22;
    pub const ENOSPC: i32 = 28;
    pub const EROFS: i32 = 30;
    pub const EILSEQ: i32 = 84;
    pub const EALREADY: i32 = 114;
}

/// Why a blob store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key has no committed object (missing, removed or only prepared).
    #[error("object not found")]
    NotFound,
    /// The read offset lies at or past the end of the object.
    #[error("read offset is past the end of the object")]
    TooBig,
    /// The write would push the blob files past the configured size limit.
    #[error("no space left: the blob size limit would be exceeded")]
    NoSpace,
    /// The store is read-only.
    #[error("the store is read-only")]
    ReadOnly,
    /// The request is malformed (sizes, offsets, reservations).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// Stored bytes failed their checksum.
    #[error("corrupted data in {} at offset {offset}", path.display())]
    Corrupted {
        /// Blob file holding the damaged bytes.
        path: PathBuf,
        /// Byte offset of the damaged record or chunk inside `path`.
        offset: u64,
    },
    /// A defragmentation is already running.
    #[error("defragmentation is already running")]
    DefragRunning,
    /// An I/O operation on a file of the store failed.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another process holds the LOCK file of the store directory.
    #[error("store directory is locked by another process: {}", .0.display())]
    Locked(PathBuf),
    /// A page-cache-only read ([`super::read::CachedOnly`]) would have had to wait for the disk.
    #[error("data is not in the page cache")]
    WouldBlock,
}

impl StoreError {
    /// The negative Linux errno Elliptics replies with for this error.
    pub fn errno(&self) -> i32 {
        -match self {
            StoreError::NotFound => errno::ENOENT,
            StoreError::TooBig => errno::E2BIG,
            StoreError::NoSpace => errno::ENOSPC,
            StoreError::ReadOnly => errno::EROFS,
            StoreError::InvalidArgument(_) => errno::EINVAL,
            StoreError::Corrupted { .. } => errno::EILSEQ,
            StoreError::DefragRunning => errno::EALREADY,
            StoreError::Io { source, .. } => source.raw_os_error().unwrap_or(errno::EIO),
            StoreError::Locked(_) => errno::EBUSY,
            StoreError::WouldBlock => errno::EAGAIN,
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_values() {
        assert_eq!(StoreError::NotFound.errno(), -2);
        assert_eq!(StoreError::TooBig.errno(), -7);
        assert_eq!(StoreError::NoSpace.errno(), -28);
        assert_eq!(StoreError::ReadOnly.errno(), -30);
        assert_eq!(StoreError::InvalidArgument("x").errno(), -22);
        let c = StoreError::Corrupted {
            path: "/x".into(),
            offset: 3,
        };
        assert_eq!(c.errno(), -84);
        assert!(c.to_string().contains("/x") && c.to_string().contains('3'));
        assert_eq!(StoreError::DefragRunning.errno(), -114);
        assert_eq!(
            StoreError::io("/x", std::io::Error::other("boom")).errno(),
            -5
        );
        let full = std::io::Error::from_raw_os_error(28);
        assert_eq!(StoreError::io("/x", full).errno(), -28);
        assert_eq!(StoreError::Locked("/x".into()).errno(), -16);
    }
}
