//! An Elliptics-compatible storage node: the embedded default of Backrunner and the
//! target of its tests. It speaks the Elliptics wire protocol (see `elliptics::proto`)
//! to real Elliptics clients and to the `elliptics` client, and stores objects in
//! append-only blob files that can be defragmented.
//!
//! - [`config`]: the TOML configuration and its validation;
//! - [`blob`]: the append-only blob store of one backend;
//! - [`backend`]: a served backend (store + ring ids + state);
//! - [`ring`]: a backend's ring ids, persisted in its directory;
//! - [`writer_thread`]: the per-backend thread that runs small writes in arrival order;
//! - [`server`]: listener, connections, peers and the command handlers (one file per
//!   command in `server/cmd/`).

pub mod backend;
pub mod blob;
pub mod config;
pub mod key_locks;
pub mod ring;
pub mod server;
pub mod writer_thread;

pub use config::{ConfigError, NodeConfig, ValidNodeConfig};
pub use server::{Node, StartError};
