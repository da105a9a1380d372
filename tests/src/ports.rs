//! Loopback ports for child processes that must be told their port before they bind it.
//!
//! `bind(127.0.0.1:0)` hands out ports from the kernel's ephemeral range — the same range
//! every outgoing connection takes its source port from. A port read that way and released
//! can be taken by some other test's connection before the child binds it (CI saw exactly
//! that: `Address already in use`). Ports here come from below the ephemeral range, where
//! the kernel never assigns anything on its own, at a random offset so parallel test
//! processes rarely pick the same one, and each is checked bindable before it is returned.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;

/// Lowest port handed out.
const FLOOR: u16 = 10_000;

/// The first port of the kernel's ephemeral range (32768 when unreadable).
fn ephemeral_floor() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A random number (std's per-process random hasher keys, mixed with a counter).
fn random() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

fn bindable(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// `count` consecutive free loopback ports; returns the first.
pub fn free_ports(count: u16) -> u16 {
    let top = ephemeral_floor().saturating_sub(count);
    if top > FLOOR + 1_000 {
        for _ in 0..200 {
            let first = FLOOR + (random() % u64::from(top - FLOOR)) as u16;
            if (first..first + count).all(bindable) {
                return first;
            }
        }
    }
    // An unusual port range: fall back to the kernel's choice.
    for _ in 0..200 {
        let first = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind a loopback port");
        if first.checked_add(count).is_some() && (first..first + count).all(bindable) {
            return first;
        }
    }
    panic!("no {count} consecutive free loopback ports");
}

/// A free loopback port.
pub fn free_port() -> u16 {
    free_ports(1)
}
