//! [`remove_logged`]: a delete as every writer of a bucket must make it once the bucket has
//! a key index — the intent logged under the delete's stamp, the tombstone written with
//! that stamp ([`crate::object::remove_object`]), the commit logged after (in the
//! background: a listing settles a missing commit by looking at the object).

use elliptics::Session;
use elliptics::client::GroupResult;

use super::bucket_index::{BucketIndex, IndexError};
use crate::object::{new_stamp, remove_object};

/// Why a logged delete failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    /// The intent could not be logged in any group: nothing was removed.
    #[error("key index: {0}")]
    Index(#[from] IndexError),
    /// Removing the object failed (`NotFound` when no group had it).
    #[error("storage: {0}")]
    Storage(#[from] elliptics::Error),
}

/// Removes `key` of `session`'s bucket, logged in `index` (see the module docs); without an
/// index (the proxy's `key_index = false`), only the tombstone is written. Per-group
/// results as [`remove_object`] gives them.
pub async fn remove_logged(
    index: Option<&BucketIndex>,
    session: &Session,
    key: &[u8],
) -> Result<Vec<GroupResult<()>>, RemoveError> {
    let stamp = new_stamp();
    if let Some(index) = index {
        index.intent_delete(key, stamp).await?;
    }
    let results = remove_object(session, key, stamp).await?;
    if let Some(index) = index {
        let (index, key) = (index.clone(), key.to_vec());
        let span = tracing::Span::current();
        tokio::spawn(async move {
            if let Err(e) = index.commit_delete(&key, stamp).await {
                let _entered = span.enter();
                tracing::info!(error = %e, "could not commit a delete in the key index; listings settle it from the object");
            }
        });
    }
    Ok(results)
}
