//! Elliptics wire protocol and async client.

pub mod client;
pub mod error;
pub mod proto;
pub mod remote;
pub mod stats;

pub use client::{Client, ClientConfig, Session};
pub use error::Error;
