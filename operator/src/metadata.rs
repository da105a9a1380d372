//! The operator's side of Backrunner's records in the metadata groups: the store itself is
//! [`backrunner_store::MetadataStore`] (one write rule for proxy, operator and CLI; the
//! operator wants every group, [`WriteReport::check`]), and [`ownership`] holds the rule
//! deciding who may manage a bucket.

pub mod ownership;

pub use backrunner_store::{GroupCopy, MetadataError, MetadataStore, WriteReport};
pub use ownership::{OWNER_NAMESPACE, OwnerRecord};
