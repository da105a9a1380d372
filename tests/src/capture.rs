//! Reader for the `.hex` protocol captures in `elliptics/tests/vectors/`: one frame per
//! line, `C>S|S>C <client ip:port->server ip:port> <COMMAND> <hex of header+payload>`.

use std::path::PathBuf;

use elliptics::proto::Frame;

/// Direction of a captured frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    ToServer,
    /// Server to client.
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
    /// The decoded frame.
    pub frame: Frame,
    /// The raw bytes.
    pub raw: Vec<u8>,
}

/// Directory holding the captures.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../elliptics/tests/vectors")
}

/// Reads and decodes `<name>.hex`.
pub fn load(name: &str) -> Vec<CapturedFrame> {
    let path = vectors_dir().join(format!("{name}.hex"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(parts.len(), 4, "capture line: {l}");
            let dir = match parts[0] {
                "C>S" => Direction::ToServer,
                "S>C" => Direction::ToClient,
                d => panic!("direction {d}"),
            };
            let (client, server) = parts[1].split_once("->").expect("conn");
            let raw = hex::decode(parts[3]).expect("hex");
            let frame = Frame::decode_exact(&raw).expect("captured frame decodes");
            CapturedFrame {
                dir,
                client: client.to_string(),
                server: server.to_string(),
                frame,
                raw,
            }
        })
        .collect()
}
