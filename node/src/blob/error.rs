//! Errors of the blob store and their Elliptics status codes (negative Linux errno).

use std::path::PathBuf;

use elliptics::proto::errno::code;

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
    /// The negative Linux errno Elliptics replies with for this error (a constant of
    /// [`elliptics::proto::errno::code`], or the negated OS error of an I/O failure).
    pub fn errno(&self) -> i32 {
        match self {
            StoreError::NotFound => code::ENOENT,
            StoreError::TooBig => code::E2BIG,
            StoreError::NoSpace => code::ENOSPC,
            StoreError::ReadOnly => code::EROFS,
            StoreError::InvalidArgument(_) => code::EINVAL,
            StoreError::Corrupted { .. } => code::EILSEQ,
            StoreError::DefragRunning => code::EALREADY,
            StoreError::Io { source, .. } => source.raw_os_error().map_or(code::EIO, |e| -e),
            StoreError::Locked(_) => code::EBUSY,
            StoreError::WouldBlock => code::EAGAIN,
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
        assert_eq!(StoreError::NotFound.errno(), code::ENOENT);
        assert_eq!(StoreError::TooBig.errno(), code::E2BIG);
        assert_eq!(StoreError::NoSpace.errno(), code::ENOSPC);
        assert_eq!(StoreError::ReadOnly.errno(), code::EROFS);
        assert_eq!(StoreError::InvalidArgument("x").errno(), code::EINVAL);
        let c = StoreError::Corrupted {
            path: "/x".into(),
            offset: 3,
        };
        assert_eq!(c.errno(), code::EILSEQ);
        assert!(c.to_string().contains("/x") && c.to_string().contains('3'));
        assert_eq!(StoreError::DefragRunning.errno(), code::EALREADY);
        assert_eq!(
            StoreError::io("/x", std::io::Error::other("boom")).errno(),
            code::EIO
        );
        // An OS error keeps its own errno, negated.
        let full = std::io::Error::from_raw_os_error(-code::ENOSPC);
        assert_eq!(StoreError::io("/x", full).errno(), code::ENOSPC);
        assert_eq!(StoreError::Locked("/x".into()).errno(), code::EBUSY);
        assert_eq!(StoreError::WouldBlock.errno(), code::EAGAIN);
    }
}
