//! Node addresses: `dnet_addr` (a raw Linux sockaddr with big-endian port and address)
//! and `dnet_addr_container`, the address lists of handshakes and route lists.
//!
//! ```text
//! dnet_addr (32 bytes, packed)
//!   0  addr[28]   sockaddr_in:  family u16 LE (2), port u16 BE, ipv4[4], zero[8], zero[12]
//!                 sockaddr_in6: family u16 LE (10), port u16 BE, flowinfo u32, ipv6[16], scope u32
//!  28  addr_len   u16 (16 or 28)
//!  30  family     u16 (2 = AF_INET, 10 = AF_INET6)
//!
//! dnet_addr_container (8 bytes + addrs, packed)
//!   0  node_addr_num  i32   addresses per node
//!   4  addr_num       i32   addresses that follow
//!   8  addrs[]        dnet_addr × addr_num
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use bytes::BufMut;

use super::codec::{Codec, DecodeError, Reader, decode_list, encode_list};

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// A node address as Elliptics puts it on the wire. Equality is byte equality of the
/// encoded form, as `dnet_addr_cmp` does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeAddr(pub SocketAddr);

impl NodeAddr {
    /// Encoded size.
    pub const SIZE: usize = 32;

    /// The socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        self.0
    }

    /// Address family number (2 or 10).
    pub fn family(&self) -> u16 {
        match self.0 {
            SocketAddr::V4(_) => AF_INET,
            SocketAddr::V6(_) => AF_INET6,
        }
    }

    /// True for the all-zero address, which Elliptics treats as invalid.
    pub fn is_empty(&self) -> bool {
        self.0.port() == 0 && self.0.ip().is_unspecified()
    }

    /// Parses the `host:port:family` text form used in Elliptics configs (the family
    /// suffix is optional; IPv6 hosts go in brackets). The host must be an IP address.
    pub fn parse(s: &str) -> Result<NodeAddr, String> {
        let s = s.trim();
        let (host_port, family) = match s.rsplit_once(':') {
            Some((hp, fam)) if (fam == "2" || fam == "10") && hp.contains(':') => (hp, Some(fam)),
            _ => (s, None),
        };
        let sa: SocketAddr = host_port.parse().map_err(|_| {
            format!("address {s:?}: expected ip:port[:family], e.g. 127.0.0.1:1025:2")
        })?;
        match (family, sa) {
            (Some("2"), SocketAddr::V6(_)) | (Some("10"), SocketAddr::V4(_)) => {
                Err(format!("address {s:?}: family does not match the address"))
            }
            _ => Ok(NodeAddr(sa)),
        }
    }
}

impl From<SocketAddr> for NodeAddr {
    fn from(sa: SocketAddr) -> Self {
        // Elliptics unmaps IPv4-mapped IPv6 peers to plain IPv4.
        match sa {
            SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
                Some(v4) => NodeAddr(SocketAddr::new(IpAddr::V4(v4), v6.port())),
                None => NodeAddr(sa),
            },
            v4 => NodeAddr(v4),
        }
    }
}

impl fmt::Display for NodeAddr {
    /// `ip:port:family`, the form Backrunner prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0, self.family())
    }
}

impl fmt::Debug for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Codec for NodeAddr {
    fn encode(&self, out: &mut impl BufMut) {
        let mut raw = [0u8; 28];
        let (len, fam) = match self.0 {
            SocketAddr::V4(v4) => {
                raw[0..2].copy_from_slice(&AF_INET.to_le_bytes());
                raw[2..4].copy_from_slice(&v4.port().to_be_bytes());
                raw[4..8].copy_from_slice(&v4.ip().octets());
                (16u16, AF_INET)
            }
            SocketAddr::V6(v6) => {
                raw[0..2].copy_from_slice(&AF_INET6.to_le_bytes());
                raw[2..4].copy_from_slice(&v6.port().to_be_bytes());
                raw[4..8].copy_from_slice(&v6.flowinfo().to_be_bytes());
                raw[8..24].copy_from_slice(&v6.ip().octets());
                raw[24..28].copy_from_slice(&v6.scope_id().to_le_bytes());
                (28u16, AF_INET6)
            }
        };
        out.put_slice(&raw);
        out.put_u16_le(len);
        out.put_u16_le(fam);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let raw: [u8; 28] = r.array("dnet_addr.addr")?;
        let len = r.u16("dnet_addr.addr_len")?;
        let fam = r.u16("dnet_addr.family")?;
        let port = u16::from_be_bytes([raw[2], raw[3]]);
        match (fam, len) {
            (AF_INET, 16) => {
                let ip = Ipv4Addr::new(raw[4], raw[5], raw[6], raw[7]);
                Ok(NodeAddr(SocketAddr::V4(SocketAddrV4::new(ip, port))))
            }
            (AF_INET6, 28) => {
                let flow = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
                let mut o = [0u8; 16];
                o.copy_from_slice(&raw[8..24]);
                let scope = u32::from_le_bytes([raw[24], raw[25], raw[26], raw[27]]);
                Ok(NodeAddr(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(o),
                    port,
                    flow,
                    scope,
                ))))
            }
            _ => Err(DecodeError::Invalid("dnet_addr family/addr_len")),
        }
    }
}

/// `dnet_addr_container`: the addresses of one or more nodes, `node_addr_num` per node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddrContainer {
    /// Addresses per node.
    pub node_addr_num: i32,
    /// All addresses; node k owns `[k*node_addr_num, (k+1)*node_addr_num)`.
    pub addrs: Vec<NodeAddr>,
}

impl AddrContainer {
    /// A container describing one node with the given addresses.
    pub fn single_node(addrs: Vec<NodeAddr>) -> Self {
        Self {
            node_addr_num: addrs.len() as i32,
            addrs,
        }
    }

    /// The address at index `idx` of every node (route-list semantics), skipping nodes
    /// that do not have one. Fails when `node_addr_num` is not positive or does not divide
    /// the address count.
    pub fn node_addresses(&self, idx: usize) -> Result<Vec<NodeAddr>, DecodeError> {
        if self.node_addr_num <= 0 || self.addrs.len() % self.node_addr_num as usize != 0 {
            return Err(DecodeError::Invalid("dnet_addr_container.node_addr_num"));
        }
        Ok(self
            .addrs
            .chunks(self.node_addr_num as usize)
            .filter_map(|node| node.get(idx).copied())
            .collect())
    }
}

impl Codec for AddrContainer {
    fn encode(&self, out: &mut impl BufMut) {
        out.put_i32_le(self.node_addr_num);
        out.put_i32_le(self.addrs.len() as i32);
        encode_list(&self.addrs, out);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let node_addr_num = r.i32("dnet_addr_container.node_addr_num")?;
        let addr_num = r.i32("dnet_addr_container.addr_num")?;
        if addr_num < 0 {
            return Err(DecodeError::Invalid("dnet_addr_container.addr_num"));
        }
        let addrs = decode_list::<NodeAddr>(
            r,
            addr_num as u64,
            NodeAddr::SIZE,
            "dnet_addr_container.addr_num",
        )?;
        Ok(Self {
            node_addr_num,
            addrs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_layout_matches_capture() {
        let a = NodeAddr::parse("127.0.0.1:1025:2").unwrap();
        assert_eq!(
            hex::encode(a.to_vec()),
            "020004017f000001000000000000000000000000000000000000000010000200"
        );
        assert_eq!(a.to_string(), "127.0.0.1:1025:2");
    }

    #[test]
    fn parse_forms() {
        assert!(NodeAddr::parse("127.0.0.1:1025").is_ok());
        assert!(NodeAddr::parse("[::1]:1025:10").is_ok());
        assert!(NodeAddr::parse("[::1]:1025:2").is_err());
        assert!(NodeAddr::parse("localhost:1025:2").is_err());
    }

    #[test]
    fn mapped_v6_is_unmapped() {
        let sa: SocketAddr = "[::ffff:10.0.0.1]:5".parse().unwrap();
        assert_eq!(NodeAddr::from(sa).to_string(), "10.0.0.1:5:2");
    }

    #[test]
    fn container_rejects_lying_count() {
        let mut b = Vec::new();
        b.put_i32_le(1);
        b.put_i32_le(1_000_000);
        assert!(matches!(
            AddrContainer::decode_all(&b),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
