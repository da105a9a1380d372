//! The MONITOR_STAT reply payload: zlib-compressed JSON (§8.2).
//!
//! [`decode_monitor_payload`] inflates an RFC 1950 zlib stream (`78 9c …`, as boost's
//! `zlib_compressor` writes it) or, when the zlib header is absent or the stream does
//! not decode as zlib, a raw RFC 1951 deflate stream; it never produces more than the
//! caller's limit (zip-bomb guard) and insists on the end-of-stream marker. Then it
//! parses the JSON with the liberal model of [`MonitorReport`].
//! [`encode_monitor_payload`] is the node side: JSON, zlib, default compression.

use std::io::Write;

use flate2::write::ZlibEncoder;
use flate2::{Compression, Decompress, FlushDecompress, Status};

use super::StatsError;
use super::report::MonitorReport;

/// A generous default for the inflated size: a stock node with two backends sends
/// 4–30 KiB, and even hundreds of backends with many blob files stay far below this.
pub const DEFAULT_MAX_INFLATED: usize = 32 << 20;

/// Output chunk of the inflater.
const CHUNK: usize = 16 << 10;

/// Inflates `payload` (zlib, or raw deflate as a fallback) into at most `max_inflated`
/// bytes and parses the JSON document.
///
/// Errors: [`StatsError::Empty`], [`StatsError::TooLarge`] as soon as the output would
/// exceed `max_inflated`, [`StatsError::Inflate`] / [`StatsError::Truncated`] for a
/// broken stream, [`StatsError::NotAnObject`] / [`StatsError::Json`] for a document
/// that is not a JSON object. Bytes after the end of the compressed stream are ignored.
pub fn decode_monitor_payload(
    payload: &[u8],
    max_inflated: usize,
) -> Result<MonitorReport, StatsError> {
    let json = inflate(payload, max_inflated)?;
    parse_monitor_json(&json)
}

/// Parses an already inflated MONITOR_STAT document (e.g. the body of the HTTP
/// monitor after `Content-Encoding: deflate` was undone). Trailing NUL bytes and
/// whitespace are tolerated.
pub fn parse_monitor_json(json: &[u8]) -> Result<MonitorReport, StatsError> {
    let end = json
        .iter()
        .rposition(|b| !matches!(b, 0 | b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    let json = &json[..end];
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(serde_json::from_slice(json)?),
        _ => Err(StatsError::NotAnObject),
    }
}

/// Serializes `report` and compresses it as a stock node does (zlib, default level).
///
/// Serialization cannot fail for these types; should it ever, the payload is the
/// stock node's failure document `{"monitor_status":"failed: <reason>"}`.
pub fn encode_monitor_payload(report: &MonitorReport) -> Vec<u8> {
    match try_encode(report) {
        Ok(payload) => payload,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode MONITOR_STAT report");
            try_encode(&MonitorReport::failed(&e.to_string())).unwrap_or_default()
        }
    }
}

/// JSON into a zlib stream.
fn try_encode(report: &MonitorReport) -> std::io::Result<Vec<u8>> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    serde_json::to_writer(&mut z, report)?;
    z.flush()?;
    z.finish()
}

/// Whether `b` starts with a valid RFC 1950 header: deflate method, window ≤ 32 KiB,
/// no preset dictionary, header checksum.
fn has_zlib_header(b: &[u8]) -> bool {
    match b {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8
                && cmf >> 4 <= 7
                && flg & 0x20 == 0
                && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// Inflates zlib, falling back to raw deflate.
fn inflate(payload: &[u8], max: usize) -> Result<Vec<u8>, StatsError> {
    if payload.is_empty() {
        return Err(StatsError::Empty);
    }
    if !has_zlib_header(payload) {
        return inflate_with(payload, false, max);
    }
    match inflate_with(payload, true, max) {
        Ok(out) => Ok(out),
        Err(zlib_err @ (StatsError::Inflate(_) | StatsError::Truncated)) => {
            // Two bytes of raw deflate can pass the header check; try that reading.
            inflate_with(payload, false, max).map_err(|raw_err| match raw_err {
                StatsError::TooLarge { .. } => raw_err,
                _ => zlib_err,
            })
        }
        Err(e) => Err(e),
    }
}

/// Inflates one stream through a fixed-size chunk, stopping as soon as the output
/// would exceed `max`.
fn inflate_with(input: &[u8], zlib: bool, max: usize) -> Result<Vec<u8>, StatsError> {
    let mut d = Decompress::new(zlib);
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).min(max).min(1 << 20));
    let mut chunk = vec![0u8; CHUNK];
    let mut consumed = 0usize;
    loop {
        let (in_before, out_before) = (d.total_in(), d.total_out());
        let status = d
            .decompress(&input[consumed..], &mut chunk, FlushDecompress::None)
            .map_err(StatsError::Inflate)?;
        let read = usize::try_from(d.total_in() - in_before).unwrap_or(usize::MAX);
        let produced = usize::try_from(d.total_out() - out_before).unwrap_or(usize::MAX);
        consumed = consumed.saturating_add(read).min(input.len());
        if produced > max - out.len() {
            return Err(StatsError::TooLarge { limit: max });
        }
        out.extend_from_slice(&chunk[..produced]);
        match status {
            Status::StreamEnd => {
                if consumed < input.len() {
                    tracing::debug!(
                        trailing = input.len() - consumed,
                        "bytes after the end of the MONITOR_STAT stream ignored"
                    );
                }
                return Ok(out);
            }
            Status::Ok | Status::BufError => {
                if read == 0 && produced == 0 {
                    // No progress with output room available: the input ran out.
                    return Err(StatsError::Truncated);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zlib_header_check() {
        assert!(has_zlib_header(&[0x78, 0x9c]));
        assert!(has_zlib_header(&[0x78, 0x01]));
        assert!(has_zlib_header(&[0x78, 0xda]));
        assert!(!has_zlib_header(&[0x78, 0x9d]));
        assert!(!has_zlib_header(&[0x78]));
        assert!(!has_zlib_header(b"{\""));
    }

    #[test]
    fn raw_deflate_is_accepted() {
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        z.write_all(br#"{"monitor_status":"disabled"}"#).unwrap();
        let raw = z.finish().unwrap();
        let r = decode_monitor_payload(&raw, 1024).unwrap();
        assert_eq!(r.monitor_status, "disabled");
    }

    #[test]
    fn truncated_and_garbage_streams_fail() {
        let full = encode_monitor_payload(&MonitorReport::disabled());
        for cut in 1..full.len() {
            assert!(
                decode_monitor_payload(&full[..cut], 1024).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
        assert!(matches!(
            decode_monitor_payload(&[], 1024),
            Err(StatsError::Empty)
        ));
        assert!(decode_monitor_payload(b"{\"monitor_status\":1}", 1024).is_err());
    }

    #[test]
    fn trailing_bytes_after_stream_are_ignored() {
        let mut p = encode_monitor_payload(&MonitorReport::disabled());
        p.extend_from_slice(b"\0\0junk");
        assert_eq!(
            decode_monitor_payload(&p, 1024).unwrap(),
            MonitorReport::disabled()
        );
    }

    #[test]
    fn json_must_be_an_object() {
        assert!(matches!(
            parse_monitor_json(b"[1,2]"),
            Err(StatsError::NotAnObject)
        ));
        assert!(matches!(
            parse_monitor_json(b"  "),
            Err(StatsError::NotAnObject)
        ));
        assert!(matches!(
            parse_monitor_json(b"{\"a\":"),
            Err(StatsError::Json(_))
        ));
        let r = parse_monitor_json(b" {\"monitor_status\":\"enabled\"}\n\0").unwrap();
        assert!(r.is_enabled());
    }
}
