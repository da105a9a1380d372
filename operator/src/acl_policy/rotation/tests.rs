//! Unit tests of the rotation state machine and the Secret layout of the token book.

use super::*;

fn rot(generation: u32, overlap: u32) -> Rotation {
    Rotation {
        generation,
        overlap_seconds: overlap,
    }
}

fn counter() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("gen-{n}")
    }
}

/// The previous token `token`, accepted until `expires_at`.
fn previous(token: &str, expires_at: u64) -> Option<PreviousToken> {
    Some(PreviousToken {
        token: token.into(),
        expires_at,
    })
}

/// A step from `state` (generated token) whose generator must not be called.
fn step_without_generating(
    state: &UserTokens,
    rotation: &Rotation,
    now: u64,
) -> (UserTokens, Vec<Transition>) {
    step(
        Some(state),
        rotation,
        TokenSource::Generated,
        now,
        || unreachable!(),
    )
}

#[test]
fn first_token_is_generated_or_copied() {
    let mut g = counter();
    let (u, t) = step(None, &rot(0, 60), TokenSource::Generated, 100, &mut g);
    assert_eq!(
        (u.current.as_str(), u.generation, u.previous.is_none()),
        ("gen-1", 0, true)
    );
    assert_eq!(t, [Transition::Created]);
    let src = TokenSource::Referenced {
        source: "secret:s/k",
        value: "mine",
    };
    let (u, t) = step(None, &rot(3, 60), src, 100, &mut g);
    assert_eq!(
        (u.current.as_str(), u.generation, u.source.as_str()),
        ("mine", 3, "secret:s/k")
    );
    assert_eq!(t, [Transition::Created]);
}

#[test]
fn generation_bump_rotates_with_overlap_then_expires() {
    let mut g = counter();
    let (u0, _) = step(None, &rot(0, 60), TokenSource::Generated, 100, &mut g);
    // No change: nothing happens, the generator is not called.
    let (same, t) = step_without_generating(&u0, &rot(0, 60), 150);
    assert_eq!((same.clone(), t.len()), (u0.clone(), 0));
    // Bump: new token, previous kept until 200 + 60.
    let (u1, t) = step(Some(&u0), &rot(1, 60), TokenSource::Generated, 200, &mut g);
    assert_eq!(t, [Transition::Rotated]);
    assert_eq!(u1.current, "gen-2");
    assert_eq!(u1.generation, 1);
    assert_eq!(u1.previous, previous("gen-1", 260));
    assert!(u1.live_previous(259).is_some());
    assert!(u1.live_previous(260).is_none());
    let st = u1.status("alice", 230);
    assert_eq!(st.rotation_phase, RotationPhase::Overlap);
    assert_eq!(st.previous_fingerprint, Some(token_fingerprint(b"gen-1")));
    assert_eq!(st.fingerprint, token_fingerprint(b"gen-2"));
    // Before the end: unchanged. At the end: the previous token is dropped.
    let (u2, t) = step_without_generating(&u1, &rot(1, 60), 259);
    assert_eq!((u2, t.len()), (u1.clone(), 0));
    let (u3, t) = step_without_generating(&u1, &rot(1, 60), 260);
    assert_eq!(t, [Transition::OverlapEnded]);
    assert_eq!(
        (u3.current.as_str(), u3.previous.is_none()),
        ("gen-2", true)
    );
    assert_eq!(
        u3.status("alice", 260).rotation_phase,
        RotationPhase::Stable
    );
}

#[test]
fn lowering_the_generation_does_not_rotate_and_zero_overlap_keeps_nothing() {
    let mut g = counter();
    let (u0, _) = step(None, &rot(5, 0), TokenSource::Generated, 1, &mut g);
    let (u1, t) = step_without_generating(&u0, &rot(4, 0), 2);
    assert_eq!((u1.generation, t.len()), (5, 0));
    let (u2, t) = step(Some(&u1), &rot(6, 0), TokenSource::Generated, 3, &mut g);
    assert_eq!(t, [Transition::Rotated]);
    assert_eq!(
        (u2.current.as_str(), u2.previous.is_none()),
        ("gen-2", true)
    );
}

#[test]
fn referenced_value_change_is_a_rotation() {
    let a = TokenSource::Referenced {
        source: "secret:s/k",
        value: "one",
    };
    let b = TokenSource::Referenced {
        source: "secret:s/k",
        value: "two",
    };
    let (u0, _) = step(None, &rot(0, 30), a, 10, || unreachable!());
    let (u1, t) = step(Some(&u0), &rot(0, 30), a, 11, || unreachable!());
    assert_eq!((u1.clone(), t.len()), (u0.clone(), 0));
    let (u2, t) = step(Some(&u1), &rot(0, 30), b, 20, || unreachable!());
    assert_eq!(t, [Transition::Rotated]);
    assert_eq!(u2.current, "two");
    assert_eq!(u2.previous, previous("one", 50));
}

#[test]
fn switching_source_rotates() {
    let mut g = counter();
    let r = TokenSource::Referenced {
        source: "secret:s/k",
        value: "mine",
    };
    let (u0, _) = step(None, &rot(0, 30), r, 10, &mut g);
    let (u1, t) = step(Some(&u0), &rot(0, 30), TokenSource::Generated, 20, &mut g);
    assert_eq!(t, [Transition::Rotated]);
    assert_eq!(
        (u1.current.as_str(), u1.source.as_str()),
        ("gen-1", SOURCE_GENERATED)
    );
    assert_eq!(u1.previous.as_ref().map(|p| p.token.as_str()), Some("mine"));
}

#[test]
fn rotation_during_overlap_replaces_the_previous_token() {
    let mut g = counter();
    let (u0, _) = step(None, &rot(0, 100), TokenSource::Generated, 0, &mut g);
    let (u1, _) = step(Some(&u0), &rot(1, 100), TokenSource::Generated, 10, &mut g);
    let (u2, t) = step(Some(&u1), &rot(2, 100), TokenSource::Generated, 20, &mut g);
    assert_eq!(t, [Transition::Rotated]);
    assert_eq!(u2.current, "gen-3");
    assert_eq!(u2.previous, previous("gen-2", 120));
}

#[test]
fn book_round_trips_through_secret_data() {
    let mut g = counter();
    let mut book = TokenBook::default();
    let (a, _) = step(None, &rot(0, 100), TokenSource::Generated, 0, &mut g);
    let (a, _) = step(Some(&a), &rot(1, 100), TokenSource::Generated, 10, &mut g);
    book.users.insert("alice".into(), a);
    let r = TokenSource::Referenced {
        source: "secret:s/k",
        value: "bob-token",
    };
    book.users
        .insert("bob".into(), step(None, &rot(0, 100), r, 0, &mut g).0);
    let data = book.to_secret_data();
    assert_eq!(
        data.get("alice").map(|b| b.0.as_slice()),
        Some(&b"gen-2"[..])
    );
    assert_eq!(
        data.get("bob").map(|b| b.0.as_slice()),
        Some(&b"bob-token"[..])
    );
    assert!(data.contains_key(STATE_KEY));
    assert_eq!(TokenBook::from_secret_data(&data), book);
    assert_eq!(book.next_expiry(50), Some(110));
    assert_eq!(book.next_expiry(110), None);
    // A user in the state without its token key is left out; garbage state reads as empty.
    let mut partial = data.clone();
    partial.remove("alice");
    assert_eq!(TokenBook::from_secret_data(&partial).users.len(), 1);
    partial.insert(STATE_KEY.into(), ByteString(b"{".to_vec()));
    assert!(TokenBook::from_secret_data(&partial).users.is_empty());
}

#[test]
fn generated_tokens_are_random_hex() {
    let (a, b) = (generate_token(), generate_token());
    assert_eq!(a.len(), 64);
    assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
}

#[test]
fn debug_never_shows_tokens() {
    let (u, _) = step(None, &rot(0, 1), TokenSource::Generated, 0, || {
        "supersecret".into()
    });
    assert!(!format!("{u:?}").contains("supersecret"));
}
