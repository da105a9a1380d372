//! Defragmentation Jobs: the `batch/v1` Job of one run (owned by its `EllipticsCluster`,
//! labelled with cluster, node and backend so a running one is recognised), and the
//! reading of Jobs back into status [`DefragRun`]s.
//!
//! The Job runs `backrunner defrag --remote <node> --backend <id> --wait` (`command:
//! ["backrunner"]`, the rest in `args`): it starts defragmentation over the Elliptics
//! protocol and waits until the node reports it finished.

use std::collections::BTreeMap;

use backrunner_crds::EllipticsCluster;
use backrunner_crds::cluster::{DefragResult, DefragRun};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements,
    SeccompProfile, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::chrono::{DateTime, Utc};
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};

use super::Candidate;

/// Label: the `EllipticsCluster` name.
pub const LABEL_CLUSTER: &str = "backrunner.io/cluster";
/// Label: the node, as a label value (`10.0.0.5-1025-2`).
pub const LABEL_NODE: &str = "backrunner.io/node";
/// Label: the backend id.
pub const LABEL_BACKEND: &str = "backrunner.io/backend";
/// Label: `app.kubernetes.io/component=defrag` marks every defrag Job.
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
/// Label: `app.kubernetes.io/managed-by=backrunner-operator`.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Annotation: the node exactly as `--remote` takes it.
pub const ANNOTATION_REMOTE: &str = "backrunner.io/remote";
/// Annotation: the group of the backend.
pub const ANNOTATION_GROUP: &str = "backrunner.io/group";
/// Value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY: &str = "backrunner-operator";
/// Finished runs kept in status (running ones are always listed).
pub const MAX_FINISHED_RUNS: usize = 10;
/// A Job (and its pods) is failed by Kubernetes past this many seconds (the command's
/// own timeout is 6 h).
pub const ACTIVE_DEADLINE_SECONDS: i64 = 6 * 3600 + 600;

/// The label selector of every defrag Job of the cluster named `cluster`.
pub fn selector(cluster: &str) -> String {
    format!(
        "{LABEL_COMPONENT}=defrag,{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_CLUSTER}={}",
        label_value(cluster)
    )
}

/// A string as a label value: alphanumerics, `-`, `_`, `.`; at most 63 characters
/// (longer ones are cut and suffixed with a hash); starts and ends alphanumeric.
pub fn label_value(s: &str) -> String {
    let mut v: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if v.len() > 63 {
        let h = hex::encode(&Sha256::digest(s.as_bytes())[..4]);
        v.truncate(54);
        v = format!("{v}-{h}");
    }
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// The name of the Job of a run started at `now` (unique per second, at most 63 chars).
pub fn job_name(cluster: &str, c: &Candidate, now: DateTime<Utc>) -> String {
    let mut prefix: String = cluster.chars().take(20).collect();
    while prefix.ends_with(['-', '.']) {
        prefix.pop();
    }
    let node = hex::encode(&Sha256::digest(c.node.as_bytes())[..4]);
    format!("{prefix}-defrag-{node}-b{}-{}", c.backend, now.timestamp()).to_lowercase()
}

/// The Job of one run: owned by `cluster` (controller reference), labelled and annotated.
pub fn build_job(
    cluster: &EllipticsCluster,
    c: &Candidate,
    image: &str,
    now: DateTime<Utc>,
) -> Job {
    let name = cluster.name_any();
    let mut labels = BTreeMap::new();
    labels.insert(LABEL_COMPONENT.to_string(), "defrag".to_string());
    labels.insert(LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string());
    labels.insert(LABEL_CLUSTER.to_string(), label_value(&name));
    labels.insert(LABEL_NODE.to_string(), label_value(&c.node));
    labels.insert(LABEL_BACKEND.to_string(), c.backend.to_string());
    let mut annotations = BTreeMap::new();
    annotations.insert(ANNOTATION_REMOTE.to_string(), c.node.clone());
    annotations.insert(ANNOTATION_GROUP.to_string(), c.group.to_string());
    let q = |s: &str| Quantity(s.to_string());
    let container = Container {
        name: "defrag".into(),
        image: Some(image.to_string()),
        command: Some(vec!["backrunner".into()]),
        args: Some(vec![
            "defrag".into(),
            "--remote".into(),
            c.node.clone(),
            "--backend".into(),
            c.backend.to_string(),
            "--wait".into(),
        ]),
        resources: Some(ResourceRequirements {
            requests: Some(
                [
                    ("cpu".to_string(), q("10m")),
                    ("memory".to_string(), q("16Mi")),
                ]
                .into(),
            ),
            limits: Some([("memory".to_string(), q("64Mi"))].into()),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    };
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(&name, c, now)),
            namespace: cluster.namespace(),
            labels: Some(labels.clone()),
            annotations: Some(annotations),
            owner_references: cluster.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(1),
            active_deadline_seconds: Some(ACTIVE_DEADLINE_SECONDS),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    automount_service_account_token: Some(false),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(65532),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![container],
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

/// The run a defrag Job stands for (`None` for a Job without the labels).
pub fn run_of(job: &Job) -> Option<DefragRun> {
    let backend: u32 = job.labels().get(LABEL_BACKEND)?.parse().ok()?;
    let remote = job.annotations().get(ANNOTATION_REMOTE)?.clone();
    let group = job
        .annotations()
        .get(ANNOTATION_GROUP)
        .and_then(|g| g.parse().ok())
        .unwrap_or(0);
    let status = job.status.clone().unwrap_or_default();
    let condition = |t: &str| {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == t && c.status == "True")
    };
    let (result, completion_time) = if let Some(c) = condition("Complete") {
        (
            DefragResult::Succeeded,
            status
                .completion_time
                .clone()
                .or(c.last_transition_time.clone()),
        )
    } else if status.succeeded.unwrap_or(0) > 0 {
        (DefragResult::Succeeded, status.completion_time.clone())
    } else if let Some(c) = condition("Failed") {
        (DefragResult::Failed, c.last_transition_time.clone())
    } else {
        (DefragResult::Running, None)
    };
    Some(DefragRun {
        remote,
        backend,
        group,
        job_name: job.name_any(),
        start_time: status
            .start_time
            .clone()
            .or_else(|| job.metadata.creation_timestamp.clone()),
        completion_time,
        result,
    })
}

/// Status list of runs: every running one, then the newest finished ones (bounded).
pub fn runs_for_status(mut runs: Vec<DefragRun>) -> Vec<DefragRun> {
    let start = |r: &DefragRun| r.start_time.as_ref().map(|t| t.0);
    runs.sort_by(|a, b| {
        let running = |r: &DefragRun| r.result != DefragResult::Running;
        running(a)
            .cmp(&running(b))
            .then_with(|| start(b).cmp(&start(a)))
            .then_with(|| a.job_name.cmp(&b.job_name))
    });
    let mut finished = 0;
    runs.retain(|r| {
        if r.result == DefragResult::Running {
            return true;
        }
        finished += 1;
        finished <= MAX_FINISHED_RUNS
    });
    runs
}

/// When a finished run ended (for the cool-down), if it did.
pub fn finished_at(run: &DefragRun) -> Option<DateTime<Utc>> {
    (run.result != DefragResult::Running)
        .then(|| run.completion_time.as_ref().map(|t: &Time| t.0))
        .flatten()
}
