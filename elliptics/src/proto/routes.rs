//! Route announcements: `dnet_id_container` with its `dnet_backend_ids` records (sent in
//! REVERSE_LOOKUP replies, JOIN and UPDATE_IDS), and the node announcement that pairs it
//! with the node's addresses.
//!
//! ```text
//! dnet_id_container (4 bytes)      backends_count i32
//! dnet_backend_ids (16 + 64n)      backend_id i32, group_id i32, flags u32, ids_count u32,
//!                                  ids[ids_count][64]
//! node announcement                dnet_addr_container + dnet_id_container
//! ```
//! The records must fill the payload exactly (receivers answer -EINVAL otherwise).

use bytes::BufMut;

use super::addr::AddrContainer;
use super::codec::{Codec, DecodeError, Reader, decode_list, encode_list};
use super::id::{ID_SIZE, Id};

/// `dnet_backend_ids.flags` value that removes a backend from route tables.
pub const BACKEND_DISABLE: u32 = 1;

/// The ring ids one backend owns in one group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackendIds {
    /// Backend id on its node.
    pub backend_id: i32,
    /// Group the backend serves.
    pub group_id: u32,
    /// 0 = add/enable, [`BACKEND_DISABLE`] = remove.
    pub flags: u32,
    /// Ring positions.
    pub ids: Vec<Id>,
}

impl Codec for BackendIds {
    fn encode(&self, out: &mut impl BufMut) {
        out.put_i32_le(self.backend_id);
        out.put_u32_le(self.group_id);
        out.put_u32_le(self.flags);
        out.put_u32_le(self.ids.len() as u32);
        encode_list(&self.ids, out);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let backend_id = r.i32("backend_ids.backend_id")?;
        let group_id = r.u32("backend_ids.group_id")?;
        let flags = r.u32("backend_ids.flags")?;
        let count = r.u32("backend_ids.ids_count")?;
        let ids = decode_list::<Id>(r, count.into(), ID_SIZE, "backend_ids.ids_count")?;
        Ok(BackendIds {
            backend_id,
            group_id,
            flags,
            ids,
        })
    }
}

/// `dnet_id_container`: backends and their ids.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdContainer {
    /// One record per backend.
    pub backends: Vec<BackendIds>,
}

impl Codec for IdContainer {
    fn encode(&self, out: &mut impl BufMut) {
        out.put_i32_le(self.backends.len() as i32);
        encode_list(&self.backends, out);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = r.i32("id_container.backends_count")?;
        if count < 0 {
            return Err(DecodeError::Invalid("id_container.backends_count"));
        }
        let backends =
            decode_list::<BackendIds>(r, count as u64, 16, "id_container.backends_count")?;
        Ok(IdContainer { backends })
    }
}

/// What a node says about itself: its addresses and its backends' ids. The payload of a
/// REVERSE_LOOKUP reply and of JOIN.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeAnnouncement {
    /// The node's listening addresses.
    pub addrs: AddrContainer,
    /// Enabled backends and their ring ids.
    pub ids: IdContainer,
}

impl Codec for NodeAnnouncement {
    fn encode(&self, out: &mut impl BufMut) {
        self.addrs.encode(out);
        self.ids.encode(out);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(NodeAnnouncement {
            addrs: AddrContainer::decode(r)?,
            ids: IdContainer::decode(r)?,
        })
    }
}
