//! The Backrunner operator: kube-rs controllers that turn `Bucket`, `AclPolicy` and
//! `EllipticsCluster` resources into Elliptics bucket metadata, watch storage statistics,
//! schedule defragmentation as Jobs, and merge the placement reports of every proxy.
//!
//! | module | what lives there |
//! |---|---|
//! | [`config`] | [`OperatorConfig`], validated at start |
//! | [`context`] | [`Context`] shared by the controllers; Elliptics clients per cluster |
//! | [`controller`] | plumbing of every controller: backoff, clock, scoped APIs, events, status writes, run loop |
//! | [`metadata`] | bucket metadata, bucket list, ownership and token-alias records in Elliptics |
//! | [`bucket`] | the `Bucket` controller (metadata sync, conflicts, drift, finalizer) |
//! | [`acl_policy`] | the `AclPolicy` controller (token Secrets, rotation) |
//! | [`cluster`] | the `EllipticsCluster` controller (reachability, group health) |
//! | [`stats`] | the statistics poller |
//! | [`stats_cache`] | the latest statistics per cluster (plain data, read by everything above) |
//! | [`health`] | pure group-health and replica-sync rules |
//! | [`defrag`] | defragmentation planning and Jobs |
//! | [`placement`] | the placement hub: proxy reports in, merged view out |
//! | [`leader`] | leader election on a `coordination.k8s.io` Lease |
//! | [`metrics`] | Prometheus metrics |
//! | [`server`] | `/metrics`, `/healthz`, `/readyz` and the placement hub routes |
//! | `startup` | [`run`] / [`run_on`]: wires everything together, leadership and shutdown |
//!
//! Dependencies point one way: `metrics` and `stats_cache` depend on no other module;
//! `health` on those two; `context` on `config`, `metrics`, `placement` and `stats_cache`;
//! `controller` on `crds` types only; the controllers (`bucket` → `acl_policy`, `cluster` →
//! `defrag`) and the poller (`stats`) on what is below them.
//!
//! The data path never depends on the operator: proxies read bucket metadata from Elliptics
//! and fall back to their own measurements when the placement hub is stale.

pub mod acl_policy;
pub mod bucket;
pub mod cluster;
pub mod config;
pub mod context;
pub mod controller;
pub mod defrag;
pub mod health;
pub mod leader;
pub mod metadata;
pub mod metrics;
pub mod placement;
pub mod server;
pub mod stats;
pub mod stats_cache;

mod startup;

pub use config::{ConfigError, OperatorConfig};
pub use context::Context;
pub use startup::{RunError, run, run_on};
