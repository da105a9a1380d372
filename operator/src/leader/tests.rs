//! Tests of the Lease decisions.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::chrono::{DateTime, TimeZone, Utc};

use super::*;

fn at(secs: i64) -> DateTime<Utc> {
    match Utc.timestamp_opt(secs, 0) {
        k8s_openapi::chrono::LocalResult::Single(t) => t,
        _ => DateTime::<Utc>::MIN_UTC,
    }
}

/// The decision to wait while `holder` holds the Lease.
fn waits_on(holder: &str) -> LeaseAction {
    LeaseAction::Wait {
        holder: holder.into(),
    }
}

fn held(by: &str, renewed: i64, duration: i32) -> LeaseState {
    LeaseState {
        holder: Some(by.into()),
        renew_time: Some(at(renewed)),
        lease_duration_seconds: Some(duration),
    }
}

const D: Duration = Duration::from_secs(15);

#[test]
fn absent_lease_is_created() {
    assert_eq!(decide(None, "a", at(100), D), LeaseAction::Create);
}

#[test]
fn free_lease_is_acquired() {
    let free = LeaseState {
        holder: None,
        renew_time: Some(at(99)),
        lease_duration_seconds: Some(15),
    };
    assert_eq!(decide(Some(&free), "a", at(100), D), LeaseAction::Acquire);
}

#[test]
fn own_lease_is_renewed_even_when_expired() {
    assert_eq!(
        decide(Some(&held("a", 0, 15)), "a", at(100), D),
        LeaseAction::Renew
    );
}

#[test]
fn fresh_foreign_lease_waits_until_it_expires() {
    let lease = held("b", 100, 15);
    assert_eq!(decide(Some(&lease), "a", at(114), D), waits_on("b"));
    assert_eq!(decide(Some(&lease), "a", at(115), D), LeaseAction::Acquire);
    // A renew time in the future (clock skew) is fresh, not expired.
    assert_eq!(decide(Some(&lease), "a", at(90), D), waits_on("b"));
}

#[test]
fn lease_duration_comes_from_the_lease_then_the_default() {
    // The holder's own 60 s duration applies, not our 15 s.
    let long = held("b", 100, 60);
    assert_eq!(decide(Some(&long), "a", at(130), D), waits_on("b"));
    let unset = LeaseState {
        lease_duration_seconds: None,
        ..held("b", 100, 0)
    };
    assert_eq!(decide(Some(&unset), "a", at(116), D), LeaseAction::Acquire);
    let never_renewed = LeaseState {
        renew_time: None,
        ..held("b", 0, 15)
    };
    assert_eq!(
        decide(Some(&never_renewed), "a", at(1), D),
        LeaseAction::Acquire
    );
}

#[test]
fn state_is_read_from_a_lease_object() {
    let lease = Lease {
        spec: Some(LeaseSpec {
            holder_identity: Some(String::new()),
            acquire_time: Some(MicroTime(at(5))),
            lease_duration_seconds: Some(10),
            ..LeaseSpec::default()
        }),
        ..Lease::default()
    };
    let s = LeaseState::of(&lease);
    assert_eq!(s.holder, None);
    assert_eq!(s.renew_time, Some(at(5)));
    assert_eq!(s.lease_duration_seconds, Some(10));
}

#[test]
fn always_leader_stays_leader() {
    let s = LeaderState::always_leader("me");
    assert!(s.leading());
    assert_eq!(s.holder().as_deref(), Some("me"));
}
