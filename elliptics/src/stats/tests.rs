//! Tests of the MONITOR_STAT model against the documents and frames captured from a
//! stock Elliptics 3.0 node (`tests/vectors/`, copied from the shared reference
//! vectors so the crate tests are hermetic), plus round trips, the zip-bomb guard and
//! property tests of the liberal decoder.

use std::io::{Read, Write};

use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::proto::DnetTime;
use crate::proto::capture::{self, Direction};

const ALL_JSON: &str = include_str!("../../tests/vectors/monitor-stat-all.json");
const BACKEND_JSON: &str = include_str!("../../tests/vectors/monitor-stat-backend.json");
const HTTP_JSON: &str = include_str!("../../tests/vectors/http-monitor-backend.json");
const HEX_ALL: &str = include_str!("../../tests/vectors/05-monitor-stat-all.hex");
const HEX_BACKEND: &str = include_str!("../../tests/vectors/06-monitor-stat-backend.hex");

/// `4096 × 66053021`: `frsize × blocks` of the capture machine.
const VFS_TOTAL: u64 = 4096 * 66_053_021;

fn parse(json: &str) -> MonitorReport {
    parse_monitor_json(json.as_bytes()).unwrap()
}

/// The derived view of a capture (`json`) taken with backends 1 and 2 enabled: both are
/// there.
fn two_backends(json: &str) -> Vec<BackendStat> {
    let stats = parse(json).backend_stats();
    assert_eq!(stats.len(), 2);
    stats
}

fn backend<'a>(r: &'a MonitorReport, id: &str) -> &'a BackendReport {
    &r.backends.as_ref().unwrap()[id]
}

fn eblob<'a>(r: &'a MonitorReport, id: &str) -> &'a EblobStats {
    backend(r, id).backend.as_ref().unwrap()
}

/// The payload of the server's MONITOR_STAT data frame in a `.hex` capture, after
/// checking its header: cmd 23, backend_id -1, flags MORE|REPLY|DIRECT|NOLOCK, size.
fn monitor_payload(hex_file: &str) -> Vec<u8> {
    let mut found = Vec::new();
    for captured in capture::parse(hex_file).unwrap() {
        if captured.dir != Direction::ToClient || captured.command != "MONITOR_STAT" {
            continue;
        }
        let frame = captured.raw;
        if frame.len() <= 120 {
            continue; // the final empty ACK
        }
        let le32 = |o: usize| i32::from_le_bytes(frame[o..o + 4].try_into().unwrap());
        let le64 = |o: usize| u64::from_le_bytes(frame[o..o + 8].try_into().unwrap());
        assert_eq!(le32(80), 23, "cmd");
        assert_eq!(le32(84), -1, "backend_id");
        assert_eq!(le64(96), 0x21a, "flags");
        assert_eq!(le64(112), (frame.len() - 120) as u64, "size");
        found.push(frame[120..].to_vec());
    }
    assert_eq!(found.len(), 1, "one MONITOR_STAT data frame");
    found.remove(0)
}

fn inflate_zlib(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(payload)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The shared `.json` files were made from the same payloads but with the data
/// directory `/tmp/ell/…` rewritten to `/srv/ell/…`; undo that difference.
fn normalize_data_paths(r: &mut MonitorReport) {
    for b in r.backends.iter_mut().flat_map(|m| m.values_mut()) {
        if let Some(cfg) = b.backend.as_mut().and_then(|e| e.config.as_mut()) {
            cfg.data = cfg.data.replace("/tmp/ell/", "/srv/ell/");
        }
    }
}

#[test]
fn backend_capture_typed_fields() {
    let r = parse(BACKEND_JSON);
    assert!(r.is_enabled());
    assert_eq!(
        r.timestamp,
        Some(StatTime {
            tv_sec: 1_795_302_539,
            tv_usec: 302_576
        })
    );
    assert_eq!(
        r.string_timestamp.as_deref(),
        Some("2026-11-21 23:08:59.302576")
    );
    assert!(r.commands.is_none() && r.stats.is_none() && r.io.is_none());
    assert!(r.procfs.is_none() && r.top.is_none());
    assert_eq!(r.backends.as_ref().unwrap().len(), 2);

    let b2 = backend(&r, "2");
    assert_eq!(b2.backend_id, 2);
    assert_eq!(
        b2.status,
        BackendStatusJson {
            state: 1,
            string_state: "enabled".into(),
            defrag_state: 0,
            string_defrag_state: "not-started".into(),
            last_start: StatTime {
                tv_sec: 1_795_302_436,
                tv_usec: 658_924
            },
            string_last_time: "2026-11-21 23:07:16.658924".into(),
            last_start_err: 0,
            read_only: false,
            delay: 0,
        }
    );
    assert!(b2.commands.is_none() && b2.io.is_none() && b2.cache.is_none());

    let e = eblob(&r, "2");
    let g = e.global_stats.unwrap();
    assert_eq!(g.datasort_start_time, 1_795_302_489);
    assert_eq!(g.datasort_completion_time, 1_795_302_489);
    assert_eq!(g.datasort_completion_status, 0);
    assert_eq!(g.memory_index_tree, 120);
    assert_eq!(g.lookup_reads_number, 4);
    assert_eq!(g.index_files_reads_number, 3);
    let s = e.summary_stats.as_ref().unwrap();
    assert_eq!(
        (
            s.records_total,
            s.records_removed,
            s.records_removed_size,
            s.records_corrupted,
            s.base_size
        ),
        (2, 1, 292, 0, 584)
    );
    assert_eq!(s.string_want_defrag, None);
    let base = &e.base_stats.as_ref().unwrap()["data-0.0"];
    assert_eq!(base.base_size, 584);
    assert_eq!(base.string_want_defrag.as_deref(), Some("not_needed"));
    let c = e.config.as_ref().unwrap();
    assert_eq!(c.blob_flags, 16);
    assert_eq!(c.string_blob_flags, "0x10 [no_free_space_check]");
    assert_eq!(c.sync, -1);
    assert_eq!(c.data, "/srv/ell/run/s1/b2/data/data");
    assert_eq!(c.blob_size, 67_108_864);
    assert_eq!(c.records_in_blob, 10_000);
    assert_eq!(c.defrag_percentage, 10);
    assert_eq!(c.defrag_timeout, 86_400);
    assert_eq!(c.index_block_size, 40);
    assert_eq!(c.index_block_bloom_length, 5120);
    assert_eq!(c.blob_size_limit, 0);
    assert_eq!(c.group, 2);
    let v = e.vfs.unwrap();
    assert_eq!((v.bsize, v.frsize, v.blocks), (4096, 4096, 66_053_021));
    assert_eq!((v.bfree, v.bavail), (61_716_663, 19_485_114));
    assert_eq!(
        (v.files, v.ffree, v.favail),
        (16_777_216, 16_294_995, 16_294_995)
    );
    assert_eq!(v.fsid, 17_056_297_646_000_803_263);
    assert_eq!((v.flag, v.namemax, v.error), (4096, 255, None));
    let d = e.dstat.unwrap();
    assert_eq!(
        (d.read_ios, d.write_sectors, d.time_in_queue),
        (74_581, 18_115_728, 60_118)
    );
    assert_eq!(
        e.timestamp,
        Some(StatTime {
            tv_sec: 1_795_302_538,
            tv_usec: 705_632
        })
    );
    assert!(e.error.is_none() && e.config_template.is_none());
}

#[test]
fn backend_capture_derived_view() {
    let stats = two_backends(BACKEND_JSON);

    let b1 = &stats[0];
    assert_eq!((b1.backend_id, b1.group), (1, 1));
    assert_eq!(
        (
            b1.records_total,
            b1.records_removed,
            b1.removed_size,
            b1.used_size
        ),
        (1, 1, 292, 292)
    );
    assert_eq!((b1.defrag_start_time, b1.defrag_completion_time), (0, 0));

    let b2 = &stats[1];
    let expected = BackendStat {
        backend_id: 2,
        group: 2,
        state: 1,
        defrag_state: 0,
        read_only: false,
        delay: 0,
        vfs_total: VFS_TOTAL,
        vfs_avail: 61_716_663 * 4096,
        // blob_size_limit is 0 (and blob_flags has 0x10): the file system is the limit.
        total_size_limit: VFS_TOTAL,
        used_size: 584,
        removed_size: 292,
        records_total: 2,
        records_removed: 1,
        records_corrupted: 0,
        error_code: 0,
        defrag_start_time: 1_795_302_489,
        defrag_completion_time: 1_795_302_489,
        defrag_completion_status: 0,
        stat_time: (1_795_302_539, 302_576),
        commands: Default::default(),
    };
    assert_eq!(*b2, expected);
    assert!(b1.has_usable_stats() && b2.has_usable_stats());

    // avail (252791451648) <= limit (270553174016): the file-system branch of §14.5.
    let free = b2.free_ratio_after(1 << 20);
    assert!((free - 0.934_346_469_936_628_6).abs() < 1e-12, "{free}");
}

#[test]
fn all_capture_commands_and_sections() {
    let r = parse(ALL_JSON);
    assert_eq!(
        r.timestamp,
        Some(StatTime {
            tv_sec: 1_795_302_535,
            tv_usec: 253_052
        })
    );
    let cmds = r.commands.as_ref().unwrap();
    assert_eq!(cmds.commands.len(), 11);
    let lookup = cmds.commands["LOOKUP"];
    assert_eq!(
        lookup.disk.outside,
        CommandCounters {
            successes: 1,
            failures: 2,
            size: 0,
            time: 164
        }
    );
    assert_eq!(lookup.total.unwrap().proxy.successes, 3);
    assert_eq!(cmds.commands["WRITE"].disk.outside.size, 108);
    assert_eq!(cmds.commands["REMOVE"].cache.outside.time, 139);
    let client = &cmds.clients["127.0.0.1:54676"];
    assert_eq!(client.len(), 2);
    assert_eq!(
        client["REVERSE_LOOKUP"],
        SuccessFailure {
            successes: 1,
            failures: 0
        }
    );
    assert!(r.stats.as_ref().unwrap()["cache.READ"].is_object());
    assert_eq!(r.io.as_ref().unwrap()["blocked"], Value::Bool(false));
    assert_eq!(
        r.procfs.as_ref().unwrap()["stat"]["rsslim"].as_u64(),
        Some(u64::MAX)
    );

    let b1 = backend(&r, "1");
    let c = b1.commands.as_ref().unwrap();
    assert_eq!(c.len(), 4);
    assert!(c["LOOKUP"].total.is_none());
    assert!(b1.io.is_some() && b1.cache.is_some());

    let stats = two_backends(ALL_JSON);
    let sum = |s: &BackendStat, name: &str| {
        let c = s.commands[name];
        [c.successes, c.failures, c.size, c.time]
    };
    assert_eq!(sum(&stats[0], "LOOKUP"), [1, 1, 0, 134]);
    assert_eq!(sum(&stats[0], "WRITE"), [1, 0, 36, 401]);
    assert_eq!(sum(&stats[0], "READ"), [1, 1, 36, 208]);
    assert_eq!(sum(&stats[0], "REMOVE"), [1, 0, 0, 74]);
    assert_eq!(sum(&stats[1], "LOOKUP"), [0, 1, 0, 26]);
    assert_eq!(sum(&stats[1], "WRITE"), [2, 0, 72, 448]);
    assert_eq!(sum(&stats[1], "READ"), [2, 1, 20, 140]);
    assert_eq!(sum(&stats[1], "REMOVE"), [1, 0, 0, 62]);
    assert_eq!(
        (stats[1].group, stats[1].used_size, stats[1].removed_size),
        (2, 584, 292)
    );
    assert_eq!(stats[1].vfs_avail, 61_716_708 * 4096);
    assert_eq!(stats[1].stat_time, (1_795_302_535, 253_052));
}

#[test]
fn http_capture_after_second_remove_and_defrag() {
    let stats = two_backends(HTTP_JSON);
    let b2 = &stats[1];
    assert_eq!((b2.records_total, b2.records_removed), (2, 2));
    assert_eq!((b2.removed_size, b2.used_size), (584, 584));
    assert_eq!(b2.defrag_start_time, 1_795_302_555);
    assert_eq!(b2.defrag_completion_time, 1_795_302_555);
    assert_eq!(b2.stat_time, (1_795_302_600, 968_148));
    assert_eq!(b2.vfs_avail, 61_716_107 * 4096);
    assert_eq!(b2.total_size_limit, VFS_TOTAL);
}

#[test]
fn wire_payload_of_backend_request_decodes_to_capture() {
    let payload = monitor_payload(HEX_BACKEND);
    assert_eq!(payload.len(), 888);
    assert_eq!(&payload[..2], &[0x78, 0x9c]);
    let mut decoded = decode_monitor_payload(&payload, DEFAULT_MAX_INFLATED).unwrap();

    // Serializing the model reproduces the stock node's document byte for byte.
    let inflated = inflate_zlib(&payload);
    assert_eq!(inflated.len(), 3988);
    assert_eq!(
        String::from_utf8(serde_json::to_vec(&decoded).unwrap()).unwrap(),
        String::from_utf8(inflated).unwrap()
    );

    normalize_data_paths(&mut decoded);
    assert_eq!(decoded, parse(BACKEND_JSON));
}

#[test]
fn wire_payload_of_all_request_decodes_to_capture() {
    let payload = monitor_payload(HEX_ALL);
    assert_eq!(payload.len(), 3765);
    let mut decoded = decode_monitor_payload(&payload, DEFAULT_MAX_INFLATED).unwrap();
    normalize_data_paths(&mut decoded);
    assert_eq!(decoded, parse(ALL_JSON));
    // The model keeps every field of the stock document.
    let file: Value = serde_json::from_str(ALL_JSON).unwrap();
    assert_eq!(serde_json::to_value(&decoded).unwrap(), file);
}

#[test]
fn model_keeps_every_field_of_the_backend_documents() {
    for json in [BACKEND_JSON, HTTP_JSON] {
        let file: Value = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_value(parse(json)).unwrap(), file);
    }
}

#[test]
fn round_trip_serialize_parse() {
    for json in [ALL_JSON, BACKEND_JSON, HTTP_JSON] {
        let r = parse(json);
        let payload = encode_monitor_payload(&r);
        assert_eq!(&payload[..2], &[0x78, 0x9c], "zlib, default compression");
        let back = decode_monitor_payload(&payload, DEFAULT_MAX_INFLATED).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.backend_stats(), r.backend_stats());
    }
}

#[test]
fn disabled_and_failed_monitors_yield_no_backends() {
    let payload = encode_monitor_payload(&MonitorReport::disabled());
    assert_eq!(inflate_zlib(&payload), br#"{"monitor_status":"disabled"}"#);
    let r = decode_monitor_payload(&payload, 1024).unwrap();
    assert!(!r.is_enabled());
    assert!(r.backend_stats().is_empty());

    let failed = MonitorReport::failed("no memory");
    assert_eq!(
        serde_json::to_string(&failed).unwrap(),
        r#"{"monitor_status":"failed: no memory"}"#
    );
    assert!(failed.backend_stats().is_empty());

    // Full statistics are still ignored when the status is not "enabled".
    let mut r = parse(BACKEND_JSON);
    r.monitor_status = "disabled".into();
    assert!(r.backend_stats().is_empty());
    r.monitor_status = String::new();
    assert!(r.backend_stats().is_empty());
}

#[test]
fn only_enabled_backends_with_a_backend_section() {
    let mut r = parse(ALL_JSON);
    let backends = r.backends.as_mut().unwrap();
    backends.get_mut("1").unwrap().status.state = 0;
    let mut only_status = backends["2"].clone();
    only_status.backend = None;
    backends.insert("3".into(), only_status);
    let stats = r.backend_stats();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].backend_id, 2);
}

#[test]
fn size_limit_and_stats_error() {
    let mut v: Value = serde_json::from_str(BACKEND_JSON).unwrap();
    let b = &mut v["backends"]["2"]["backend"];
    b["config"]["blob_size_limit"] = 1_000_000.into();
    b["config"]["blob_flags"] = 0.into();
    b["error"] = serde_json::json!({
        "code": 110,
        "message": "cached json is too old",
        "lifetime": 61_000_000u64,
        "lifetime_limit": 60_000_000u64,
        "current_timestamp": {"tv_sec": 1_795_302_600, "tv_usec": 5}
    });
    let r = parse_monitor_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    let stats = r.backend_stats();
    let b2 = &stats[1];
    assert_eq!(b2.total_size_limit, 1_000_000);
    assert_eq!(b2.error_code, 110);
    assert!(!b2.has_usable_stats());
    let err = eblob(&r, "2").error.as_ref().unwrap();
    assert_eq!(err.message, "cached json is too old");
    assert_eq!((err.lifetime, err.lifetime_limit), (61_000_000, 60_000_000));
    assert_eq!(err.current_timestamp.unwrap().tv_usec, 5);
    assert!(stats[0].has_usable_stats());

    // The error object is written after `timestamp`, as eblob appends it.
    let text = serde_json::to_string(&r).unwrap();
    assert!(text.contains(r#""tv_usec":705632},"error":{"code":110,"message""#));

    // With no-free-space-check the file system is the limit again.
    let mut v2 = v.clone();
    v2["backends"]["2"]["backend"]["config"]["blob_flags"] = 0x10.into();
    let r2 = parse_monitor_json(&serde_json::to_vec(&v2).unwrap()).unwrap();
    assert_eq!(r2.backend_stats()[1].total_size_limit, VFS_TOTAL);
}

#[test]
fn free_ratio_branches() {
    let base = BackendStat {
        state: 1,
        vfs_total: 10_000,
        total_size_limit: 1000,
        vfs_avail: 5000,
        used_size: 100,
        ..BackendStat::default()
    };
    // avail > limit: 1 - (used + extra) / limit.
    assert!((base.free_ratio_after(50) - 0.85).abs() < 1e-12);
    assert!((base.free_ratio_after(0) - 0.9).abs() < 1e-12);
    let full = BackendStat {
        used_size: 990,
        ..base.clone()
    };
    assert!((full.free_ratio_after(20) - (-0.01)).abs() < 1e-12);
    // avail <= limit: (avail - extra) / limit, 0 when it does not fit.
    let tight = BackendStat {
        vfs_avail: 400,
        ..base.clone()
    };
    assert!((tight.free_ratio_after(100) - 0.3).abs() < 1e-12);
    assert_eq!(tight.free_ratio_after(401), 0.0);
    assert!((tight.free_ratio_after(400) - 0.0).abs() < 1e-12);
    // No limit: not usable, ratio 0.
    let none = BackendStat {
        total_size_limit: 0,
        ..base.clone()
    };
    assert_eq!(none.free_ratio_after(1), 0.0);
    assert!(!none.has_usable_stats());
    assert!(base.has_usable_stats());
    let disabled = BackendStat { state: 0, ..base };
    assert!(!disabled.has_usable_stats());
}

#[test]
fn zip_bomb_guard() {
    // 8 MiB of spaces inside a JSON object compresses to a few KiB.
    let mut doc = b"{\"monitor_status\":\"enabled\"".to_vec();
    doc.resize(8 << 20, b' ');
    doc.push(b'}');
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&doc).unwrap();
    let bomb = z.finish().unwrap();
    assert!(bomb.len() < 64 << 10);
    assert!(matches!(
        decode_monitor_payload(&bomb, 1 << 20),
        Err(StatsError::TooLarge { limit }) if limit == 1 << 20
    ));
    // Raw deflate is capped the same way.
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&doc).unwrap();
    let raw_bomb = z.finish().unwrap();
    assert!(matches!(
        decode_monitor_payload(&raw_bomb, 1 << 20),
        Err(StatsError::TooLarge { .. })
    ));
    // The limit is inclusive.
    assert!(
        decode_monitor_payload(&bomb, doc.len())
            .unwrap()
            .is_enabled()
    );
    assert!(matches!(
        decode_monitor_payload(&bomb, doc.len() - 1),
        Err(StatsError::TooLarge { .. })
    ));
}

#[test]
fn node_side_report_carries_the_minimal_fields() {
    let now = StatTime {
        tv_sec: 1_795_302_539,
        tv_usec: 302_576,
    };
    let mut r = MonitorReport::enabled(now);
    assert_eq!(
        r.string_timestamp.as_deref(),
        Some("2026-11-21 23:08:59.302576")
    );
    let status = BackendStatusJson::new(
        1,
        0,
        StatTime::from(DnetTime {
            tsec: 1_795_302_436,
            tnsec: 658_924_123,
        }),
        0,
        false,
        0,
    );
    assert_eq!(status, backend(&parse(BACKEND_JSON), "2").status);
    let eblob = EblobStats {
        global_stats: Some(GlobalStats::default()),
        summary_stats: Some(BlobStats {
            records_total: 3,
            records_removed: 1,
            base_size: 3000,
            records_removed_size: 1000,
            ..BlobStats::default()
        }),
        config: Some(EblobConfig {
            group: 7,
            blob_size_limit: 1 << 30,
            ..EblobConfig::default()
        }),
        vfs: Some(Vfs {
            bsize: 4096,
            frsize: 4096,
            blocks: 1 << 20,
            bfree: 1 << 19,
            ..Vfs::default()
        }),
        timestamp: Some(now),
        ..EblobStats::default()
    };
    r.backends = Some(
        [(
            "3".to_owned(),
            BackendReport {
                backend_id: 3,
                status,
                backend: Some(eblob),
                ..BackendReport::default()
            },
        )]
        .into(),
    );
    let v: Value = serde_json::from_slice(&inflate_zlib(&encode_monitor_payload(&r))).unwrap();
    for path in [
        "/timestamp/tv_sec",
        "/monitor_status",
        "/backends/3/backend_id",
        "/backends/3/status/state",
        "/backends/3/status/defrag_state",
        "/backends/3/status/read_only",
        "/backends/3/status/delay",
        "/backends/3/backend/config/group",
        "/backends/3/backend/config/blob_flags",
        "/backends/3/backend/config/blob_size_limit",
        "/backends/3/backend/vfs/bsize",
        "/backends/3/backend/vfs/frsize",
        "/backends/3/backend/vfs/blocks",
        "/backends/3/backend/vfs/bfree",
        "/backends/3/backend/summary_stats/base_size",
        "/backends/3/backend/summary_stats/records_total",
        "/backends/3/backend/summary_stats/records_removed",
        "/backends/3/backend/summary_stats/records_removed_size",
        "/backends/3/backend/summary_stats/records_corrupted",
        "/backends/3/backend/global_stats/datasort_start_time",
        "/backends/3/backend/global_stats/datasort_completion_time",
        "/backends/3/backend/global_stats/datasort_completion_status",
    ] {
        assert!(v.pointer(path).is_some(), "{path} missing");
    }
    let stats = decode_monitor_payload(&encode_monitor_payload(&r), 1 << 20)
        .unwrap()
        .backend_stats();
    assert_eq!(stats.len(), 1);
    let s = &stats[0];
    assert_eq!((s.backend_id, s.group), (3, 7));
    assert_eq!(
        (s.vfs_total, s.vfs_avail, s.total_size_limit),
        (4 << 30, 2 << 30, 1 << 30)
    );
    assert!(s.has_usable_stats());
}

#[test]
fn retain_categories_drops_unrequested_sections() {
    let mut r = parse(ALL_JSON);
    r.retain_categories(MonitorCategories::BACKRUNNER);
    assert!(r.commands.is_some() && r.procfs.is_some());
    assert!(r.stats.is_none() && r.io.is_none() && r.top.is_none());
    let b = backend(&r, "1");
    assert!(b.commands.is_some() && b.backend.is_some());
    assert!(b.io.is_none() && b.cache.is_none());

    let mut r = parse(ALL_JSON);
    r.retain_categories(MonitorCategories::BACKEND);
    assert!(r.commands.is_none() && r.procfs.is_none());
    assert!(backend(&r, "1").commands.is_none());
    // What is left is exactly the stock node's answer to a BACKEND-only request,
    // apart from values that changed between the two captures.
    let only_backend = parse(BACKEND_JSON);
    let keys = |r: &MonitorReport| {
        serde_json::to_value(r)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&r), keys(&only_backend));

    let mut r = parse(ALL_JSON);
    r.retain_categories(MonitorCategories::COMMANDS);
    assert!(r.backends.is_none() && r.commands.is_some());
}

#[test]
fn stat_time_formatting() {
    let t = StatTime {
        tv_sec: 0,
        tv_usec: 1,
    };
    assert_eq!(t.to_utc_string(), "1970-01-01 00:00:00.000001");
    let leap = StatTime {
        tv_sec: 951_825_600, // 2000-02-29 12:00:00
        tv_usec: 0,
    };
    assert_eq!(leap.to_utc_string(), "2000-02-29 12:00:00.000000");
    let r = parse(HTTP_JSON);
    assert_eq!(
        r.timestamp.unwrap().to_utc_string(),
        r.string_timestamp.unwrap()
    );
    assert_eq!(backend_state_name(3), "deactivating");
    assert_eq!(backend_state_name(-1), "unknown");
    assert_eq!(defrag_state_name(1), "in-progress");
}

/// Every path (JSON pointer) of a document, objects and leaves.
fn all_pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                all_pointers(child, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                all_pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Eighths survive serde_json's float text round trip exactly (arbitrary floats
        // may move by one ulp without the `float_roundtrip` feature).
        (-1_000_000i64..1_000_000).prop_map(|k| Value::from(k as f64 / 8.0)),
        "[0-9a-zA-Z x.-]{0,10}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_0-9]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    // No regression files: they would land outside this module's directory.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = decode_monitor_payload(&bytes, 1 << 16);
    }

    #[test]
    fn arbitrary_bytes_behind_a_zlib_header_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..4096)
    ) {
        let mut p = vec![0x78, 0x9c];
        p.extend_from_slice(&bytes);
        let _ = decode_monitor_payload(&p, 1 << 16);
    }

    #[test]
    fn compressed_arbitrary_text_never_panics(text in ".{0,512}") {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(text.as_bytes()).unwrap();
        let _ = decode_monitor_payload(&z.finish().unwrap(), 1 << 16);
    }

    /// Any JSON object decodes, however its values are mangled; the result is stable
    /// under serialize → parse.
    #[test]
    fn mangled_capture_documents_still_decode(
        which in 0..3usize,
        edits in prop::collection::vec((any::<prop::sample::Index>(), arb_json()), 1..8),
    ) {
        let json = [ALL_JSON, BACKEND_JSON, HTTP_JSON][which];
        let mut doc: Value = serde_json::from_str(json).unwrap();
        for (index, replacement) in edits {
            let mut pointers = Vec::new();
            all_pointers(&doc, String::new(), &mut pointers);
            let at = index.get(&pointers).clone();
            if at.is_empty() {
                continue; // keep the top level an object
            }
            if let Some(slot) = doc.pointer_mut(&at) {
                *slot = replacement;
            }
        }
        let payload = {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&serde_json::to_vec(&doc).unwrap()).unwrap();
            z.finish().unwrap()
        };
        let r = decode_monitor_payload(&payload, DEFAULT_MAX_INFLATED).unwrap();
        let stats = r.backend_stats();
        for s in &stats {
            let _ = s.free_ratio_after(1 << 20);
            let _ = s.has_usable_stats();
        }
        let again = decode_monitor_payload(&encode_monitor_payload(&r), DEFAULT_MAX_INFLATED).unwrap();
        prop_assert_eq!(&again, &r);
        prop_assert_eq!(again.backend_stats(), stats);
    }

    #[test]
    fn arbitrary_objects_decode(doc in prop::collection::btree_map(
        prop_oneof![
            Just("timestamp".to_owned()), Just("monitor_status".to_owned()),
            Just("commands".to_owned()), Just("backends".to_owned()),
            Just("procfs".to_owned()), "[a-z]{1,6}",
        ],
        arb_json(),
        0..6,
    )) {
        let doc = Value::Object(doc.into_iter().collect());
        let r = parse_monitor_json(&serde_json::to_vec(&doc).unwrap()).unwrap();
        let _ = r.backend_stats();
    }
}
