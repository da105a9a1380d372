//! Leader election on a `coordination.k8s.io/v1` Lease (kube-rs 2.0 has none built in).
//!
//! Every replica runs [`LeaderElector::run`]: every `renew_seconds` it reads the Lease and
//! decides ([`decide`], a pure function) to acquire it (free, released or expired), renew
//! it (held by itself) or wait (held by another, fresh). Writes use the Lease's
//! `resourceVersion`, so two replicas racing for it cannot both win: the loser gets a 409
//! and stays a follower. The outcome is published on a `watch` channel ("is leader") and
//! the holder's identity in [`LeaderState`].
//!
//! A leader that cannot renew steps down: at once when another replica took the Lease, and
//! after `lease_seconds - renew_seconds` of failed renewals otherwise (before any follower
//! may consider the Lease expired). Stepping down is final for this process: the
//! controllers it started cannot be recalled safely, so the operator exits non-zero and
//! Kubernetes restarts it as a follower (see `run` at the crate root). On a clean shutdown the
//! leader releases the Lease so a follower takes over within one retry interval.
//!
//! The leader also writes its placement-hub URL into the Lease ([`HUB_URL_ANNOTATION`]),
//! so followers can forward hub requests to it (see the `server` module).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::chrono::{DateTime, Utc};
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;

use crate::config::LeaderElectionConfig;

/// Lease annotation with the leader's placement-hub URL (`http://ip:port`).
pub const HUB_URL_ANNOTATION: &str = "backrunner.io/hub-url";

/// What the Lease says, reduced to what [`decide`] needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseState {
    /// `spec.holderIdentity` (empty or absent = free).
    pub holder: Option<String>,
    /// `spec.renewTime` (or `acquireTime` when never renewed).
    pub renew_time: Option<DateTime<Utc>>,
    /// `spec.leaseDurationSeconds`.
    pub lease_duration_seconds: Option<i32>,
}

impl LeaseState {
    /// Extracts the state of a Lease object.
    pub fn of(lease: &Lease) -> LeaseState {
        let spec = lease.spec.clone().unwrap_or_default();
        LeaseState {
            holder: spec.holder_identity.filter(|h| !h.is_empty()),
            renew_time: spec.renew_time.or(spec.acquire_time).map(|t| t.0),
            lease_duration_seconds: spec.lease_duration_seconds,
        }
    }
}

/// What to do with the Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseAction {
    /// No Lease object exists: create it holding it.
    Create,
    /// Free, released or expired: take it over (a leader transition).
    Acquire,
    /// We hold it: renew.
    Renew,
    /// Another replica holds a fresh Lease.
    Wait {
        /// Its identity.
        holder: String,
    },
}

/// Decides, given the Lease (`None` = absent), the time and our identity. A Lease without a
/// duration uses `default_duration`; one without a renew time counts as expired.
pub fn decide(
    lease: Option<&LeaseState>,
    identity: &str,
    now: DateTime<Utc>,
    default_duration: Duration,
) -> LeaseAction {
    let Some(lease) = lease else {
        return LeaseAction::Create;
    };
    let Some(holder) = lease.holder.as_deref() else {
        return LeaseAction::Acquire;
    };
    if holder == identity {
        return LeaseAction::Renew;
    }
    let duration = lease
        .lease_duration_seconds
        .filter(|s| *s > 0)
        .map_or(default_duration, |s| {
            Duration::from_secs(s.unsigned_abs().into())
        });
    let expired = match lease.renew_time {
        None => true,
        Some(t) => {
            let age = now.signed_duration_since(t);
            age.to_std().is_ok_and(|age| age >= duration)
        }
    };
    if expired {
        LeaseAction::Acquire
    } else {
        LeaseAction::Wait {
            holder: holder.to_string(),
        }
    }
}

/// Why leadership ended.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Another replica took the Lease.
    #[error("lost the lease to {0}")]
    Lost(String),
    /// Renewals failed for too long.
    #[error("could not renew the lease for {0:?}: {1}")]
    RenewFailed(Duration, String),
}

/// Shared view of the election: whether this replica leads and who does.
#[derive(Clone)]
pub struct LeaderState {
    /// `true` while this replica holds the Lease.
    pub is_leader: watch::Receiver<bool>,
    holder: Arc<RwLock<Option<String>>>,
    leader_hub: Arc<RwLock<Option<String>>>,
    /// This replica's identity.
    pub identity: String,
}

impl LeaderState {
    /// A replica that always leads (leader election disabled, tests).
    pub fn always_leader(identity: &str) -> LeaderState {
        let (tx, rx) = watch::channel(true);
        // The receiver keeps the last value after the sender is gone.
        drop(tx);
        LeaderState {
            is_leader: rx,
            holder: Arc::new(RwLock::new(Some(identity.to_string()))),
            leader_hub: Arc::new(RwLock::new(None)),
            identity: identity.to_string(),
        }
    }

    /// A fixed state: leading or following `holder` (standalone runs and tests).
    pub fn fixed(identity: &str, leading: bool, holder: Option<&str>) -> LeaderState {
        let (tx, rx) = watch::channel(leading);
        drop(tx);
        LeaderState {
            is_leader: rx,
            holder: Arc::new(RwLock::new(holder.map(str::to_string))),
            leader_hub: Arc::new(RwLock::new(None)),
            identity: identity.to_string(),
        }
    }

    /// [`LeaderState::fixed`] for a follower that knows the leader's hub URL.
    pub fn following(identity: &str, holder: &str, hub_url: &str) -> LeaderState {
        let state = LeaderState::fixed(identity, false, Some(holder));
        if let Ok(mut h) = state.leader_hub.write() {
            *h = Some(hub_url.to_string());
        }
        state
    }

    /// The placement-hub URL the current leader published, when known (followers).
    pub fn leader_hub(&self) -> Option<String> {
        self.leader_hub.read().ok().and_then(|h| h.clone())
    }

    /// Whether this replica leads now.
    pub fn leading(&self) -> bool {
        *self.is_leader.borrow()
    }

    /// The identity of the current leader, when known.
    pub fn holder(&self) -> Option<String> {
        self.holder.read().ok().and_then(|h| h.clone())
    }
}

/// Runs the election for one replica.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaderElectionConfig,
    identity: String,
    tx: watch::Sender<bool>,
    holder: Arc<RwLock<Option<String>>>,
    leader_hub: Arc<RwLock<Option<String>>>,
    /// This replica's hub URL, published while it leads.
    hub_url: Option<String>,
}

impl LeaderElector {
    /// An elector over the Lease `config.lease_name` in `namespace`; returns it and the
    /// shared state the rest of the operator reads. `hub_url` is published in the Lease
    /// while this replica leads.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        identity: &str,
        config: LeaderElectionConfig,
        hub_url: Option<String>,
    ) -> (LeaderElector, LeaderState) {
        let (tx, rx) = watch::channel(false);
        let holder = Arc::new(RwLock::new(None));
        let leader_hub = Arc::new(RwLock::new(None));
        let state = LeaderState {
            is_leader: rx,
            holder: holder.clone(),
            leader_hub: leader_hub.clone(),
            identity: identity.to_string(),
        };
        let elector = LeaderElector {
            api: Api::namespaced(client, namespace),
            config,
            identity: identity.to_string(),
            tx,
            holder,
            leader_hub,
            hub_url,
        };
        (elector, state)
    }

    fn set_leader_hub(&self, lease: Option<&Lease>) {
        let url = lease
            .and_then(|l| l.metadata.annotations.as_ref())
            .and_then(|a| a.get(HUB_URL_ANNOTATION))
            .filter(|u| !u.is_empty())
            .cloned();
        if let Ok(mut g) = self.leader_hub.write() {
            *g = url;
        }
    }

    /// Writes (or clears) this replica's hub URL in `meta`.
    fn publish_hub(&self, meta: &mut ObjectMeta) {
        let annotations = meta.annotations.get_or_insert_with(Default::default);
        match &self.hub_url {
            Some(url) => {
                annotations.insert(HUB_URL_ANNOTATION.to_string(), url.clone());
            }
            None => {
                annotations.remove(HUB_URL_ANNOTATION);
            }
        }
    }

    fn set_holder(&self, h: Option<String>) {
        if let Ok(mut g) = self.holder.write() {
            *g = h;
        }
    }

    fn spec(&self, now: DateTime<Utc>, prev: Option<&LeaseSpec>, transition: bool) -> LeaseSpec {
        let prev = prev.cloned().unwrap_or_default();
        let transitions = prev.lease_transitions.unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: i32::try_from(self.config.lease_seconds).ok(),
            acquire_time: if transition {
                Some(MicroTime(now))
            } else {
                prev.acquire_time
            },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(if transition {
                transitions.saturating_add(1)
            } else {
                transitions
            }),
            ..LeaseSpec::default()
        }
    }

    /// One round: read, decide, write. Returns whether we hold the Lease afterwards.
    async fn round(&self) -> Result<bool, kube::Error> {
        let now = Utc::now();
        let existing = self.api.get_opt(&self.config.lease_name).await?;
        let state = existing.as_ref().map(LeaseState::of);
        let duration = Duration::from_secs(self.config.lease_seconds.into());
        match decide(state.as_ref(), &self.identity, now, duration) {
            LeaseAction::Create => {
                let mut metadata = ObjectMeta {
                    name: Some(self.config.lease_name.clone()),
                    ..ObjectMeta::default()
                };
                self.publish_hub(&mut metadata);
                let lease = Lease {
                    metadata,
                    spec: Some(LeaseSpec {
                        lease_transitions: Some(0),
                        ..self.spec(now, None, true)
                    }),
                };
                self.api.create(&PostParams::default(), &lease).await?;
                Ok(true)
            }
            LeaseAction::Acquire | LeaseAction::Renew => {
                let Some(mut lease) = existing else {
                    return Ok(false);
                };
                let transition = state.as_ref().and_then(|s| s.holder.as_deref())
                    != Some(self.identity.as_str());
                lease.spec = Some(self.spec(now, lease.spec.as_ref(), transition));
                self.publish_hub(&mut lease.metadata);
                self.api
                    .replace(&self.config.lease_name, &PostParams::default(), &lease)
                    .await?;
                Ok(true)
            }
            LeaseAction::Wait { holder } => {
                self.set_holder(Some(holder));
                self.set_leader_hub(existing.as_ref());
                Ok(false)
            }
        }
    }

    /// Campaigns until `shutdown` resolves or leadership is lost. Returns `Ok` on shutdown
    /// (releasing the Lease if held) and the reason when leadership ended otherwise.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), LeaderError> {
        let renew = Duration::from_secs(self.config.renew_seconds.into());
        let grace = Duration::from_secs(
            self.config
                .lease_seconds
                .saturating_sub(self.config.renew_seconds)
                .into(),
        );
        let mut leading = false;
        let mut last_renewed = Instant::now();
        tokio::pin!(shutdown);
        loop {
            match self.round().await {
                Ok(true) => {
                    last_renewed = Instant::now();
                    self.set_holder(Some(self.identity.clone()));
                    if !leading {
                        tracing::info!(identity = %self.identity, lease = %self.config.lease_name, "became the leader");
                        leading = true;
                        let _ = self.tx.send(true);
                    }
                }
                Ok(false) if leading => {
                    let holder = self.holderless();
                    let _ = self.tx.send(false);
                    return Err(LeaderError::Lost(holder));
                }
                Ok(false) => {}
                Err(e) if leading => {
                    let conflict = matches!(&e, kube::Error::Api(s) if s.code == 409);
                    if conflict || last_renewed.elapsed() >= grace {
                        let _ = self.tx.send(false);
                        if conflict {
                            return Err(LeaderError::Lost(self.holderless()));
                        }
                        return Err(LeaderError::RenewFailed(
                            last_renewed.elapsed(),
                            e.to_string(),
                        ));
                    }
                    tracing::warn!(error = %e, "lease renewal failed; retrying");
                }
                Err(e) => {
                    tracing::debug!(error = %e, "lease not acquired");
                }
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(renew) => {}
            }
        }
        if leading {
            self.release().await;
            let _ = self.tx.send(false);
        }
        Ok(())
    }

    fn holderless(&self) -> String {
        self.holder
            .read()
            .ok()
            .and_then(|h| h.clone())
            .filter(|h| *h != self.identity)
            .unwrap_or_else(|| "another replica".into())
    }

    /// Gives the Lease up (clean shutdown): clears the holder so a follower acquires it on
    /// its next round instead of waiting for expiry.
    async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.lease_name).await else {
            return;
        };
        let mine = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(self.identity.as_str());
        if !mine {
            return;
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
        }
        match self
            .api
            .replace(&self.config.lease_name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!("lease released"),
            Err(e) => tracing::warn!(error = %e, "releasing the lease failed"),
        }
    }
}

#[cfg(test)]
mod tests;
