//! What Backrunner stores in Elliptics besides user data: its own formats and the one store
//! that reads and writes them.
//!
//! - [`bucket`]: bucket metadata, the msgpack object an original Backrunner reads (DESIGN
//!   contract 2), with its ACL flags and the bucket-name rule;
//! - [`bucket_list`]: the bucket list object (names, one per line);
//! - [`token_aliases`]: previous ACL tokens a rotation keeps valid for a while;
//! - [`ownership`]: who manages a bucket (a Kubernetes resource, or nobody);
//! - [`directory`]: bucket directories (RIFT): named sets of buckets with an ACL of their
//!   own, and the record naming each member bucket's directory;
//! - [`object`]: how an object's bytes are laid out (one record, or parts and a manifest)
//!   so readers always see one whole upload;
//! - [`index`]: the bucket key index (journals, segments, shard states, root) and
//!   [`index::BucketIndex`], which lists, compacts and counts;
//! - [`recovery_progress`]: how far a `backrunner recover` run got, for the operator;
//! - [`metadata_store`]: [`MetadataStore`], the one type that reads and writes all of the
//!   above in the metadata groups, with one write rule.
//!
//! `elliptics` below it knows only the protocol and the client; the proxy, the operator and
//! the `backrunner` CLI above it never encode these objects themselves.

pub mod bucket;
pub mod bucket_list;
pub mod directory;
pub mod index;
pub mod metadata_store;
pub mod object;
pub mod ownership;
pub mod recovery_progress;
pub mod token_aliases;

pub use bucket::{AclEntry, AclFlags, BucketMetaError, BucketMetadata, valid_bucket_name};
pub use bucket_list::BucketList;
pub use directory::{BucketDirectory, DirectoryMembership, valid_directory_name};
pub use metadata_store::{BucketRecord, GroupCopy, MetadataError, MetadataStore, WriteReport};
pub use ownership::OwnerRecord;
pub use token_aliases::TokenAliases;
