//! The client's error type: what a node answered (negative errno), what went wrong on the
//! connection (timeout, reset, bad frames) and what the multi-group logic concluded.
//!
//! Every variant maps to the negative errno the C client would report for it
//! ([`Error::status`]), so callers that speak Elliptics status codes (HTTP mapping of
//! Backrunner: -6/-110/-5 → 503, -2/-84/-77 → 404, ...) can keep doing so.

use std::fmt;

use crate::proto::errno::{self, code};
use crate::proto::{DecodeError, NodeAddr};

/// Errors of the Elliptics client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No reply arrived within the (inactivity) timeout. Status -110 (ETIMEDOUT).
    #[error("timed out waiting for a reply")]
    Timeout,
    /// The node answered -2 (ENOENT): missing, removed or uncommitted object.
    #[error("not found")]
    NotFound,
    /// No backend of the group owns the key; nothing was sent. Status -6 (ENXIO).
    #[error("no route to group {group}")]
    NoRoute {
        /// The group without an owner.
        group: u32,
    },
    /// The node owning the key, or the address asked for, has no live connection.
    /// Status -6 (ENXIO), like the C client's "could not send".
    #[error("node {addr} is unreachable: {reason}")]
    Unreachable {
        /// The node.
        addr: NodeAddr,
        /// Why (connect error, not connected, ...).
        reason: String,
    },
    /// The peer violated the protocol (bad frame, hostile size, bad handshake); the
    /// connection was dropped. Status -71 (EPROTO).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The node answered with a negative status other than -2.
    #[error("node returned {status} ({name})")]
    Remote {
        /// Negative errno from `dnet_cmd.status`.
        status: i32,
        /// Its symbolic name ([`errno::name`]).
        name: &'static str,
    },
    /// The connection was closed or reset while the request was pending. Status -104
    /// (ECONNRESET).
    #[error("connection closed")]
    ConnectionClosed,
    /// A local I/O error (reading a request body, connecting).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The caller passed something unusable. Status -22 (EINVAL).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Every group of a multi-group operation failed; one entry per group tried, in
    /// order. Its status is the first status that is not a client-side -6, as the C++
    /// binding reports it.
    #[error("all groups failed: {}", GroupErrors(.errors))]
    AllGroupsFailed {
        /// `(group, error)` per group.
        errors: Vec<(u32, Error)>,
    },
}

struct GroupErrors<'a>(&'a [(u32, Error)]);

impl fmt::Display for GroupErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (group, err)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "group {group}: {err}")?;
        }
        Ok(())
    }
}

impl Error {
    /// The error for a non-zero `dnet_cmd.status`.
    pub fn from_status(status: i32) -> Error {
        match status {
            code::ENOENT => Error::NotFound,
            s => Error::Remote {
                status: s,
                name: errno::name(s),
            },
        }
    }

    /// The combined error of a multi-group operation: the error itself when only one
    /// group was tried, [`Error::AllGroupsFailed`] otherwise.
    pub fn from_group_errors(mut errors: Vec<(u32, Error)>) -> Error {
        if errors.len() == 1 {
            if let Some((_, e)) = errors.pop() {
                return e;
            }
        }
        Error::AllGroupsFailed { errors }
    }

    /// The negative errno of this error, including the client-side synthetic ones
    /// (-110 timeout, -6 no route / unreachable, -104 connection reset, -71 protocol).
    pub fn status(&self) -> i32 {
        match self {
            Error::Timeout => code::ETIMEDOUT,
            Error::NotFound => code::ENOENT,
            Error::NoRoute { .. } | Error::Unreachable { .. } => code::ENXIO,
            Error::Protocol(_) => code::EPROTO,
            Error::Remote { status, .. } => *status,
            Error::ConnectionClosed => code::ECONNRESET,
            Error::Io(e) => e
                .raw_os_error()
                .filter(|c| *c > 0)
                .map_or(code::EIO, |c| -c),
            Error::InvalidArgument(_) => code::EINVAL,
            Error::AllGroupsFailed { errors } => errors
                .iter()
                .map(|(_, e)| e.status())
                .find(|s| *s != code::ENXIO)
                .unwrap_or(code::ENXIO),
        }
    }

    /// Whether the object does not exist (status -2), also for combined errors whose
    /// reported status is -2.
    pub fn is_not_found(&self) -> bool {
        self.status() == code::ENOENT
    }

    /// Whether the error says nothing about the object but about reaching it (timeout,
    /// no route, unreachable, connection closed).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.status(),
            code::ETIMEDOUT | code::ENXIO | code::ECONNRESET
        )
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Protocol(e.to_string())
    }
}

impl Clone for Error {
    /// Clones; an [`Error::Io`] keeps its kind and message (not its source chain).
    fn clone(&self) -> Self {
        match self {
            Error::Timeout => Error::Timeout,
            Error::NotFound => Error::NotFound,
            Error::NoRoute { group } => Error::NoRoute { group: *group },
            Error::Unreachable { addr, reason } => Error::Unreachable {
                addr: *addr,
                reason: reason.clone(),
            },
            Error::Protocol(s) => Error::Protocol(s.clone()),
            Error::Remote { status, name } => Error::Remote {
                status: *status,
                name,
            },
            Error::ConnectionClosed => Error::ConnectionClosed,
            Error::Io(e) => Error::Io(match e.raw_os_error() {
                Some(c) => std::io::Error::from_raw_os_error(c),
                None => std::io::Error::new(e.kind(), e.to_string()),
            }),
            Error::InvalidArgument(s) => Error::InvalidArgument(s.clone()),
            Error::AllGroupsFailed { errors } => Error::AllGroupsFailed {
                errors: errors.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(Error::from_status(-2).status(), -2);
        assert!(Error::from_status(-2).is_not_found());
        assert_eq!(
            Error::from_status(-30).to_string(),
            "node returned -30 (EROFS)"
        );
        assert_eq!(Error::Timeout.status(), -110);
        assert_eq!(Error::ConnectionClosed.status(), -104);
        assert_eq!(Error::NoRoute { group: 3 }.status(), -6);
        let all = Error::AllGroupsFailed {
            errors: vec![(1, Error::NoRoute { group: 1 }), (2, Error::NotFound)],
        };
        assert!(all.is_not_found());
        assert_eq!(
            all.to_string(),
            "all groups failed: group 1: no route to group 1; group 2: not found"
        );
        let only_route = Error::AllGroupsFailed {
            errors: vec![(1, Error::NoRoute { group: 1 })],
        };
        assert_eq!(only_route.status(), -6);
        assert!(matches!(
            Error::from_group_errors(vec![(1, Error::Timeout)]),
            Error::Timeout
        ));
        let io = Error::Io(std::io::Error::from_raw_os_error(111));
        assert_eq!(io.status(), -111);
        assert_eq!(io.clone().status(), -111);
    }
}
