//! The AclPolicy status (fingerprints, rotation progress, bound Buckets, Ready/Synced), its
//! write (skipped when nothing changed) and the events of token transitions.

use backrunner_crds::acl_policy::{AclPolicy, AclPolicyStatus, reasons};
use backrunner_crds::condition::{ConditionStatus, ConditionUpdate, Time, set_condition, types};
use k8s_openapi::chrono::Utc;
use kube::api::Api;

use super::PolicyReconciler;
use super::rotation::{TokenBook, Transition, UserTokens};
use super::secrets::UserProblem;
use crate::controller::events::{self, reasons as event_reasons};
use crate::controller::status::apply_status;

/// Writes `next` (server-side apply) unless it equals `current`; whether it wrote.
pub async fn apply_policy_status(
    api: &Api<AclPolicy>,
    name: &str,
    current: Option<&AclPolicyStatus>,
    next: &AclPolicyStatus,
) -> Result<bool, kube::Error> {
    if current == Some(next) {
        return Ok(false);
    }
    apply_status::<AclPolicy, _>(api, name, next).await?;
    Ok(true)
}

/// Publishes the event (and counts the metric) of one token transition of `user`.
pub async fn publish_transition(
    r: &PolicyReconciler,
    policy: &AclPolicy,
    user: &str,
    t: Transition,
    state: Option<&UserTokens>,
) {
    let fp = state
        .map(|s| backrunner_crds::acl_policy::token_fingerprint(s.current.as_bytes()))
        .unwrap_or_default();
    let (reason, note) = match t {
        Transition::Created => (
            event_reasons::TOKEN_CREATED,
            format!("user {user}: token {fp} in effect"),
        ),
        Transition::Rotated => {
            let until = state
                .and_then(|s| s.previous.as_ref())
                .map(|p| p.expires_at);
            let note = match until {
                Some(u) => format!(
                    "user {user}: new token {fp}; the previous one works until unix time {u}"
                ),
                None => format!("user {user}: new token {fp}; no overlap"),
            };
            (event_reasons::TOKEN_ROTATED, note)
        }
        Transition::OverlapEnded => (
            event_reasons::ROTATION_COMPLETED,
            format!("user {user}: previous token no longer works"),
        ),
    };
    let kind = match t {
        Transition::Created => "created",
        Transition::Rotated => "rotated",
        Transition::OverlapEnded => "overlap_ended",
    };
    r.ctx.metrics.token_changes.with_label_values(&[kind]).inc();
    events::publish(&r.recorder, policy, false, reason, note).await;
}

/// The status for `book` with the users' `problems` and `bound` Buckets.
pub fn build_status(
    policy: &AclPolicy,
    book: &TokenBook,
    problems: &[(String, UserProblem)],
    bound: usize,
    now: u64,
) -> AclPolicyStatus {
    let mut status = policy.status.clone().unwrap_or_default();
    let generation = policy.metadata.generation;
    status.observed_generation = generation;
    status.bound_buckets = u32::try_from(bound).unwrap_or(u32::MAX);
    status.users = policy
        .spec
        .users
        .iter()
        .filter_map(|u| book.users.get(&u.name).map(|t| t.status(&u.name, now)))
        .collect();
    let rotating = status
        .users
        .iter()
        .any(|u| u.previous_fingerprint.is_some());
    let (cond_status, reason, message) = match problems.first() {
        Some((_, (reason, _))) => {
            let all: Vec<String> = problems
                .iter()
                .map(|(user, (_, m))| {
                    if user.is_empty() {
                        m.clone()
                    } else {
                        format!("{user}: {m}")
                    }
                })
                .collect();
            (ConditionStatus::False, *reason, all.join("; "))
        }
        None if rotating => (
            ConditionStatus::True,
            reasons::ROTATING,
            "previous tokens accepted until the overlap ends".to_owned(),
        ),
        None => (
            ConditionStatus::True,
            reasons::TOKENS_RESOLVED,
            format!("{} users", status.users.len()),
        ),
    };
    let now_time = Time(Utc::now());
    for type_ in [types::SYNCED, types::READY] {
        let update = ConditionUpdate::new(type_, cond_status, reason)
            .message(message.clone())
            .observed_generation(generation);
        set_condition(&mut status.conditions, update, now_time.clone());
    }
    status
}

#[cfg(test)]
mod tests;
