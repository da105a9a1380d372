//! [`MonitorCategories`]: the `categories` bitmask of a MONITOR_STAT request (§8.1).

use std::fmt;
use std::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign};

/// Which sections a MONITOR_STAT reply should contain (`dnet_monitor_stat_request.
/// categories`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MonitorCategories(pub u64);

impl MonitorCategories {
    /// No category.
    pub const NONE: MonitorCategories = MonitorCategories(0);
    /// Cache statistics (per backend `cache`).
    pub const CACHE: MonitorCategories = MonitorCategories(0x1);
    /// IO queues (node and per backend `io`).
    pub const IO: MonitorCategories = MonitorCategories(0x2);
    /// Command counters (node and per backend `commands`).
    pub const COMMANDS: MonitorCategories = MonitorCategories(0x4);
    /// Backend statistics (per backend `backend`, i.e. eblob stats).
    pub const BACKEND: MonitorCategories = MonitorCategories(0x10);
    /// Handystats metrics (`stats`).
    pub const STATS: MonitorCategories = MonitorCategories(0x20);
    /// Process statistics (`procfs`).
    pub const PROCFS: MonitorCategories = MonitorCategories(0x40);
    /// Top keys (`top`).
    pub const TOP: MonitorCategories = MonitorCategories(0x80);
    /// Every category (all bits set, as the C client's `-1`).
    pub const ALL: MonitorCategories = MonitorCategories(u64::MAX);
    /// What Backrunner / elliptics-go request: `COMMANDS | BACKEND | PROCFS` = 0x54.
    pub const BACKRUNNER: MonitorCategories = MonitorCategories(0x54);

    /// Named categories, for `Debug`.
    const NAMED: [(MonitorCategories, &'static str); 7] = [
        (Self::CACHE, "CACHE"),
        (Self::IO, "IO"),
        (Self::COMMANDS, "COMMANDS"),
        (Self::BACKEND, "BACKEND"),
        (Self::STATS, "STATS"),
        (Self::PROCFS, "PROCFS"),
        (Self::TOP, "TOP"),
    ];

    /// From raw bits (unknown bits are kept).
    pub const fn from_bits(bits: u64) -> MonitorCategories {
        MonitorCategories(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: MonitorCategories) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set.
    pub const fn intersects(self, other: MonitorCategories) -> bool {
        self.0 & other.0 != 0
    }

    /// Bits of both.
    pub const fn union(self, other: MonitorCategories) -> MonitorCategories {
        MonitorCategories(self.0 | other.0)
    }
}

impl From<u64> for MonitorCategories {
    fn from(bits: u64) -> MonitorCategories {
        MonitorCategories(bits)
    }
}

impl From<MonitorCategories> for u64 {
    fn from(c: MonitorCategories) -> u64 {
        c.0
    }
}

impl BitOr for MonitorCategories {
    type Output = MonitorCategories;
    fn bitor(self, rhs: MonitorCategories) -> MonitorCategories {
        MonitorCategories(self.0 | rhs.0)
    }
}

impl BitOrAssign for MonitorCategories {
    fn bitor_assign(&mut self, rhs: MonitorCategories) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for MonitorCategories {
    type Output = MonitorCategories;
    fn bitand(self, rhs: MonitorCategories) -> MonitorCategories {
        MonitorCategories(self.0 & rhs.0)
    }
}

impl BitAndAssign for MonitorCategories {
    fn bitand_assign(&mut self, rhs: MonitorCategories) {
        self.0 &= rhs.0;
    }
}

impl fmt::Debug for MonitorCategories {
    /// `MonitorCategories(COMMANDS | BACKEND | PROCFS)`, `MonitorCategories(ALL)`;
    /// unnamed bits are shown in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::ALL {
            return f.write_str("MonitorCategories(ALL)");
        }
        let mut parts: Vec<String> = Vec::new();
        let mut rest = self.0;
        for (c, name) in Self::NAMED {
            if self.contains(c) {
                parts.push(name.to_owned());
                rest &= !c.0;
            }
        }
        if rest != 0 {
            parts.push(format!("{rest:#x}"));
        }
        if parts.is_empty() {
            parts.push("NONE".to_owned());
        }
        write!(f, "MonitorCategories({})", parts.join(" | "))
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
            format!("{:?}", C::from_bits(0x108)),
            "MonitorCategories(0x108)"
        );
    }
}
