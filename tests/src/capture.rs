//! The `.hex` protocol captures of `elliptics/tests/vectors/`, read by
//! `elliptics::proto::capture` (cargo feature `capture`): one reader for the tests of
//! every crate.

pub use elliptics::proto::capture::{CapturedFrame, Direction, OPERATIONS};

/// Reads and decodes capture `name` (e.g. `"01-write-g1g2"`); panics with the reason when
/// it cannot.
pub fn load(name: &str) -> Vec<CapturedFrame> {
    elliptics::proto::capture::load(name).unwrap_or_else(|e| panic!("{e}"))
}
