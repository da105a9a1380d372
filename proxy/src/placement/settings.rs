//! The placement settings of [`ProxyConfig`]: the hub URL (`placement_hub`), this proxy's
//! identity in reports (`proxy_id`), and the [`PlacementSettings`] of the exchange loop.

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{ConfigError, ProxyConfig, err};

/// Where and how often to exchange with the hub.
#[derive(Clone, Debug)]
pub struct PlacementSettings {
    /// Identity of this proxy in reports.
    pub proxy_id: String,
    /// `namespace/name` of the cluster, passed in reports.
    pub cluster: String,
    /// Time between exchanges.
    pub interval: Duration,
}

impl ProxyConfig {
    /// The placement hub's base URI (`http` only, with a host), `None` when not configured.
    pub fn placement_hub_uri(&self) -> Result<Option<http::Uri>, ConfigError> {
        let Some(text) = self.placement_hub.as_deref().map(str::trim) else {
            return Ok(None);
        };
        if text.is_empty() {
            return Ok(None);
        }
        let uri: http::Uri = text
            .parse()
            .map_err(|e: http::uri::InvalidUri| err("placement_hub", e.to_string()))?;
        if uri.scheme_str() != Some("http") {
            return Err(err("placement_hub", "must be an http:// URL"));
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(err("placement_hub", "must name a host"));
        }
        if uri.query().is_some() {
            return Err(err("placement_hub", "must not have a query"));
        }
        Ok(Some(uri))
    }

    /// This proxy's identity in placement reports: `proxy_id`, else `$HOSTNAME` (the pod
    /// name in Kubernetes), else `listen`.
    pub fn placement_proxy_id(&self, listen: SocketAddr) -> String {
        self.proxy_id
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| listen.to_string())
    }

    /// The settings of the exchange loop.
    pub fn placement_settings(&self) -> PlacementSettings {
        PlacementSettings {
            proxy_id: self.placement_proxy_id(self.listen),
            cluster: self.placement_cluster.clone(),
            interval: Duration::from_secs(self.placement_report_interval_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_settings() {
        let cfg = ProxyConfig::from_toml(
            "remotes = [\"127.0.0.1:1025\"]\nmetadata_groups = [1]\n\
             placement_hub = \"http://operator.ns.svc:8081\"\nproxy_id = \"p-1\"\n\
             placement_cluster = \"ns/main\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.validate(), Ok(()));
        let uri = cfg.placement_hub_uri().ok().flatten();
        assert_eq!(uri.as_ref().and_then(|u| u.port_u16()), Some(8081));
        assert_eq!(cfg.placement_proxy_id(cfg.listen), "p-1");
        assert_eq!(cfg.placement_cluster, "ns/main");
    }
}
