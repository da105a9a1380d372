//! Checks the generated CRDs: names, printer columns, status subresource, defaults and CEL rules.

#![allow(clippy::expect_used)] // test helpers outside #[test] fns

use backrunner_crds::{AclPolicy, Bucket, CustomResourceDefinition, EllipticsCluster};
use kube::CustomResourceExt;
use serde_json::Value;

/// The v1alpha1 version entry of a CRD as JSON.
fn version(crd: &CustomResourceDefinition) -> Value {
    let json = serde_json::to_value(crd).expect("CRD serializes");
    assert_eq!(json["spec"]["versions"].as_array().map(Vec::len), Some(1));
    json["spec"]["versions"][0].clone()
}

/// The openAPIV3Schema of a CRD.
fn schema(crd: &CustomResourceDefinition) -> Value {
    version(crd)["schema"]["openAPIV3Schema"].clone()
}

/// `(rule, message)` pairs of the `x-kubernetes-validations` at `node`.
fn rules(node: &Value) -> Vec<(String, String)> {
    node["x-kubernetes-validations"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
                    (s("rule"), s("message"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn has_rule(node: &Value, rule: &str) -> bool {
    rules(node).iter().any(|(r, m)| r == rule && !m.is_empty())
}

fn column_names(crd: &CustomResourceDefinition) -> Vec<String> {
    version(crd)["additionalPrinterColumns"]
        .as_array()
        .expect("printer columns")
        .iter()
        .map(|c| c["name"].as_str().expect("column name").to_owned())
        .collect()
}

#[test]
fn names_group_and_subresources() {
    for (crd, plural, kind, short) in [
        (
            EllipticsCluster::crd(),
            "ellipticsclusters",
            "EllipticsCluster",
            "ec",
        ),
        (Bucket::crd(), "buckets", "Bucket", "bkt"),
        (AclPolicy::crd(), "aclpolicies", "AclPolicy", "aclp"),
    ] {
        let json = serde_json::to_value(&crd).expect("CRD serializes");
        assert_eq!(json["metadata"]["name"], format!("{plural}.backrunner.io"));
        assert_eq!(json["spec"]["group"], backrunner_crds::GROUP);
        assert_eq!(json["spec"]["scope"], "Namespaced");
        assert_eq!(json["spec"]["names"]["kind"], kind);
        assert_eq!(json["spec"]["names"]["plural"], plural);
        assert_eq!(
            json["spec"]["names"]["shortNames"],
            serde_json::json!([short])
        );
        assert_eq!(
            json["spec"]["names"]["categories"],
            serde_json::json!([backrunner_crds::CATEGORY])
        );
        let v = version(&crd);
        assert_eq!(v["name"], backrunner_crds::VERSION);
        assert_eq!(v["served"], true);
        assert_eq!(v["storage"], true);
        assert_eq!(v["subresources"]["status"], serde_json::json!({}));
        let cols = column_names(&crd);
        assert_eq!(
            cols.first().map(String::as_str),
            Some("Ready"),
            "{kind}: {cols:?}"
        );
        assert_eq!(
            cols.last().map(String::as_str),
            Some("Age"),
            "{kind}: {cols:?}"
        );
        // Conditions merge by type under server-side apply.
        let conditions = &schema(&crd)["properties"]["status"]["properties"]["conditions"];
        assert_eq!(conditions["x-kubernetes-list-type"], "map", "{kind}");
        assert_eq!(
            conditions["x-kubernetes-list-map-keys"],
            serde_json::json!(["type"]),
            "{kind}"
        );
    }
}

#[test]
fn printer_columns() {
    assert_eq!(
        column_names(&EllipticsCluster::crd()),
        [
            "Ready",
            "Reachable",
            "Metadata",
            "Proxies",
            "Protocol",
            "Age"
        ]
    );
    assert_eq!(
        column_names(&Bucket::crd()),
        [
            "Ready", "Bucket", "Cluster", "Groups", "Synced", "Replicas", "Reclaim", "Age"
        ]
    );
    assert_eq!(column_names(&AclPolicy::crd()), ["Ready", "Buckets", "Age"]);
    let ready = &version(&Bucket::crd())["additionalPrinterColumns"][0];
    assert_eq!(
        ready["jsonPath"],
        r#".status.conditions[?(@.type=="Ready")].status"#
    );
}

#[test]
fn bucket_cel_rules() {
    let root = schema(&Bucket::crd());
    let spec = &root["properties"]["spec"];
    assert!(has_rule(
        &spec["properties"]["bucketName"],
        "self == oldSelf"
    ));
    assert!(has_rule(
        &spec["properties"]["groups"],
        "oldSelf.all(g, g in self)"
    ));
    assert!(has_rule(
        spec,
        "has(self.bucketName) == has(oldSelf.bucketName)"
    ));
    assert!(has_rule(
        spec,
        "!has(self.purgeData) || self.reclaimPolicy == 'Delete'"
    ));
    assert!(
        rules(&root)
            .iter()
            .any(|(r, _)| r.contains("self.spec.purgeData.confirm")
                && r.contains("self.metadata.name")),
        "root rule on purgeData.confirm: {:?}",
        rules(&root)
    );
    // The whole-object rule reports its error at the field it is about, not at `<nil>`.
    let confirm = root["x-kubernetes-validations"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|r| r["rule"].as_str().is_some_and(|r| r.contains("confirm")))
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(confirm["fieldPath"], ".spec.purgeData.confirm");
}

/// Every `format` under `node`, with its JSON path.
fn formats(node: &Value, path: &str, out: &mut Vec<(String, String, Value)>) {
    match node {
        Value::Object(m) => {
            if let Some(f) = m.get("format").and_then(Value::as_str) {
                out.push((path.to_owned(), f.to_owned(), node.clone()));
            }
            for (k, v) in m {
                formats(v, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                formats(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn schemas_carry_only_formats_kubernetes_knows() {
    for file in backrunner_crds::crds() {
        let mut found = Vec::new();
        formats(&schema(&file.crd), "", &mut found);
        for (path, f, node) in &found {
            assert!(
                backrunner_crds::schema::KNOWN_FORMATS.contains(&f.as_str()),
                "{}: {path} has format {f:?}",
                file.file_name
            );
            if let Some(max) = node["maximum"]
                .as_f64()
                .filter(|_| node["type"] == "integer")
            {
                assert!(
                    max < 9.2e18 && max.fract() == 0.0,
                    "{}: {path}: maximum {max} is no exact int64",
                    file.file_name
                );
            }
            if node["type"] == "integer" {
                assert!(
                    f == "int32" || f == "int64",
                    "{}: {path}: {f}",
                    file.file_name
                );
            }
        }
    }
    // Unsigned fields keep their bounds; every maximum is an exact int64.
    let bucket = schema(&Bucket::crd());
    let max_size = &bucket["properties"]["spec"]["properties"]["quota"]["properties"]["maxSize"];
    assert_eq!(max_size["format"], "int64");
    assert_eq!(max_size["minimum"].as_f64(), Some(0.0));
    // No float64 maximum near i64::MAX: 2^63 overflows in the apiserver's default check.
    assert_eq!(max_size["maximum"], Value::Null);
    let groups = &bucket["properties"]["spec"]["properties"]["groups"]["items"];
    assert_eq!(groups["format"], "int64");
    assert_eq!(groups["minimum"].as_f64(), Some(1.0));
    assert_eq!(groups["maximum"].as_f64(), Some(f64::from(u32::MAX)));
    let weight = &bucket["properties"]["spec"]["properties"]["autoSelect"]["properties"]["weight"];
    assert_eq!(
        weight["maximum"].as_f64(),
        Some(10000.0),
        "a tighter maximum stays"
    );
}

#[test]
fn bucket_schema_validation_and_defaults() {
    let spec = &schema(&Bucket::crd())["properties"]["spec"];
    let p = &spec["properties"];
    assert_eq!(
        spec["required"],
        serde_json::json!(["clusterRef", "groups"])
    );
    assert_eq!(p["groups"]["minItems"], 1);
    assert_eq!(p["groups"]["x-kubernetes-list-type"], "set");
    assert_eq!(
        p["bucketName"]["pattern"],
        backrunner_crds::bucket::BUCKET_NAME_PATTERN
    );
    assert_eq!(p["reclaimPolicy"]["default"], "Retain");
    assert_eq!(
        p["reclaimPolicy"]["enum"],
        serde_json::json!(["Retain", "Delete"])
    );
    assert_eq!(p["publicRead"]["default"], false);
    assert_eq!(
        p["quota"]["default"],
        serde_json::json!({"maxSize": 0, "maxObjects": 0})
    );
}

#[test]
fn cluster_schema_validation_and_defaults() {
    let spec = &schema(&EllipticsCluster::crd())["properties"]["spec"];
    let p = &spec["properties"];
    assert_eq!(
        p["remotes"]["items"]["pattern"],
        backrunner_crds::cluster::REMOTE_PATTERN
    );
    assert_eq!(p["remotes"]["minItems"], 1);
    assert_eq!(p["metadataGroups"]["minItems"], 1);
    assert_eq!(
        p["protocolVersion"]["enum"],
        serde_json::json!(["2.26", "3.0"])
    );
    assert_eq!(p["protocolVersion"]["default"], "2.26");
    let defrag = &p["defragPolicy"]["properties"];
    assert_eq!(defrag["maxPerNode"]["default"], 1);
    assert_eq!(defrag["maxBucketGroupFraction"]["maximum"], 0.5);
    assert_eq!(defrag["removedRatioThreshold"]["minimum"], 0.0);
    assert_eq!(defrag["removedRatioThreshold"]["maximum"], 1.0);
    assert_eq!(
        defrag["window"]["properties"]["start"]["pattern"],
        backrunner_crds::cluster::TIME_OF_DAY_PATTERN
    );
    assert!(has_rule(
        &p["placement"],
        "self.stalenessSeconds > self.reportIntervalSeconds"
    ));
    assert!(has_rule(
        &p["allowedNamespaces"],
        "self.from != 'Selector' || has(self.selector)"
    ));
}

#[test]
fn acl_policy_schema() {
    let users = &schema(&AclPolicy::crd())["properties"]["spec"]["properties"]["users"];
    assert_eq!(users["minItems"], 1);
    assert_eq!(users["x-kubernetes-list-type"], "map");
    assert_eq!(
        users["x-kubernetes-list-map-keys"],
        serde_json::json!(["name"])
    );
    let user = &users["items"]["properties"];
    assert_eq!(
        user["name"]["pattern"],
        backrunner_crds::acl_policy::USER_NAME_PATTERN
    );
    assert_eq!(
        user["rotation"]["properties"]["overlapSeconds"]["default"],
        3600
    );
    assert!(user["permissions"]["properties"]["noToken"].is_object());
    // Status never has a place for a token.
    let status_user =
        &schema(&AclPolicy::crd())["properties"]["status"]["properties"]["users"]["items"];
    let fields: Vec<&String> = status_user["properties"]
        .as_object()
        .expect("props")
        .keys()
        .collect();
    assert!(
        fields.iter().all(|f| !f.to_lowercase().contains("token")),
        "{fields:?}"
    );
}

#[test]
fn multi_document_output() {
    let all = backrunner_crds::render_all_yaml().expect("renders");
    assert_eq!(all.matches("\n---\n").count(), 2);
    assert_eq!(all.matches("kind: CustomResourceDefinition").count(), 3);
    for doc in all.split("\n---\n") {
        let crd: CustomResourceDefinition =
            yaml_serde::from_str(doc).expect("each document parses back");
        assert_eq!(crd.spec.group, "backrunner.io");
    }
}
