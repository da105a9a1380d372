//! Removing what an upload stored in the parts namespace (its parts and its upload
//! record), and deleting objects (a tombstone over the key, the parts a little later).
//!
//! [`PartsCleanup`] is armed while an upload writes parts; if the upload fails, loses to a
//! newer version everywhere, or its future is dropped (the client went away mid-body), the
//! guard's `Drop` removes the parts in a background task, so the removal happens even when
//! nobody is left to await it. [`remove_upload`] is the same removal, awaited, for a sweep
//! or a delete that knows the upload.

use elliptics::Session;
use futures_util::StreamExt;

use super::upload_id::UploadId;

/// How many removals run at once (a sweep's search for parts tolerates this many holes).
pub(crate) const CONCURRENCY: usize = 8;

/// Removes parts `0..parts` of `upload`, then its upload record, from every group of
/// `parts_session` (a session in the parts namespace). Missing records are not an error.
/// Returns how many removals failed for another reason.
pub async fn remove_upload(parts_session: &Session, upload: UploadId, parts: u32) -> usize {
    // From the last part down: a removal cut short leaves a prefix a sweep can find.
    let keys: Vec<Vec<u8>> = (0..parts).rev().map(|n| upload.part_key(n)).collect();
    let mut failed = 0;
    let mut removals = futures_util::stream::iter(keys)
        .map(|k| async move { parts_session.remove(&k).await })
        .buffer_unordered(CONCURRENCY);
    while let Some(result) = removals.next().await {
        failed += usize::from(gone(result).is_err());
    }
    if failed == 0 {
        // The record goes last: while it exists, a sweep can still find the parts.
        failed += usize::from(gone(parts_session.remove(&upload.record_key()).await).is_err());
    }
    failed
}

/// Whether a removal left nothing behind (removed, or not there in the first place).
fn gone(
    result: Result<Vec<elliptics::client::GroupResult<()>>, elliptics::Error>,
) -> Result<(), elliptics::Error> {
    match result {
        Ok(groups) => groups
            .into_iter()
            .map(|g| g.result)
            .find(|r| matches!(r, Err(e) if !e.is_not_found()))
            .unwrap_or(Ok(())),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes an upload's parts when dropped, unless disarmed.
pub(crate) struct PartsCleanup {
    session: Session,
    upload: UploadId,
    /// Parts that may exist (written, or being written).
    pub(crate) parts: u32,
    armed: bool,
}

impl PartsCleanup {
    pub(crate) fn new(session: Session, upload: UploadId) -> PartsCleanup {
        PartsCleanup {
            session,
            upload,
            parts: 0,
            armed: true,
        }
    }

    /// The upload was published: its parts are live.
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for PartsCleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(upload = %self.upload, "no runtime to remove an abandoned upload's parts; a sweep will");
            return;
        };
        let (session, upload, parts) = (self.session.clone(), self.upload, self.parts);
        runtime.spawn(async move {
            let failed = remove_upload(&session, upload, parts).await;
            match failed {
                0 => tracing::debug!(%upload, parts, "removed an unpublished upload"),
                n => tracing::warn!(%upload, parts, failed = n, "could not remove all of an unpublished upload; a sweep will"),
            }
        });
    }
}

/// How long the parts of a replaced or deleted object stay readable: a reader that opened
/// the old version (it holds the manifest) has this long to finish.
pub const REPLACED_PARTS_GRACE: std::time::Duration = std::time::Duration::from_secs(300);

/// Removes `manifest`'s parts after [`REPLACED_PARTS_GRACE`], in the background: the object
/// that named them was replaced or deleted in every group. If the process stops first, a
/// sweep removes them (no manifest names their upload).
pub fn remove_replaced(object_session: &Session, manifest: &super::Manifest) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let session = object_session
        .clone()
        .namespace(super::parts_namespace(&object_session.options().namespace))
        .timestamp(None);
    let (upload, parts) = (manifest.upload, manifest.parts.len() as u32);
    runtime.spawn(async move {
        tokio::time::sleep(REPLACED_PARTS_GRACE).await;
        let failed = remove_upload(&session, upload, parts).await;
        match failed {
            0 => tracing::debug!(%upload, parts, "removed the parts of a replaced object"),
            n => tracing::warn!(%upload, parts, failed = n, "could not remove all parts of a replaced object; a sweep will"),
        }
    });
}

/// Deletes the object `key` in every group of `session` (whatever its layout) by writing
/// a tombstone stamped `stamp` (from [`new_stamp`](super::new_stamp)) over it, so that recovery between groups carries the delete instead
/// of bringing an older copy back. `Err(NotFound)` when no group has the object. When it
/// was stored in parts and every group now holds the tombstone (or something newer), the
/// parts follow after [`REPLACED_PARTS_GRACE`]. Fails when every group failed.
pub async fn remove_object(
    session: &Session,
    key: &[u8],
    stamp: elliptics::proto::DnetTime,
) -> Result<Vec<elliptics::client::GroupResult<()>>, elliptics::Error> {
    let previous = match super::head(session, key).await {
        Ok(head) => head.manifest,
        Err(e) if e.is_not_found() => return Err(elliptics::Error::NotFound),
        // Unreadable (e.g. mid-overwrite): delete anyway; the parts are left to a sweep.
        Err(_) => None,
    };
    let written = super::write::write_tombstone(session, key, stamp).await?;
    let everywhere = written.results.iter().all(|r| r.is_ok())
        && written.results.len() + written.superseded.len() == session.options().groups.len();
    if let Some(manifest) = previous.filter(|_| everywhere) {
        remove_replaced(session, &manifest);
    }
    let superseded = written
        .superseded
        .iter()
        .map(|g| elliptics::client::GroupResult {
            group: *g,
            addr: None,
            backend_id: -1,
            elapsed: std::time::Duration::ZERO,
            result: Ok(()),
        });
    let mut results: Vec<_> = written
        .results
        .into_iter()
        .map(|r| r.map(|_| ()))
        .chain(superseded)
        .collect();
    let order = &session.options().groups;
    results.sort_by_key(|r| order.iter().position(|g| *g == r.group));
    Ok(results)
}
