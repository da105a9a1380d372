//! The storage side: `backrunner node` processes (reusing the `tests` crate's launcher) for
//! data groups 1 and 2 and metadata group 3, and an Elliptics client to inspect them.

use std::path::Path;

use backrunner_tests::{BackendSpec, NodeProcess, node_config};
use elliptics::proto::NodeAddr;

/// Data groups every scenario bucket is placed in.
pub const DATA_GROUPS: [u32; 2] = [1, 2];
/// The metadata group (bucket metadata and the bucket list).
pub const METADATA_GROUP: u32 = 3;

/// Two storage nodes: node A serves group 1 (backend 1) and the metadata group 3
/// (backend 3), node B serves group 2 (backend 2).
pub struct Storage {
    /// The node processes (killed on drop).
    pub nodes: Vec<NodeProcess>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("remotes", &self.remotes())
            .finish()
    }
}

impl Storage {
    /// Starts both nodes with data under `dir` (node B learns node A as a peer).
    pub async fn start(dir: &Path) -> Storage {
        let a_cfg = node_config(
            &dir.join("node-a"),
            0,
            &[
                BackendSpec::new(1, DATA_GROUPS[0]),
                BackendSpec::new(3, METADATA_GROUP),
            ],
            &[],
            "never",
        );
        let a = NodeProcess::start(&dir.join("node-a"), &a_cfg).await;
        let b_cfg = node_config(
            &dir.join("node-b"),
            0,
            &[BackendSpec::new(2, DATA_GROUPS[1])],
            &[a.addr],
            "never",
        );
        let b = NodeProcess::start(&dir.join("node-b"), &b_cfg).await;
        Storage { nodes: vec![a, b] }
    }

    /// Node addresses as `ip:port:family`.
    pub fn remotes(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.to_string()).collect()
    }

    /// Node addresses.
    pub fn addrs(&self) -> Vec<NodeAddr> {
        self.nodes.iter().map(|n| n.addr).collect()
    }

    /// An Elliptics client connected to every node.
    pub async fn client(&self) -> elliptics::Client {
        backrunner_tests::connect(&self.addrs()).await
    }
}
