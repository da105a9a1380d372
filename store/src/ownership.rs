//! The ownership record beside bucket metadata: who manages an Elliptics bucket.
//!
//! Stored as JSON in namespace [`OWNER_NAMESPACE`] under the bucket name, in the metadata
//! groups:
//!
//! ```json
//! {"version":1,"install_id":"prod","namespace":"team-a","name":"photos","uid":"…","released":false,"updated_at":1767225600}
//! ```
//!
//! The operator writes it *before* the metadata, so a crash in between never leaves
//! metadata that looks unmanaged; RIFT's management endpoints read it to refuse buckets a
//! Kubernetes resource owns. The rule deciding who may take a bucket over lives in the
//! operator.

use serde::{Deserialize, Serialize};

/// Elliptics namespace of the ownership records (one per bucket, keyed by bucket name).
pub const OWNER_NAMESPACE: &str = "backrunner.owner";

/// The only record version this code writes and reads.
pub const OWNER_RECORD_VERSION: u32 = 1;

/// Who manages an Elliptics bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRecord {
    /// [`OWNER_RECORD_VERSION`].
    pub version: u32,
    /// `install_id` of the operator installation.
    pub install_id: String,
    /// Namespace of the Bucket object.
    pub namespace: String,
    /// Name of the Bucket object.
    pub name: String,
    /// UID of the Bucket object.
    pub uid: String,
    /// The owner let go (Retain deletion): anyone may claim it.
    #[serde(default)]
    pub released: bool,
    /// Unix seconds of the last write.
    #[serde(default)]
    pub updated_at: u64,
}

impl OwnerRecord {
    /// A live record for the Bucket `namespace/name` with `uid` in install `install_id`.
    pub fn new(install_id: &str, namespace: &str, name: &str, uid: &str, now: u64) -> Self {
        OwnerRecord {
            version: OWNER_RECORD_VERSION,
            install_id: install_id.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid: uid.to_owned(),
            released: false,
            updated_at: now,
        }
    }

    /// The JSON bytes to store.
    pub fn encode(&self) -> Vec<u8> {
        // Strings, integers and a bool always serialise.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a stored record.
    pub fn decode(bytes: &[u8]) -> Result<OwnerRecord, String> {
        let record: OwnerRecord = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if record.version != OWNER_RECORD_VERSION {
            return Err(format!("unsupported version {}", record.version));
        }
        Ok(record)
    }

    /// The same record, released at `now`.
    pub fn released(&self, now: u64) -> OwnerRecord {
        OwnerRecord {
            released: true,
            updated_at: now,
            ..self.clone()
        }
    }

    /// Whether `self` names the same live owner as `me` (install, object and uid).
    pub fn is_same_owner(&self, me: &OwnerRecord) -> bool {
        !self.released
            && self.install_id == me.install_id
            && self.namespace == me.namespace
            && self.name == me.name
            && self.uid == me.uid
    }

    /// `install/namespace/name` for messages.
    pub fn describe(&self) -> String {
        format!("{}/{}/{}", self.install_id, self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_rejects_other_versions() {
        let r = OwnerRecord::new("prod", "team-a", "photos", "uid-1", 10);
        assert_eq!(OwnerRecord::decode(&r.encode()), Ok(r.clone()));
        let mut v2 = r;
        v2.version = 2;
        assert!(OwnerRecord::decode(&v2.encode()).is_err());
        assert!(OwnerRecord::decode(b"not json").is_err());
    }
}
