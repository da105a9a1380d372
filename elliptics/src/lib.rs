//! Elliptics wire protocol and async client.

pub mod proto;
pub mod stats;
