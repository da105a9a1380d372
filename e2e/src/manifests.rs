//! The example manifests (`examples/*.yaml`), read as JSON documents and patched for the
//! harness: remotes and metadata group of the local nodes, the data groups, the test
//! namespace. Applied with `kubectl apply`, like a user would.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::chart::workspace_root;
use crate::control_plane::ControlPlane;
use crate::error::{E2eError, Result, io};
use crate::storage::{DATA_GROUPS, METADATA_GROUP};

/// Bucket-list key used when the example cluster sets none (the proxies need one to see
/// deletions).
pub const DEFAULT_BUCKET_LIST_KEY: &str = "backrunner-bucket-list";

/// `examples/`.
pub fn examples_dir() -> PathBuf {
    workspace_root().join("examples")
}

/// Every document of every `examples/*.yaml`, in file-name order.
pub async fn load_examples() -> Result<Vec<Value>> {
    let dir = examples_dir();
    let mut entries = tokio::fs::read_dir(&dir)
        .await
        .map_err(io(format!("reading {}", dir.display())))?;
    let mut files = Vec::new();
    while let Ok(Some(e)) = entries.next_entry().await {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            files.push(p);
        }
    }
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        let text = tokio::fs::read_to_string(&f)
            .await
            .map_err(io(format!("reading {}", f.display())))?;
        for doc in yaml_serde::Deserializer::from_str(&text) {
            let v = Value::deserialize(doc)?;
            if v.is_object() {
                docs.push(v);
            }
        }
    }
    if docs.is_empty() {
        return Err(E2eError::Missing(format!(
            "no manifests in {}",
            dir.display()
        )));
    }
    Ok(docs)
}

/// `kind` of a document.
pub fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or("")
}

/// `metadata.name` of a document.
pub fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or("")
}

/// Patches the documents for the harness (see the module docs).
pub fn patch_for_harness(docs: &mut [Value], namespace: &str, remotes: &[String]) {
    for doc in docs.iter_mut() {
        doc["metadata"]["namespace"] = json!(namespace);
        match kind(doc) {
            "EllipticsCluster" => {
                let spec = &mut doc["spec"];
                spec["remotes"] = json!(remotes);
                spec["metadataGroups"] = json!([METADATA_GROUP]);
                if spec["bucketListKey"].as_str().is_none() {
                    spec["bucketListKey"] = json!(DEFAULT_BUCKET_LIST_KEY);
                }
            }
            "Bucket" => {
                let spec = &mut doc["spec"];
                spec["groups"] = json!(DATA_GROUPS);
                if let Some(r) = spec["clusterRef"].as_object_mut() {
                    r.remove("namespace");
                }
            }
            _ => {}
        }
    }
}

/// The documents of one kind.
pub fn of_kind<'d>(docs: &'d [Value], k: &str) -> Vec<&'d Value> {
    docs.iter().filter(|d| kind(d) == k).collect()
}

/// `kubectl apply -f` of `docs` (written as one `List` under the temp dir).
pub async fn apply(cp: &ControlPlane, docs: &[Value], file_name: &str) -> Result<String> {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": docs});
    let path = cp.dir().join(file_name);
    tokio::fs::write(&path, serde_json::to_vec_pretty(&list)?)
        .await
        .map_err(io(format!("writing {}", path.display())))?;
    cp.kubectl(&[
        "apply",
        "--validate=false",
        "-f",
        &path.display().to_string(),
    ])
    .await
}
