//! The placement hub's contract between proxies and the operator: the JSON wire types
//! ([`wire`]) and the one HTTP client that speaks it ([`hub_client`]). No Kubernetes crate
//! is compiled here, so the data plane stays free of `kube` and `k8s-openapi`.

pub mod hub_client;
pub mod wire;

pub use hub_client::{HubClient, HubError, HubReply};
pub use wire::{
    BackendKey, BackendWriteReport, MergedBackend, PLACEMENT_PATH, PlacementReport, PlacementView,
    REPORTS_PATH,
};
