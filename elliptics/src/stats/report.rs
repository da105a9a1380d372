//! The MONITOR_STAT JSON document: the top level ([`MonitorReport`]), one backend
//! ([`BackendReport`], [`BackendStatusJson`]), command counters ([`NodeCommands`],
//! [`CommandStats`]) and timestamps ([`StatTime`]).
//!
//! Field order of every struct is the order a stock Elliptics 3.0 node writes
//! (captured in `tests/vectors/monitor-stat-*.json`), so serializing reproduces the stock
//! document byte for byte where the model is complete. Optional sections are `Option`s
//! that are left out when `None`, as a stock node leaves out sections of categories that
//! were not requested. Deserializing is liberal (see the `lenient` module): missing
//! fields take their defaults, unknown fields are ignored, and values of the wrong JSON
//! type are read as well as possible instead of failing the whole document.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::UtcDateTime;

use super::categories::MonitorCategories;
use super::eblob::EblobStats;
use super::lenient;
use crate::proto::DnetTime;
use crate::proto::backend::{backend_state, defrag_state};
use crate::proto::io_attr::date_time;

/// `monitor_status` of a node whose monitor is running.
pub const MONITOR_STATUS_ENABLED: &str = "enabled";
/// `monitor_status` of a node without a monitor (`options.monitor.port` = 0).
pub const MONITOR_STATUS_DISABLED: &str = "disabled";

/// A `struct timeval` as the monitor writes it: `{"tv_sec": …, "tv_usec": …}`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(default)]
pub struct StatTime {
    /// Seconds since the Unix epoch.
    #[serde(deserialize_with = "lenient::num")]
    pub tv_sec: i64,
    /// Microseconds within the second.
    #[serde(deserialize_with = "lenient::num")]
    pub tv_usec: i64,
}

impl StatTime {
    /// The given instant at microsecond precision (the epoch for earlier instants).
    pub fn from_system_time(t: SystemTime) -> StatTime {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        StatTime {
            tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            tv_usec: i64::from(d.subsec_micros()),
        }
    }

    /// The current time.
    pub fn now() -> StatTime {
        StatTime::from_system_time(SystemTime::now())
    }

    /// `(tv_sec, tv_usec)`.
    pub fn as_pair(&self) -> (i64, i64) {
        (self.tv_sec, self.tv_usec)
    }

    /// The time as `YYYY-MM-DD HH:MM:SS.uuuuuu` in UTC, the format of a stock node's
    /// `string_timestamp` / `string_last_time` (a stock node prints its local time; the
    /// captured nodes ran in UTC). Seconds beyond the years -9999..=9999 show the nearest
    /// of those bounds.
    pub fn to_utc_string(&self) -> String {
        let at = UtcDateTime::from_unix_timestamp(self.tv_sec).unwrap_or(if self.tv_sec < 0 {
            UtcDateTime::MIN
        } else {
            UtcDateTime::MAX
        });
        format!(
            "{}.{:06}",
            date_time(at, ' '),
            self.tv_usec.clamp(0, 999_999)
        )
    }
}

impl From<DnetTime> for StatTime {
    /// As the monitor converts `dnet_time`: seconds, and nanoseconds / 1000.
    fn from(t: DnetTime) -> StatTime {
        StatTime {
            tv_sec: i64::try_from(t.tsec).unwrap_or(i64::MAX),
            tv_usec: i64::try_from(t.tnsec / 1000).unwrap_or(i64::MAX),
        }
    }
}

/// The whole MONITOR_STAT document.
///
/// `{"monitor_status":"disabled"}` (no monitor) and `{"monitor_status":"failed: …"}`
/// (internal failure) are valid documents too; every other section is then absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MonitorReport {
    /// When the document was made.
    #[serde(
        deserialize_with = "lenient::opt_obj",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<StatTime>,
    /// `timestamp` as text, e.g. `2026-11-21 23:08:59.302576`.
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub string_timestamp: Option<String>,
    /// `"enabled"`, `"disabled"` or `"failed: <reason>"`.
    #[serde(deserialize_with = "lenient::string")]
    pub monitor_status: String,
    /// Node-wide command counters (category COMMANDS).
    #[serde(
        deserialize_with = "lenient::opt_obj",
        skip_serializing_if = "Option::is_none"
    )]
    pub commands: Option<NodeCommands>,
    /// Handystats metrics (category STATS); not interpreted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<Value>,
    /// Initialized backends keyed by backend id in decimal (categories IO, CACHE,
    /// BACKEND).
    #[serde(
        deserialize_with = "lenient::opt_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub backends: Option<BTreeMap<String, BackendReport>>,
    /// Node IO queues (category IO); not interpreted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io: Option<Value>,
    /// Process statistics from procfs (category PROCFS); informational.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub procfs: Option<Value>,
    /// Top keys (category TOP); not interpreted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top: Option<Value>,
}

impl MonitorReport {
    /// An enabled report stamped `at`, with no sections yet.
    pub fn enabled(at: StatTime) -> MonitorReport {
        MonitorReport {
            timestamp: Some(at),
            string_timestamp: Some(at.to_utc_string()),
            monitor_status: MONITOR_STATUS_ENABLED.to_owned(),
            ..MonitorReport::default()
        }
    }

    /// `{"monitor_status":"disabled"}`: what a node without a monitor answers.
    pub fn disabled() -> MonitorReport {
        MonitorReport {
            monitor_status: MONITOR_STATUS_DISABLED.to_owned(),
            ..MonitorReport::default()
        }
    }

    /// `{"monitor_status":"failed: <reason>"}`: what a node answers when it cannot
    /// build the document.
    pub fn failed(reason: &str) -> MonitorReport {
        MonitorReport {
            monitor_status: format!("failed: {reason}"),
            ..MonitorReport::default()
        }
    }

    /// Whether `monitor_status` is `"enabled"` (only then are the statistics used).
    pub fn is_enabled(&self) -> bool {
        self.monitor_status == MONITOR_STATUS_ENABLED
    }

    /// Drops the sections a stock node would not produce for `categories`: node-level
    /// `commands` (COMMANDS), `stats` (STATS), `io` (IO), `procfs` (PROCFS), `top`
    /// (TOP), `backends` (unless one of IO, CACHE, BACKEND), and per backend `commands`
    /// (COMMANDS), `backend` (BACKEND), `io` (IO), `cache` (CACHE).
    pub fn retain_categories(&mut self, categories: MonitorCategories) {
        use MonitorCategories as C;
        let has = |c| categories.contains(c);
        keep_if(&mut self.commands, has(C::COMMANDS));
        keep_if(&mut self.stats, has(C::STATS));
        keep_if(&mut self.io, has(C::IO));
        keep_if(&mut self.procfs, has(C::PROCFS));
        keep_if(&mut self.top, has(C::TOP));
        keep_if(
            &mut self.backends,
            categories.intersects(C::IO | C::CACHE | C::BACKEND),
        );
        for backend in self.backends.iter_mut().flat_map(BTreeMap::values_mut) {
            keep_if(&mut backend.commands, has(C::COMMANDS));
            keep_if(&mut backend.backend, has(C::BACKEND));
            keep_if(&mut backend.io, has(C::IO));
            keep_if(&mut backend.cache, has(C::CACHE));
        }
    }
}

/// Empties an optional section unless it is `wanted`.
fn keep_if<T>(section: &mut Option<T>, wanted: bool) {
    if !wanted {
        *section = None;
    }
}

/// One entry of `backends`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackendReport {
    /// The backend id (also the key of the entry).
    #[serde(deserialize_with = "lenient::num")]
    pub backend_id: i32,
    /// State, defrag state, last start, read-only flag and delay.
    #[serde(deserialize_with = "lenient::obj")]
    pub status: BackendStatusJson,
    /// Per-command counters of this backend (category COMMANDS, enabled backends).
    #[serde(
        deserialize_with = "lenient::opt_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub commands: Option<BTreeMap<String, CommandStats>>,
    /// Eblob statistics plus `config.group` (category BACKEND); for a backend that is
    /// not enabled only `config` or `config_template`.
    #[serde(
        deserialize_with = "lenient::opt_obj",
        skip_serializing_if = "Option::is_none"
    )]
    pub backend: Option<EblobStats>,
    /// Backend IO queues (category IO); not interpreted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io: Option<Value>,
    /// Backend cache statistics (category CACHE); not interpreted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<Value>,
}

/// `status` of a backend: the JSON form of `dnet_backend_status` (§9.1, §9.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackendStatusJson {
    /// `dnet_backend_state`: -1 uninitialized, 0 disabled, 1 enabled, 2 activating,
    /// 3 deactivating.
    #[serde(deserialize_with = "lenient::num")]
    pub state: i32,
    /// `state` as text ([`backend_state_name`]).
    #[serde(deserialize_with = "lenient::string")]
    pub string_state: String,
    /// Defrag state: 0 not started, 1 data sort, 2 index sort, 3 compact.
    #[serde(deserialize_with = "lenient::num")]
    pub defrag_state: u32,
    /// `defrag_state` as text ([`defrag_state_name`]).
    #[serde(deserialize_with = "lenient::string")]
    pub string_defrag_state: String,
    /// When the backend was last started.
    #[serde(deserialize_with = "lenient::obj")]
    pub last_start: StatTime,
    /// `last_start` as text.
    #[serde(deserialize_with = "lenient::string")]
    pub string_last_time: String,
    /// Error of the last start (negative errno, 0 = success).
    #[serde(deserialize_with = "lenient::num")]
    pub last_start_err: i32,
    /// Whether the backend refuses writes.
    #[serde(deserialize_with = "lenient::boolean")]
    pub read_only: bool,
    /// Artificial delay per operation, in milliseconds.
    #[serde(deserialize_with = "lenient::num")]
    pub delay: u32,
}

impl BackendStatusJson {
    /// A status with the text fields filled in from the numeric ones, as a stock node
    /// writes it.
    pub fn new(
        state: i32,
        defrag_state: u32,
        last_start: StatTime,
        last_start_err: i32,
        read_only: bool,
        delay: u32,
    ) -> BackendStatusJson {
        BackendStatusJson {
            state,
            string_state: backend_state_name(state).to_owned(),
            defrag_state,
            string_defrag_state: defrag_state_name(defrag_state).to_owned(),
            last_start,
            string_last_time: last_start.to_utc_string(),
            last_start_err,
            read_only,
            delay,
        }
    }
}

/// The `string_state` a stock node writes for a backend state.
pub fn backend_state_name(state: i32) -> &'static str {
    match state {
        backend_state::ENABLED => "enabled",
        backend_state::DISABLED => "disabled",
        backend_state::ACTIVATING => "activating",
        backend_state::DEACTIVATING => "deactivating",
        _ => "unknown",
    }
}

/// The `string_defrag_state` a stock node writes for a defrag state (a stock node names
/// only these two; index sort and compaction read `"unknown"`).
pub fn defrag_state_name(state: u32) -> &'static str {
    match state {
        defrag_state::NOT_STARTED => "not-started",
        defrag_state::IN_PROGRESS => "in-progress",
        _ => "unknown",
    }
}

/// Counters of one command in one place: `{successes, failures, size, time}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandCounters {
    /// Requests that succeeded.
    #[serde(deserialize_with = "lenient::num")]
    pub successes: u64,
    /// Requests that failed.
    #[serde(deserialize_with = "lenient::num")]
    pub failures: u64,
    /// Bytes transferred.
    #[serde(deserialize_with = "lenient::num")]
    pub size: u64,
    /// Time spent, in microseconds.
    #[serde(deserialize_with = "lenient::num")]
    pub time: u64,
}

impl CommandCounters {
    /// Field-wise sum, saturating.
    pub fn saturating_add(self, other: CommandCounters) -> CommandCounters {
        CommandCounters {
            successes: self.successes.saturating_add(other.successes),
            failures: self.failures.saturating_add(other.failures),
            size: self.size.saturating_add(other.size),
            time: self.time.saturating_add(other.time),
        }
    }
}

/// Counters of one command split by origin: `outside` = client requests (`trans != 0`),
/// `internal` = the node's own (`trans == 0`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandSplit {
    /// Requests from clients and peers.
    #[serde(deserialize_with = "lenient::obj")]
    pub outside: CommandCounters,
    /// Requests the node issued itself.
    #[serde(deserialize_with = "lenient::obj")]
    pub internal: CommandCounters,
}

impl CommandSplit {
    /// `outside + internal`.
    pub fn sum(&self) -> CommandCounters {
        self.outside.saturating_add(self.internal)
    }
}

/// `{successes, failures}` (node totals and per-client counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct SuccessFailure {
    /// Requests that succeeded.
    #[serde(deserialize_with = "lenient::num")]
    pub successes: u64,
    /// Requests that failed.
    #[serde(deserialize_with = "lenient::num")]
    pub failures: u64,
}

/// `total` of a node-level command: `storage` = from joined peers, `proxy` = from
/// clients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandTotals {
    /// Requests that came from storage peers.
    #[serde(deserialize_with = "lenient::obj")]
    pub storage: SuccessFailure,
    /// Requests that came from clients.
    #[serde(deserialize_with = "lenient::obj")]
    pub proxy: SuccessFailure,
}

/// Counters of one command (`"LOOKUP"`, `"WRITE"`, `"READ"`, `"REMOVE"`, …):
/// served from cache or from disk; node-level entries also carry `total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandStats {
    /// Served by the cache.
    #[serde(deserialize_with = "lenient::obj")]
    pub cache: CommandSplit,
    /// Served by the backend.
    #[serde(deserialize_with = "lenient::obj")]
    pub disk: CommandSplit,
    /// Node level only: totals by source.
    #[serde(
        deserialize_with = "lenient::opt_obj",
        skip_serializing_if = "Option::is_none"
    )]
    pub total: Option<CommandTotals>,
}

impl CommandStats {
    /// Everything summed over cache + disk × outside + internal (what Backrunner uses).
    pub fn sum(&self) -> CommandCounters {
        self.cache.sum().saturating_add(self.disk.sum())
    }
}

/// The node-level `commands` section: one entry per command name plus `clients`
/// (`{"ip:port": {CMD: {successes, failures}}}`), which a stock node writes last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeCommands {
    /// Counters by command name.
    pub commands: BTreeMap<String, CommandStats>,
    /// Per-client counters by `"ip:port"`, then command name.
    pub clients: BTreeMap<String, BTreeMap<String, SuccessFailure>>,
}

impl Serialize for NodeCommands {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.commands.len() + 1))?;
        for (name, stats) in &self.commands {
            map.serialize_entry(name, stats)?;
        }
        map.serialize_entry("clients", &self.clients)?;
        map.end()
    }
}

/// Visitor of [`NodeCommands`].
struct NodeCommandsVisitor;

impl<'de> Visitor<'de> for NodeCommandsVisitor {
    type Value = NodeCommands;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object of command counters")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeCommands, A::Error> {
        let mut out = NodeCommands::default();
        while let Some(key) = map.next_key::<String>()? {
            if key == "clients" {
                let clients: lenient::Map<lenient::Map<SuccessFailure>> = map.next_value()?;
                out.clients = clients
                    .0
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(addr, cmds)| (addr, cmds.0.unwrap_or_default()))
                    .collect();
            } else if let lenient::Obj(Some(stats)) = map.next_value::<lenient::Obj<_>>()? {
                out.commands.insert(key, stats);
            }
        }
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for NodeCommands {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(NodeCommandsVisitor)
    }
}
