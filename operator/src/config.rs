//! The operator's configuration: one typed struct, built by the CLI from an optional TOML
//! file, environment variables and flags, and validated at start with errors naming the field.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

/// A configuration error naming the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operator config: {field}: {message}")]
pub struct ConfigError {
    /// The field, e.g. `leader_election.lease_seconds`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// Leader election through a `coordination.k8s.io/v1` Lease.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LeaderElectionConfig {
    /// Off: this replica always leads (single-replica installs and tests).
    pub enabled: bool,
    /// Name of the Lease.
    pub lease_name: String,
    /// Namespace of the Lease; empty = the operator's own namespace (`POD_NAMESPACE`), else `default`.
    pub lease_namespace: String,
    /// This replica's identity in the Lease; empty = the host name (the pod name in Kubernetes).
    pub identity: String,
    /// A leader that has not renewed for this long loses the Lease.
    pub lease_seconds: u32,
    /// How often the leader renews (and followers retry).
    pub renew_seconds: u32,
}

impl Default for LeaderElectionConfig {
    fn default() -> Self {
        LeaderElectionConfig {
            enabled: true,
            lease_name: "backrunner-operator".into(),
            lease_namespace: String::new(),
            identity: String::new(),
            lease_seconds: 15,
            renew_seconds: 5,
        }
    }
}

/// Operator configuration. Every field has a default.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct OperatorConfig {
    /// HTTP listener on every replica: `/metrics`, `/healthz`, `/readyz`, and on the leader
    /// the placement hub (`/v1/reports`, `/v1/placement`).
    pub listen: SocketAddr,
    /// Namespace to watch; empty = every namespace.
    pub watch_namespace: String,
    /// Identity of this install in the ownership records beside bucket metadata: two installs
    /// with different ids never take over each other's buckets.
    pub install_id: String,
    /// How often node statistics are polled.
    pub stats_interval_seconds: u32,
    /// Statistics are summarised into object status at most this often (and only when a
    /// value moved).
    pub status_interval_seconds: u32,
    /// Periodic re-reconcile of every object (drift correction), seconds.
    pub resync_seconds: u32,
    /// Image of the defragmentation Jobs (the same `backrunner` image).
    pub defrag_image: String,
    /// Leader election.
    pub leader_election: LeaderElectionConfig,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            watch_namespace: String::new(),
            install_id: "backrunner".into(),
            stats_interval_seconds: 15,
            status_interval_seconds: 60,
            resync_seconds: 300,
            defrag_image: "backrunner:latest".into(),
            leader_election: LeaderElectionConfig::default(),
        }
    }
}

impl OperatorConfig {
    /// Parses a TOML file's text (unknown fields are errors).
    pub fn from_toml(text: &str) -> Result<OperatorConfig, ConfigError> {
        toml_like(text)
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.install_id.is_empty()
            || !self
                .install_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            return Err(err(
                "install_id",
                "must be non-empty and use only letters, digits, '-', '.', '_'",
            ));
        }
        if self.stats_interval_seconds == 0 {
            return Err(err("stats_interval_seconds", "must be at least 1"));
        }
        if self.resync_seconds == 0 {
            return Err(err("resync_seconds", "must be at least 1"));
        }
        if self.defrag_image.is_empty() {
            return Err(err("defrag_image", "must not be empty"));
        }
        let le = &self.leader_election;
        if le.enabled {
            if le.lease_name.is_empty() {
                return Err(err("leader_election.lease_name", "must not be empty"));
            }
            if le.renew_seconds == 0 {
                return Err(err("leader_election.renew_seconds", "must be at least 1"));
            }
            if le.lease_seconds <= le.renew_seconds {
                return Err(err(
                    "leader_election.lease_seconds",
                    "must be longer than renew_seconds",
                ));
            }
        }
        Ok(())
    }

    /// [`Self::stats_interval_seconds`] as a duration.
    pub fn stats_interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.stats_interval_seconds))
    }

    /// [`Self::status_interval_seconds`] as a duration.
    pub fn status_interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.status_interval_seconds))
    }

    /// [`Self::resync_seconds`] as a duration.
    pub fn resync(&self) -> Duration {
        Duration::from_secs(u64::from(self.resync_seconds))
    }
}

fn toml_like(text: &str) -> Result<OperatorConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError {
        field: e
            .span()
            .map(|s| format!("at byte {}", s.start))
            .unwrap_or_else(|| "file".into()),
        message: e.message().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(OperatorConfig::default().validate(), Ok(()));
    }

    #[test]
    fn errors_name_the_field() {
        let mut c = OperatorConfig::default();
        c.leader_election.lease_seconds = 5;
        let e = c.validate().err().map(|e| e.field);
        assert_eq!(e.as_deref(), Some("leader_election.lease_seconds"));
        let e = OperatorConfig::from_toml("listen = 3").err();
        assert!(e.is_some());
        let e = OperatorConfig::from_toml("nope = 1").err();
        assert!(e.is_some_and(|e| e.message.contains("nope")));
    }

    #[test]
    fn parses_a_file() {
        let c = OperatorConfig::from_toml(
            "install_id = \"prod\"\n[leader_election]\nenabled = false\n",
        );
        assert!(
            c.as_ref()
                .is_ok_and(|c| c.install_id == "prod" && !c.leader_election.enabled)
        );
    }
}
