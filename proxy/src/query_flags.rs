//! `?cflags=` and `?ioflags=`: Elliptics command and I/O flags a request adds to its data
//! session, as Backrunner passes them through (§14: cflags go on every command of the
//! request; ioflags are ORed into reads, while uploads and deletes use the writer's own).
//!
//! Values are decimal or `0x` hex. Only flags that change how a node serves a request are
//! accepted; wire-level command flags (MORE, REPLY, DIRECT, ...) and write-path I/O flags
//! (APPEND, PREPARE, COMMIT, ...) would corrupt the exchange or the object, so a request
//! carrying them gets 400 naming the refused bits instead of reaching storage.

use elliptics::proto::{CmdFlags, IoFlags};

use crate::error::{ApiError, BadRequest};
use crate::query::Query;

/// Command flags a request may set: NEED_ACK (always set anyway), NOLOCK, CHECKSUM
/// (file info with the object's checksum), NOCACHE, TRACE_BIT.
pub const ALLOWED_CFLAGS: u64 = CmdFlags::NEED_ACK.0
    | CmdFlags::NOLOCK.0
    | CmdFlags::CHECKSUM.0
    | CmdFlags::NOCACHE.0
    | CmdFlags::TRACE_BIT.0;

/// I/O flags a read may add: NOCSUM, CACHE, CACHE_ONLY, CHECKSUM (data checksum in the
/// reply), MIX_STATES.
pub const ALLOWED_IOFLAGS: u32 = IoFlags::NOCSUM.0
    | IoFlags::CACHE.0
    | IoFlags::CACHE_ONLY.0
    | IoFlags::CHECKSUM.0
    | IoFlags::MIX_STATES.0;

/// The flags of a request's query string (both empty without the parameters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryFlags {
    /// Added to every command of the request.
    pub cflags: CmdFlags,
    /// Added to the reads of a GET.
    pub ioflags: IoFlags,
}

impl QueryFlags {
    /// Parses `cflags` and `ioflags` out of a raw query string (see [`Query::parse`]).
    pub fn parse(query: Option<&str>) -> Result<QueryFlags, ApiError> {
        QueryFlags::from_query(&Query::parse(query))
    }

    /// Reads `cflags` and `ioflags` from a parsed query: every value is checked, the last
    /// one counts; an empty value is no value.
    pub fn from_query(query: &Query) -> Result<QueryFlags, ApiError> {
        let mut flags = QueryFlags::default();
        for v in query.values("cflags") {
            let bits = number(v, "cflags")?;
            check(bits, ALLOWED_CFLAGS, "cflags")?;
            flags.cflags = CmdFlags(bits);
        }
        for v in query.values("ioflags") {
            let bits = number(v, "ioflags")?;
            check(bits, u64::from(ALLOWED_IOFLAGS), "ioflags")?;
            // Within ALLOWED_IOFLAGS, so it fits in 32 bits.
            flags.ioflags = IoFlags(u32::try_from(bits).unwrap_or(0));
        }
        Ok(flags)
    }
}

fn number(v: &[u8], name: &'static str) -> Result<u64, ApiError> {
    let text = String::from_utf8_lossy(v);
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse::<u64>(),
    };
    parsed.map_err(|_| {
        ApiError::BadRequest(BadRequest::FlagsNotANumber {
            name,
            value: text.into_owned(),
        })
    })
}

fn check(bits: u64, allowed: u64, name: &'static str) -> Result<(), ApiError> {
    let refused = bits & !allowed;
    if refused != 0 {
        return Err(ApiError::BadRequest(BadRequest::FlagsRefused {
            name,
            refused,
            allowed,
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(q: &str) -> u16 {
        QueryFlags::parse(Some(q)).map_or_else(|e| e.status().as_u16(), |_| 200)
    }

    #[test]
    fn parses_decimal_and_hex() {
        assert_eq!(QueryFlags::parse(None), Ok(QueryFlags::default()));
        assert_eq!(
            QueryFlags::parse(Some("a=1&cflags=32&ioflags=0x100")),
            Ok(QueryFlags {
                cflags: CmdFlags::CHECKSUM,
                ioflags: IoFlags::NOCSUM,
            })
        );
        assert_eq!(
            QueryFlags::parse(Some("ioflags=0X4000")).map(|f| f.ioflags),
            Ok(IoFlags::CHECKSUM)
        );
    }

    #[test]
    fn refuses_garbage_and_dangerous_bits() {
        assert_eq!(status("cflags=x"), 400);
        assert_eq!(status("ioflags=-1"), 400);
        assert_eq!(status("cflags=2"), 400, "MORE");
        assert_eq!(status("cflags=512"), 400, "REPLY");
        assert_eq!(status("cflags=8"), 400, "DIRECT");
        assert_eq!(status("ioflags=2"), 400, "APPEND");
        assert_eq!(status("ioflags=0x30"), 400, "PREPARE|COMMIT");
        assert_eq!(status("ioflags=4294967296"), 400, "past 32 bits");
        assert_eq!(status("cflags=0x130&ioflags=0x10000"), 200);
        assert_eq!(status("cflags=0x21"), 200, "NEED_ACK|CHECKSUM");
    }
}
