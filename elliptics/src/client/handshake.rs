//! Opening a connection: TCP connect with socket options, the REVERSE_LOOKUP handshake
//! read synchronously before the connection is split (§4.1), its validation, and the
//! protocol-version policy (fixed, or automatic: 2.26 first, then 3.0).

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::Error;
use crate::proto::errno::code;
use crate::proto::{
    Codec, Command, Frame, FrameDecoder, NodeAddr, NodeAnnouncement, ProtocolVersion, request,
};

/// Which protocol version the client announces in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionPolicy {
    /// Always this version. The node resets the connection when major.minor differ.
    Fixed(ProtocolVersion),
    /// Try 2.26 first; when the node resets the connection right after the handshake
    /// request (or answers -71 / an incompatible version), retry with 3.0. The version
    /// that worked is remembered per address and tried first next time, and tried first
    /// with nodes not connected yet.
    #[default]
    Auto,
}

impl VersionPolicy {
    /// Versions to try, in order, with `remembered` (if any) first.
    pub fn candidates(&self, remembered: Option<ProtocolVersion>) -> Vec<ProtocolVersion> {
        match self {
            VersionPolicy::Fixed(v) => vec![*v],
            VersionPolicy::Auto => {
                let mut v = vec![ProtocolVersion::V2_26, ProtocolVersion::V3_0];
                if let Some(r) = remembered {
                    v.retain(|x| !x.compatible(&r));
                    v.insert(0, r);
                }
                v
            }
        }
    }
}

/// A socket that completed the handshake, with what was read past the reply.
pub(crate) struct Established {
    pub stream: TcpStream,
    pub buf: BytesMut,
    pub addr: NodeAddr,
    pub idx: usize,
    pub announcement: NodeAnnouncement,
    pub version: ProtocolVersion,
    pub server_version: ProtocolVersion,
}

/// Timeouts and limits of connecting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectParams {
    pub connect_timeout: Duration,
    pub handshake_timeout: Duration,
    pub max_payload: u64,
}

enum Attempt {
    Done(Box<Established>),
    /// The node refused this version (reset, EOF, -71, incompatible answer).
    Rejected(String),
}

/// Connects to `addr` and handshakes, trying `candidates` in order.
pub(crate) async fn establish(
    addr: NodeAddr,
    candidates: &[ProtocolVersion],
    p: ConnectParams,
) -> Result<Established, Error> {
    let mut rejections = Vec::new();
    for (i, v) in candidates.iter().enumerate() {
        let stream = connect_tcp(addr, p.connect_timeout).await?;
        match handshake(stream, addr, *v, p).await? {
            Attempt::Done(est) => {
                tracing::info!(%addr, version = %v, server_version = %est.server_version, "connected");
                return Ok(*est);
            }
            Attempt::Rejected(why) => {
                if i + 1 < candidates.len() {
                    tracing::info!(%addr, version = %v, reason = %why, "handshake rejected, trying the next protocol version");
                }
                rejections.push(format!("{v}: {why}"));
            }
        }
    }
    // A node of another major.minor hangs up on the handshake without saying why.
    let hint = match candidates {
        [only] => format!(
            " — the node most likely speaks another protocol version than {only} (a 3.0 node \
             refuses 2.26 and the reverse): set protocol_version to \"auto\" or to the \
             cluster's version"
        ),
        _ => String::new(),
    };
    Err(Error::Protocol(format!(
        "handshake with {addr} failed: {}{hint}",
        rejections.join("; ")
    )))
}

async fn connect_tcp(addr: NodeAddr, timeout: Duration) -> Result<TcpStream, Error> {
    let unreachable = |reason: String| Error::Unreachable { addr, reason };
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr.socket_addr()))
        .await
        .map_err(|_| unreachable(format!("connect timed out after {timeout:?}")))?
        .map_err(|e| unreachable(e.to_string()))?;
    stream.set_nodelay(true)?;
    let sock = socket2::SockRef::from(&stream);
    let ka = socket2::TcpKeepalive::new().with_time(Duration::from_secs(10));
    #[cfg(target_os = "linux")]
    let ka = ka.with_interval(Duration::from_secs(10)).with_retries(3);
    if let Err(e) = sock.set_tcp_keepalive(&ka) {
        tracing::debug!(%addr, error = %e, "keepalive not set");
    }
    Ok(stream)
}

fn is_reset(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
    )
}

async fn handshake(
    mut stream: TcpStream,
    addr: NodeAddr,
    version: ProtocolVersion,
    p: ConnectParams,
) -> Result<Attempt, Error> {
    let req = request::reverse_lookup(version);
    if let Err(e) = stream.write_all(&req.to_bytes()).await {
        return if is_reset(&e) {
            Ok(Attempt::Rejected(e.to_string()))
        } else {
            Err(e.into())
        };
    }
    let mut decoder = FrameDecoder::new(p.max_payload);
    let mut buf = BytesMut::with_capacity(4096);
    let read = async {
        loop {
            if let Some(f) = decoder.decode(&mut buf)? {
                return Ok::<_, Error>(Some(f));
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) if is_reset(&e) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let reply = match tokio::time::timeout(p.handshake_timeout, read).await {
        Err(_) => return Err(Error::Timeout),
        Ok(Ok(Some(f))) => f,
        Ok(Ok(None)) => {
            return Ok(Attempt::Rejected(
                "connection closed after the handshake request".into(),
            ));
        }
        Ok(Err(e)) => return Err(e),
    };
    let h = reply.header;
    if !h.is_reply() || h.command() != Some(Command::ReverseLookup) {
        return Err(Error::Protocol(format!(
            "{addr}: expected a REVERSE_LOOKUP reply, got cmd {} flags {:?}",
            h.cmd, h.flags
        )));
    }
    if h.status == code::EPROTO {
        return Ok(Attempt::Rejected("node answered -71 (EPROTO)".into()));
    }
    if h.status != 0 {
        return Err(Error::from_status(h.status));
    }
    let server_version = ProtocolVersion::from_id(&h.id.id);
    if !server_version.compatible(&version) {
        return Ok(Attempt::Rejected(format!(
            "node runs incompatible version {server_version}"
        )));
    }
    let (announcement, idx) = validate(&reply, addr)?;
    Ok(Attempt::Done(Box::new(Established {
        stream,
        buf,
        addr,
        idx,
        announcement,
        version,
        server_version,
    })))
}

/// Checks a REVERSE_LOOKUP reply payload (§4.1): exact id container, sane address
/// container, no empty address, and `addr` among the advertised addresses; returns the
/// announcement and the index of `addr` in it.
pub(crate) fn validate(reply: &Frame, addr: NodeAddr) -> Result<(NodeAnnouncement, usize), Error> {
    let ann = NodeAnnouncement::decode_all(&reply.payload)
        .map_err(|e| Error::Protocol(format!("{addr}: bad REVERSE_LOOKUP reply: {e}")))?;
    if ann.addrs.addrs.is_empty() || ann.addrs.node_addr_num <= 0 {
        return Err(Error::Protocol(format!(
            "{addr}: node advertises no address"
        )));
    }
    if ann.addrs.addrs.iter().any(|a| a.is_empty()) {
        return Err(Error::Protocol(format!(
            "{addr}: node advertises an empty address"
        )));
    }
    let idx = ann
        .addrs
        .addrs
        .iter()
        .position(|a| *a == addr)
        .ok_or_else(|| {
            Error::Protocol(format!(
                "{addr}: not among the node's advertised addresses {:?}",
                ann.addrs.addrs
            ))
        })?;
    Ok((ann, idx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_candidates() {
        let auto = VersionPolicy::Auto;
        assert_eq!(
            auto.candidates(None),
            vec![ProtocolVersion::V2_26, ProtocolVersion::V3_0]
        );
        assert_eq!(
            auto.candidates(Some(ProtocolVersion::V3_0)),
            vec![ProtocolVersion::V3_0, ProtocolVersion::V2_26]
        );
        let fixed = VersionPolicy::Fixed(ProtocolVersion::V3_0);
        assert_eq!(
            fixed.candidates(Some(ProtocolVersion::V2_26)),
            vec![ProtocolVersion::V3_0]
        );
    }
}
