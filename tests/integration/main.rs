//! Integration tests over real sockets: storage nodes (as tasks and as processes) driven
//! through the `elliptics` client. One test binary, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on failed setup

mod bucket_admin;
mod cluster;
mod durability;
mod faults;
mod index;
mod integrity;
mod iterator;
mod listing;
mod listing_scale;
mod node_vectors;
mod operator_metadata;
mod operator_stats;
mod oracle;
mod proxy_acl;
mod proxy_api;
mod proxy_chunked;
mod proxy_dev;
mod proxy_extras;
mod proxy_faults;
mod proxy_large;
mod proxy_operator;
mod proxy_range;
mod proxy_selection;
mod proxy_support;
mod proxy_transport;
mod reconcile;
mod recovery;
mod s3_clients;
mod two_groups;
mod write_stamps;

use bytes::Bytes;
use elliptics::client::Session;
use futures_util::StreamExt;

/// Reads a whole object (or a range) through `session` into memory.
pub async fn read_all(
    session: &Session,
    key: &[u8],
    offset: u64,
    size: u64,
) -> Result<Vec<u8>, elliptics::Error> {
    let mut stream = session.read(key, offset, size).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// Deterministic pseudo-random bytes for key `seed`.
pub fn payload(seed: u64, len: usize) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    Bytes::from(v)
}
