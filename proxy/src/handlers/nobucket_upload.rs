//! `POST|PUT /nobucket_upload/{key}`: the proxy picks the bucket. Candidates are the cached
//! buckets the request may write to (ACL) whose `max-size` admits the body; each is scored
//! from the polled statistics and live write timings of the backends owning the key
//! ([`selection`](crate::selection)), one is drawn at random by weight, and the upload
//! proceeds as `/upload` into it (a body without `Content-Length` too: every bucket is
//! a candidate, and the bucket's limits apply while it streams). No eligible bucket → 503.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::response::Response;
use elliptics::proto::Id;

use super::authorized::credentials;
use super::upload::{Declared, store};
use crate::acl::{self, Operation};
use crate::endpoint::Endpoint;
use crate::error::{ApiError, BadRequest};
use crate::request::RequestInfo;
use crate::selection;
use crate::state::AppState;
use crate::token_aliases::unix_now;

/// The handler.
pub async fn nobucket_upload(
    State(state): State<AppState>,
    req: Request,
) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let info = RequestInfo::of(&mut parts);
    let key = Endpoint::NobucketUpload
        .strip_prefix(info.decoded_path()?)
        .filter(|k| !k.is_empty())
        .ok_or(ApiError::BadRequest(BadRequest::MissingKey))?
        .to_vec();
    let declared = Declared::from_headers(&parts.headers)?;
    let size = declared.size;
    if size == Some(0) {
        return Err(ApiError::EmptyUpload);
    }

    let auth = credentials(&parts, &info);
    let canonical = info.canonical(&parts.method, &parts.headers)?;
    let all = state.buckets.snapshot();
    if all.is_empty() {
        return Err(ApiError::Unavailable("no buckets are configured".into()));
    }
    let mut refusal = None;
    let now_unix = unix_now();
    let writable: Vec<_> = all
        .into_iter()
        .filter(|b| {
            let aliases = state.buckets.live_aliases(&b.name, now_unix);
            match acl::authorize_with_tokens(b, Operation::Write, &auth, &canonical, &aliases) {
                Ok(_) => b.max_size == 0 || size.is_none_or(|s| s <= b.max_size),
                Err(e) => {
                    refusal.get_or_insert(e);
                    false
                }
            }
        })
        .collect();
    if writable.is_empty() {
        return Err(match refusal {
            Some(e) => e.into(),
            None => ApiError::PayloadTooLarge {
                limit: state
                    .buckets
                    .snapshot()
                    .iter()
                    .map(|b| b.max_size)
                    .max()
                    .unwrap_or(0),
            },
        });
    }

    let routes = state.client.route_table();
    let now = Instant::now();
    let candidates: Vec<_> = writable
        .iter()
        .map(|b| {
            let id = Id::from_key(b.name.as_bytes(), &key);
            state.cluster.candidate(&routes, b, &id, now)
        })
        .collect();
    // A body of unknown length is weighed as one write chunk.
    let expected = size.unwrap_or(state.config.write_chunk_size as u64);
    let weights = selection::weights(&candidates, expected, &state.selection);
    let Some(chosen) = selection::choose(&weights, &mut rand::thread_rng()) else {
        state.metrics.selection_none.inc();
        tracing::warn!(
            candidates = candidates.len(),
            "no bucket can take the upload"
        );
        return Err(ApiError::Unavailable(
            "no bucket can take the upload right now".into(),
        ));
    };
    state
        .metrics
        .selection_decisions
        .with_label_values(&[chosen.as_str()])
        .inc();
    let Some(bucket) = writable.iter().find(|b| b.name == chosen) else {
        return Err(ApiError::Internal);
    };
    store(&state, &info, body, bucket, &key, declared).await
}
