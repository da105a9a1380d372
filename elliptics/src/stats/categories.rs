//! [`MonitorCategories`]: the `categories` bitmask of a MONITOR_STAT request (§8.1).

use std::fmt;

use crate::proto::codec::fmt_flags;

/// Which sections a MONITOR_STAT reply should contain (`dnet_monitor_stat_request.
/// categories`).
///
/// A [`bitflags`] type over the raw request word: bits without a name are kept.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MonitorCategories(pub u64);

bitflags::bitflags! {
    impl MonitorCategories: u64 {
        /// Cache statistics (per backend `cache`).
        const CACHE = 0x1;
        /// IO queues (node and per backend `io`).
        const IO = 0x2;
        /// Command counters (node and per backend `commands`).
        const COMMANDS = 0x4;
        /// Backend statistics (per backend `backend`, i.e. eblob stats).
        const BACKEND = 0x10;
        /// Handystats metrics (`stats`).
        const STATS = 0x20;
        /// Process statistics (`procfs`).
        const PROCFS = 0x40;
        /// Top keys (`top`).
        const TOP = 0x80;
        // A request may carry any bit (the C client sends -1 for "all"); keep it.
        const _ = !0;
    }
}

impl MonitorCategories {
    /// No category.
    pub const NONE: MonitorCategories = MonitorCategories::empty();
    /// Every category (all bits set, as the C client's `-1`).
    pub const ALL: MonitorCategories = MonitorCategories::all();
    /// What Backrunner / elliptics-go request: `COMMANDS | BACKEND | PROCFS` = 0x54.
    pub const BACKRUNNER: MonitorCategories = MonitorCategories::COMMANDS
        .union(MonitorCategories::BACKEND)
        .union(MonitorCategories::PROCFS);
}

impl From<u64> for MonitorCategories {
    fn from(bits: u64) -> MonitorCategories {
        MonitorCategories::from_bits_retain(bits)
    }
}

impl From<MonitorCategories> for u64 {
    fn from(c: MonitorCategories) -> u64 {
        c.bits()
    }
}

impl fmt::Debug for MonitorCategories {
    /// `MonitorCategories(COMMANDS | BACKEND | PROCFS)`, `MonitorCategories(ALL)`,
    /// `MonitorCategories(NONE)`; unnamed bits are shown in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::ALL {
            f.write_str("MonitorCategories(ALL)")
        } else if self.is_empty() {
            f.write_str("MonitorCategories(NONE)")
        } else {
            fmt_flags(f, "MonitorCategories", self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MonitorCategories as C;

    #[test]
    fn backrunner_is_commands_backend_procfs() {
        assert_eq!(C::BACKRUNNER, C::COMMANDS | C::BACKEND | C::PROCFS);
        assert_eq!(C::BACKRUNNER.bits(), 0x54);
        assert!(C::BACKRUNNER.contains(C::BACKEND));
        assert!(!C::BACKRUNNER.contains(C::CACHE));
        assert!(C::ALL.contains(C::TOP | C::STATS));
        assert!(C::NONE.is_empty());
        assert_eq!(u64::from(C::ALL), u64::MAX);
        assert_eq!(C::from(0x10), C::BACKEND);
        assert_eq!(C::BACKRUNNER & C::BACKEND, C::BACKEND);
    }

    #[test]
    fn debug_names_bits() {
        assert_eq!(
            format!("{:?}", C::BACKRUNNER),
            "MonitorCategories(COMMANDS | BACKEND | PROCFS)"
        );
        assert_eq!(format!("{:?}", C::ALL), "MonitorCategories(ALL)");
        assert_eq!(format!("{:?}", C::NONE), "MonitorCategories(NONE)");
        assert_eq!(
            format!("{:?}", C::from_bits_retain(0x108)),
            "MonitorCategories(0x108)"
        );
    }
}
