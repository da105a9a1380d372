//! Elliptics wire protocol and async client.

pub mod bucket;
pub mod client;
pub mod error;
pub mod proto;
pub mod stats;
pub mod token_aliases;

pub use client::{Client, ClientConfig, Session};
pub use error::Error;
