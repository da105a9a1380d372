//! The e2e scenarios: one test binary, each test with its own control plane (nextest runs
//! tests as separate processes) and its own namespace.

mod buckets;
mod chart;
mod control_plane;
mod defrag;
mod failover;
mod operator_paths;
mod placement;
mod quiet_status;
mod rotation;
mod support;
