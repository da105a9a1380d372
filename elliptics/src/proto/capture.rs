//! Reader of the `.hex` protocol captures in `elliptics/tests/vectors/` (copied from the
//! shared reference vectors): one frame per line,
//! `C>S|S>C <client ip:port>-><server ip:port> <COMMAND> <hex of header+payload>`;
//! lines starting with `#` and blank lines are skipped.
//!
//! Test support: compiled for this crate's own tests and, behind the `capture` feature,
//! for the tests of other crates (`backrunner-tests` replays the captures against the
//! node), so that every test reads the captures the same way.

use std::path::{Path, PathBuf};

use super::codec::DecodeError;
use super::frame::Frame;

/// The captures of one client operation each, in order (`00-cluster-startup` is the
/// cluster starting). 01–10 talk to node s1 (and s2 for group 2); 11 and 12 ask one
/// node each for its backend status.
pub const OPERATIONS: [&str; 12] = [
    "01-write-g1g2",
    "02-read-g1g2",
    "03-read-range-g2",
    "04-lookup-g1g2",
    "05-monitor-stat-all",
    "06-monitor-stat-backend",
    "07-remove-g1g2",
    "08-lookup-after-remove",
    "09-read-after-remove",
    "10-defrag-start-s1-b2",
    "11-backend-status-s1",
    "12-backend-status-s2",
];

/// Direction of a captured frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server (`C>S`).
    ToServer,
    /// Server to client (`S>C`).
    ToClient,
}

/// One captured frame.
#[derive(Debug, Clone)]
pub struct CapturedFrame {
    /// Direction.
    pub dir: Direction,
    /// Client side of the TCP connection, `ip:port`.
    pub client: String,
    /// Server side of the TCP connection, `ip:port`.
    pub server: String,
    /// The command name the capture tool printed (`"WRITE"`, `"DEL"`, ...).
    pub command: String,
    /// The raw bytes, header and payload.
    pub raw: Vec<u8>,
    /// The decoded frame.
    pub frame: Frame,
}

impl CapturedFrame {
    /// The port of the server side, if the address ends in one.
    pub fn server_port(&self) -> Option<u16> {
        self.server.rsplit_once(':')?.1.parse().ok()
    }
}

/// Why a capture could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The capture file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `dir conn command hex`.
    #[error("capture line {line}: {reason}")]
    Line {
        /// Line number, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A line's bytes are not one whole frame.
    #[error("capture line {line}: {source}")]
    Frame {
        /// Line number, from 1.
        line: usize,
        /// The decoder's error.
        #[source]
        source: DecodeError,
    },
}

/// The directory of the captures (`elliptics/tests/vectors`).
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// Reads and decodes capture `name` (e.g. `"01-write-g1g2"`, without `.hex`) from
/// [`vectors_dir`], in capture order.
pub fn load(name: &str) -> Result<Vec<CapturedFrame>, CaptureError> {
    let path = vectors_dir().join(format!("{name}.hex"));
    let text =
        std::fs::read_to_string(&path).map_err(|source| CaptureError::Io { path, source })?;
    parse(&text)
}

/// Decodes the text of a capture, in capture order.
pub fn parse(text: &str) -> Result<Vec<CapturedFrame>, CaptureError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .map(|(n, l)| parse_line(n + 1, l))
        .collect()
}

/// One frame line.
fn parse_line(line: usize, text: &str) -> Result<CapturedFrame, CaptureError> {
    let bad = |reason: String| CaptureError::Line { line, reason };
    let [dir, conn, command, hex] = text.split_whitespace().collect::<Vec<_>>()[..] else {
        return Err(bad("expected 4 fields".to_owned()));
    };
    let dir = match dir {
        "C>S" => Direction::ToServer,
        "S>C" => Direction::ToClient,
        d => return Err(bad(format!("direction {d:?}"))),
    };
    let (client, server) = conn
        .split_once("->")
        .ok_or_else(|| bad(format!("connection {conn:?}")))?;
    let raw = hex::decode(hex).map_err(|e| bad(format!("hex: {e}")))?;
    let frame = Frame::decode_exact(&raw).map_err(|source| CaptureError::Frame { line, source })?;
    Ok(CapturedFrame {
        dir,
        client: client.to_owned(),
        server: server.to_owned(),
        command: command.to_owned(),
        raw,
        frame,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_capture_reads() {
        let mut files = 0;
        for entry in std::fs::read_dir(vectors_dir()).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if let Some(stem) = name.strip_suffix(".hex") {
                let frames = load(stem).unwrap();
                assert!(!frames.is_empty(), "{name}");
                assert!(frames.iter().all(|f| f.server_port().is_some()), "{name}");
                files += 1;
            }
        }
        assert!(files > 0);
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(matches!(
            parse("C>S a->b"),
            Err(CaptureError::Line { line: 1, .. })
        ));
        assert!(matches!(
            parse("# c\n\nX>Y a->b WRITE 00"),
            Err(CaptureError::Line { line: 3, .. })
        ));
        assert!(matches!(
            parse("C>S a->b WRITE 0011"),
            Err(CaptureError::Frame { .. })
        ));
        assert!(parse("").unwrap().is_empty());
    }
}
