//! The client's route table: per replica group, a ring of 64-byte ids, each owned by one
//! backend of one node (§5.2). Filled from REVERSE_LOOKUP replies and UPDATE_IDS pushes.

use std::collections::{BTreeMap, BTreeSet};

use crate::proto::{BACKEND_DISABLE, Id, IdContainer, NodeAddr};

/// Where a ring id points: the node (as the client is connected to it) and the backend.
pub type RouteOwner = (NodeAddr, i32);

/// Ring ids per group. Cheap to query; the client keeps it behind an `Arc` and replaces
/// it copy-on-write, so snapshots never change under the reader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    groups: BTreeMap<u32, BTreeMap<Id, RouteOwner>>,
}

/// One backend as the route table sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteBackend {
    /// Group it serves.
    pub group: u32,
    /// Node address.
    pub addr: NodeAddr,
    /// Backend id on that node.
    pub backend_id: i32,
    /// Its ring ids, ascending.
    pub ids: Vec<Id>,
}

impl RouteTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The owner of `id` in `group`: the backend with the greatest ring id ≤ `id`, or,
    /// when `id` is below every ring id, the backend with the greatest ring id (the ring
    /// wraps). `None` when the group has no ids.
    pub fn owner(&self, id: &Id, group: u32) -> Option<RouteOwner> {
        let ring = self.groups.get(&group)?;
        ring.range(..=*id)
            .next_back()
            .or_else(|| ring.iter().next_back())
            .map(|(_, owner)| *owner)
    }

    /// Applies an id announcement of the node at `addr` (REVERSE_LOOKUP reply or
    /// UPDATE_IDS): for every backend listed, its previous ids (in any group) are removed
    /// and, unless the record carries [`BACKEND_DISABLE`], the new ids are inserted into
    /// its group. An id already owned by another backend is taken over (logged).
    pub fn apply(&mut self, addr: NodeAddr, ids: &IdContainer) {
        for b in &ids.backends {
            self.remove_backend(addr, b.backend_id);
            if b.flags & BACKEND_DISABLE != 0 {
                tracing::debug!(%addr, backend = b.backend_id, "backend disabled: routes removed");
                continue;
            }
            let ring = self.groups.entry(b.group_id).or_default();
            for id in &b.ids {
                if let Some(prev) = ring.insert(*id, (addr, b.backend_id)) {
                    if prev != (addr, b.backend_id) {
                        tracing::warn!(
                            group = b.group_id, ring_id = ?id, new = %addr, backend = b.backend_id,
                            old = %prev.0, old_backend = prev.1, "duplicate ring id: taken over"
                        );
                    }
                }
            }
        }
    }

    fn remove_backend(&mut self, addr: NodeAddr, backend_id: i32) {
        for ring in self.groups.values_mut() {
            ring.retain(|_, owner| *owner != (addr, backend_id));
        }
        self.groups.retain(|_, ring| !ring.is_empty());
    }

    /// Removes every id of the node at `addr` (its connection is gone).
    pub fn remove_node(&mut self, addr: &NodeAddr) {
        for ring in self.groups.values_mut() {
            ring.retain(|_, owner| owner.0 != *addr);
        }
        self.groups.retain(|_, ring| !ring.is_empty());
    }

    /// Groups that have at least one ring id, ascending.
    pub fn groups(&self) -> Vec<u32> {
        self.groups.keys().copied().collect()
    }

    /// Nodes that own at least one ring id, ascending.
    pub fn nodes(&self) -> Vec<NodeAddr> {
        let set: BTreeSet<NodeAddr> = self
            .groups
            .values()
            .flat_map(|ring| ring.values().map(|o| o.0))
            .collect();
        set.into_iter().collect()
    }

    /// The ring of `group`: `(ring id, owner)` in ascending id order.
    pub fn ring(&self, group: u32) -> Vec<(Id, RouteOwner)> {
        self.groups
            .get(&group)
            .map(|r| r.iter().map(|(id, o)| (*id, *o)).collect())
            .unwrap_or_default()
    }

    /// Every (group, node, backend) with its ring ids, for statistics (ring share).
    pub fn backends(&self) -> Vec<RouteBackend> {
        let mut out: BTreeMap<(u32, NodeAddr, i32), Vec<Id>> = BTreeMap::new();
        for (group, ring) in &self.groups {
            for (id, (addr, backend)) in ring {
                out.entry((*group, *addr, *backend)).or_default().push(*id);
            }
        }
        out.into_iter()
            .map(|((group, addr, backend_id), ids)| RouteBackend {
                group,
                addr,
                backend_id,
                ids,
            })
            .collect()
    }

    /// True when no group has any id.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::BackendIds;

    fn id(hex: &str) -> Id {
        Id::from_hex(hex).unwrap()
    }

    fn addr(port: u16) -> NodeAddr {
        NodeAddr::parse(&format!("127.0.0.1:{port}:2")).unwrap()
    }

    fn backend(backend_id: i32, group_id: u32, ids: Vec<Id>) -> BackendIds {
        BackendIds {
            backend_id,
            group_id,
            flags: 0,
            ids,
        }
    }

    /// The cluster of the captures (vectors README).
    fn capture_table() -> RouteTable {
        let s1b1 = id(
            "6c1fd61bb1f16f0dc6a26e4a3e5369fb39c6393835843907f6e7801bb275b2a90bc93282988c01fb60c288d3fa023e206c6e63f3f1a78e6978eea8eb03bba385",
        );
        let s1b2 = id(
            "4046faff3eeadcc35b1327a760f4a3b85f11a29d673df2c28cb9bda9aaab5f9ec17d2b597645a631aedc29c54b4382ab3c550617212ea635935875399d1dcec9",
        );
        let s2b1 = id(
            "3bcba23cff47185668c548d4f94c099007a1b3dcc1eeb4f7f00d67338dc4bdcda7abd095b1d776cf0f8464affc973065e2c7c409881f80bff840800e504c9e06",
        );
        let s3b1 = id(
            "ee7f7e5751e5e2b95213c4a27dff5a71a34ecf6f6785e248bbf43c83355ae3c7554d8f3f172e993278606ab28a37040eceed9f37a35904ef8a520e8a630d8eb4",
        );
        let mut t = RouteTable::new();
        t.apply(
            addr(1025),
            &IdContainer {
                backends: vec![backend(1, 1, vec![s1b1]), backend(2, 2, vec![s1b2])],
            },
        );
        t.apply(
            addr(1026),
            &IdContainer {
                backends: vec![backend(1, 1, vec![s2b1])],
            },
        );
        t.apply(
            addr(1027),
            &IdContainer {
                backends: vec![backend(1, 2, vec![s3b1])],
            },
        );
        t
    }

    #[test]
    fn capture_routing_fact() {
        let t = capture_table();
        let key = Id::from_key(b"", b"elliptics-vector-key-2");
        assert_eq!(key.0[0], 0x64);
        assert_eq!(t.owner(&key, 1), Some((addr(1026), 1)));
        assert_eq!(t.owner(&key, 2), Some((addr(1025), 2)));
        assert_eq!(t.owner(&key, 3), None);
        assert_eq!(t.groups(), vec![1, 2]);
        assert_eq!(t.nodes(), vec![addr(1025), addr(1026), addr(1027)]);
        assert_eq!(t.backends().len(), 4);
    }

    #[test]
    fn ring_rule_exact_below_and_wrap() {
        let t = capture_table();
        // Exact match of a ring id.
        let s3 = t.ring(2)[1].0;
        assert_eq!(t.owner(&s3, 2), Some((addr(1027), 1)));
        // Above every id: the greatest.
        assert_eq!(t.owner(&Id([0xff; 64]), 2), Some((addr(1027), 1)));
        // Below every id: wrap to the greatest.
        assert_eq!(t.owner(&Id::ZERO, 1), Some((addr(1025), 1)));
        assert_eq!(t.owner(&Id::ZERO, 2), Some((addr(1027), 1)));
    }

    #[test]
    fn update_replaces_and_disable_removes() {
        let mut t = capture_table();
        let key = Id::from_key(b"", b"elliptics-vector-key-2");
        // s3 moves its backend to a ring id just below the key.
        let mut new_id = key;
        new_id.0[1] = 0;
        t.apply(
            addr(1027),
            &IdContainer {
                backends: vec![backend(1, 2, vec![new_id])],
            },
        );
        assert_eq!(t.owner(&key, 2), Some((addr(1027), 1)));
        assert_eq!(t.ring(2).len(), 2, "old id of the backend removed");
        // Disable it: group 2 falls back to s1.
        t.apply(
            addr(1027),
            &IdContainer {
                backends: vec![BackendIds {
                    backend_id: 1,
                    group_id: 0,
                    flags: BACKEND_DISABLE,
                    ids: vec![],
                }],
            },
        );
        assert_eq!(t.owner(&key, 2), Some((addr(1025), 2)));
        assert_eq!(t.owner(&Id([0xff; 64]), 2), Some((addr(1025), 2)));
        t.remove_node(&addr(1025));
        assert_eq!(t.owner(&key, 2), None);
        assert_eq!(t.groups(), vec![1]);
        assert_eq!(t.owner(&key, 1), Some((addr(1026), 1)));
    }
}
