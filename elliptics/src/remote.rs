//! Storage node addresses as people write them in configuration: `ip:port[:family]`
//! (IPv4, or IPv6 in brackets), or `name:port[:family]` with a DNS name — a Kubernetes
//! Service, say — resolved to every address of the family (2 = IPv4, the default;
//! 10 = IPv6). Names are resolved when a connection is made, so a headless Service whose
//! pods were replaced resolves to the new pods. Shared by the client (its remotes) and the
//! storage node (its peers); it needs nothing of the client.

use crate::proto::NodeAddr;

/// A remote as configured: an address, or a name to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// An IP literal.
    Addr(NodeAddr),
    /// A DNS name with its port and whether IPv6 addresses are wanted.
    Name {
        /// Host name.
        host: String,
        /// Port.
        port: u16,
        /// Family 10 (IPv6) instead of 2.
        ipv6: bool,
    },
}

impl Remote {
    /// Parses `host:port[:family]`; the error says what is wrong, for configuration
    /// messages.
    pub fn parse(text: &str) -> Result<Remote, String> {
        if let Ok(addr) = NodeAddr::parse(text) {
            return Ok(Remote::Addr(addr));
        }
        let text = text.trim();
        let bad = |why: &str| format!("address {text:?}: {why}, e.g. storage-0.storage:1025:2");
        let parts: Vec<&str> = text.split(':').collect();
        let (host, port, family) = match parts.as_slice() {
            [host, port] => (*host, *port, "2"),
            [host, port, family] => (*host, *port, *family),
            _ => return Err(bad("expected host:port[:family]")),
        };
        let valid_host = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        if !valid_host {
            return Err(bad("not an IP address or a DNS name"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("port must be 1-65535"))?;
        let ipv6 = match family {
            "2" => false,
            "10" => true,
            _ => return Err(bad("family must be 2 (IPv4) or 10 (IPv6)")),
        };
        Ok(Remote::Name {
            host: host.to_owned(),
            port,
            ipv6,
        })
    }

    /// The node addresses now: the address itself, or every address the name resolves to
    /// in the requested family.
    pub async fn resolve(&self) -> Result<Vec<NodeAddr>, String> {
        match self {
            Remote::Addr(a) => Ok(vec![*a]),
            Remote::Name { host, port, ipv6 } => {
                let found = tokio::net::lookup_host((host.as_str(), *port))
                    .await
                    .map_err(|e| format!("cannot resolve {host}: {e}"))?;
                let mut addrs: Vec<NodeAddr> = found
                    .filter(|a| a.is_ipv6() == *ipv6)
                    .map(NodeAddr::from)
                    .collect();
                addrs.sort_by_key(|a| a.socket_addr());
                addrs.dedup();
                if addrs.is_empty() {
                    let family = if *ipv6 { "IPv6" } else { "IPv4" };
                    return Err(format!("{host} has no {family} address"));
                }
                Ok(addrs)
            }
        }
    }
}

/// Resolves every remote of a list (`what[i]` names the failing one).
pub async fn resolve_all(remotes: &[String], what: &str) -> Result<Vec<NodeAddr>, String> {
    let mut out = Vec::new();
    for (i, text) in remotes.iter().enumerate() {
        let addrs = Remote::parse(text)
            .map_err(|e| format!("{what}[{i}]: {e}"))?
            .resolve()
            .await
            .map_err(|e| format!("{what}[{i}]: {e}"))?;
        for a in addrs {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_and_names() {
        assert!(matches!(
            Remote::parse("10.0.0.1:1025:2"),
            Ok(Remote::Addr(_))
        ));
        assert!(matches!(
            Remote::parse("[::1]:1025:10"),
            Ok(Remote::Addr(_))
        ));
        assert_eq!(
            Remote::parse("storage-0.storage.ns.svc:1025"),
            Ok(Remote::Name {
                host: "storage-0.storage.ns.svc".into(),
                port: 1025,
                ipv6: false
            })
        );
        assert_eq!(
            Remote::parse("storage:1025:10").map(|r| matches!(r, Remote::Name { ipv6: true, .. })),
            Ok(true)
        );
        for bad in [
            "storage",
            "storage:0",
            "storage:x",
            "storage:1025:3",
            "a b:1025",
            ":1025",
            "a:1:2:3",
        ] {
            assert!(Remote::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn resolves_names() {
        let addrs = Remote::parse("localhost:1025:2")
            .unwrap()
            .resolve()
            .await
            .unwrap();
        assert!(addrs.iter().all(|a| a.socket_addr().port() == 1025));
        assert!(addrs.iter().any(|a| a.socket_addr().ip().is_loopback()));
        let all = resolve_all(
            &["localhost:1025".into(), "127.0.0.1:1025:2".into()],
            "remotes",
        )
        .await
        .unwrap();
        assert_eq!(all.len(), 1, "duplicates merged: {all:?}");
        let err = resolve_all(&["no-such-host.invalid:1025".into()], "remotes")
            .await
            .unwrap_err();
        assert!(err.starts_with("remotes[0]: cannot resolve"), "{err}");
    }
}
