//! Backrunner HTTP data plane: the Backrunner-compatible REST API over Elliptics (issue 4).
//!
//! Pure building blocks (no I/O):
//!
//! | module | what it decides |
//! |---|---|
//! | [`endpoint`] | the route table: every endpoint, its paths and its label |
//! | [`query`] | the one query-string parser (Go's `url.ParseQuery` rules) and the signed query form |
//! | [`signature`] | canonical request string, HMAC-SHA512 signatures, `Authorization` parsing |
//! | [`acl`] | whether a user may read, write, delete or administer a bucket (401/403) |
//! | [`range`] | RFC 9110 conditionals (304/412), `Range` (206/416, multipart framing), ETags |
//! | [`content_type`] | `Content-Type` from the key's extension, overridable by config |
//! | [`selection`] | which bucket takes an upload without a bucket, from live backend state |
//! | [`error`] | every error reply: status and `{"error": ..., "status": N}` body |
//!
//! The HTTP layer:
//!
//! | module | what it does |
//! |---|---|
//! | [`config`] | `proxy.toml`, validated with errors naming the field |
//! | [`buckets`] | bucket metadata in storage, and its cache (refresh, on-demand, negative) |
//! | [`key_index`] | each bucket's key index handle (shared batching and caches) and its cached object count |
//! | [`token_aliases`] | previous tokens of a rotation, loaded with the metadata, checked for expiry per request |
//! | [`state`] | what handlers share |
//! | [`app`] | the router ([`app::app`]), mounted from the [`endpoint`] table |
//! | [`request`] | the URI of a request parsed once: endpoint, decoded path, query, trace id |
//! | [`handlers`] | one module per API feature, and the [`Authorized`](handlers::authorized::Authorized) extractor |
//! | [`query_flags`] | `?cflags=` and `?ioflags=`, limited to flags that cannot break the exchange |
//! | [`access_log`] | trace ids, access log, concurrency limit, extra headers |
//! | [`reply`] | JSON replies: errors and per-group results |
//! | [`proxy_stat`] | per-handler counts, rates, latency and recent errors for `/proxy_stat` |
//! | [`idle`] | activity-based idle timeout of client connections |
//! | [`server`] | TCP serving, HTTP/1.1 + h2c, timeouts, graceful shutdown |
//! | [`static_files`] | files under the static root for unclaimed GETs, no way out of it |
//! | [`metrics`] | Prometheus metrics and their text rendering for `/metrics` |
//! | [`tls`] | the HTTPS certificate pair, reloaded when its files change or on SIGHUP |
//! | [`placement`] | reports own write timings to the operator's placement hub, fetches the merged view |
//! | [`cluster_view`] | polled node statistics and own write timings: read order of groups, upload candidates |
//! | `ticker` | the clock of those background loops: a tick every period until told to stop |
//!
//! Bucket metadata itself (the msgpack object, ACL entries and flags) lives in
//! [`backrunner_store`], shared with the operator and the CLI.

pub mod access_log;
pub mod acl;
pub mod app;
pub mod buckets;
pub mod cluster_view;
pub mod config;
pub mod content_type;
pub mod endpoint;
pub mod error;
pub mod handlers;
pub mod idle;
pub mod key_index;
pub mod metrics;
pub mod placement;
pub mod proxy_stat;
pub mod query;
pub mod query_flags;
pub mod range;
pub mod reply;
pub mod request;
pub mod selection;
pub mod server;
pub mod signature;
pub mod state;
pub mod static_files;
mod ticker;
pub mod tls;
pub mod token_aliases;

pub use app::app;
pub use config::ProxyConfig;
pub use error::ApiError;
pub use server::{ServeOptions, serve};
pub use state::AppState;
