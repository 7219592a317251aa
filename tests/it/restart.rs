//! SIGKILL the loader mid-run, several times, restart it, and compare with an uninterrupted run
//! on the same spool: same rows, same bad rows, nothing lost, nothing doubled.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{Lake, assert_success};

fn ids(lake: &Lake, sql: &str) -> Vec<String> {
    lake.query(sql).iter().map(|r| r.as_object().unwrap().values().next().unwrap().to_string()).collect()
}

#[test]
fn sigkill_mid_run_then_restart_equals_the_uninterrupted_result() {
    let crashed = Lake::new();
    let report = crashed.generate(40_000, 3, 0.03, 0.03, 99);
    let records = report["records"].as_u64().unwrap();
    // the reference run gets a byte-identical copy of the spool (same file names = same shards)
    let reference = Lake::new();
    std::fs::create_dir_all(reference.spool()).unwrap();
    for f in std::fs::read_dir(crashed.spool()).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), reference.spool().join(f.file_name())).unwrap();
    }
    reference.run_ok(&["run", "--until-idle"]);

    let mut kills = 0;
    for delay_ms in [300u64, 600, 900, 1200, 1600, 2000, 2500, 3000, 4000] {
        let mut child = crashed.floe().args(["run", "--until-idle"]).spawn().expect("spawn floe");
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
            child.wait().unwrap();
            kills += 1;
        } else {
            break;
        }
    }
    assert!(kills >= 2, "the loader finished before it could be killed twice; make the input bigger");
    let out = crashed.floe().args(["run", "--until-idle"]).output().unwrap();
    assert_success(&out, &["run", "--until-idle", "(after kills)"]);

    for sql in [
        "SELECT event_id FROM events ORDER BY event_id",
        "SELECT source_shard_id || ':' || source_sequence_number AS p FROM events_bad ORDER BY p",
        "SELECT reason || ':' || count(*) AS r FROM events_bad GROUP BY reason ORDER BY r",
    ] {
        let a = ids(&crashed, sql);
        let b = ids(&reference, sql);
        assert_eq!(a.len(), b.len(), "{sql}");
        assert!(a == b, "{sql}: results differ");
    }
    // each record is accounted for exactly once across all the interrupted runs' commits
    let status: serde_json::Value = serde_json::from_str(&crashed.run_ok(&["status", "--json"])).unwrap();
    let events = status["tables"].as_array().unwrap().iter().find(|t| t["table"] == "events").unwrap();
    let totals: BTreeMap<String, u64> =
        events["totals"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect();
    assert_eq!(totals["records-in"], records, "{totals:?}");
    assert_eq!(totals["rows"] + totals["dedup-drops"] + totals["rejected"], records, "{totals:?}");
    let rows = crashed.query_u64("SELECT count(*) FROM events");
    let positions =
        crashed.query_u64("SELECT count(DISTINCT source_shard_id || ':' || source_sequence_number) FROM events");
    assert_eq!(rows, positions, "a record was loaded twice");
}

/// Bronze object names without the date folders (the spool copies' modification times, which
/// date the keys, differ between lakes).
fn bronze_objects(lake: &Lake) -> Vec<String> {
    let mut v: Vec<String> = crate::pipeline::walk(&lake.warehouse().join("bronze"))
        .into_iter()
        .map(|p| {
            let parts: Vec<&str> = p.rsplit('/').take(2).collect();
            format!("{}/{}", parts[1], parts[0])
        })
        .collect();
    v.sort();
    v
}

fn copy_spool(from: &Lake, to: &Lake) {
    std::fs::create_dir_all(to.spool()).unwrap();
    for f in std::fs::read_dir(from.spool()).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), to.spool().join(f.file_name())).unwrap();
    }
}

#[test]
fn a_crash_at_each_critical_point_recovers_to_the_uninterrupted_result() {
    let reference = Lake::new();
    reference.generate(12_000, 2, 0.05, 0.05, 1234);
    // object boundaries by record count only, so every run cuts the same objects
    let run = |lake: &Lake, crash_at: Option<&str>| {
        let mut c = lake.floe();
        c.args(["run", "--until-idle"]).env("FLOE_BRONZE_FLUSH_INTERVAL", "1h");
        if let Some(p) = crash_at {
            c.env("FLOE_TEST_CRASH_AT", p);
        }
        c.output().unwrap()
    };
    let out = run(&reference, None);
    assert_success(&out, &["run", "(reference)"]);
    let want_objects = bronze_objects(&reference);
    assert!(want_objects.len() >= 4, "{want_objects:?}");
    for point in [
        floe::crashpoint::BRONZE_DURING_PUT,
        floe::crashpoint::BRONZE_AFTER_PUT,
        floe::crashpoint::SILVER_AFTER_BAD_COMMIT,
        floe::crashpoint::SILVER_AFTER_COMMIT,
    ] {
        let lake = Lake::new();
        copy_spool(&reference, &lake);
        let crashed = run(&lake, Some(point));
        let stderr = String::from_utf8_lossy(&crashed.stderr);
        assert!(
            !crashed.status.success() && stderr.contains(&format!("crash point {point} reached")),
            "{point}: {stderr}"
        );
        assert_success(&run(&lake, None), &["run", "(after crash)", point]);
        assert_eq!(bronze_objects(&lake), want_objects, "{point}: a retry must overwrite, not add, bronze objects");
        for sql in [
            "SELECT event_id FROM events ORDER BY event_id",
            "SELECT source_shard_id || ':' || source_sequence_number AS p FROM events_bad ORDER BY p",
        ] {
            assert!(ids(&lake, sql) == ids(&reference, sql), "{point}: {sql}: results differ");
        }
        let status: serde_json::Value = serde_json::from_str(&lake.run_ok(&["status", "--json"])).unwrap();
        let events = status["tables"].as_array().unwrap().iter().find(|t| t["table"] == "events").unwrap();
        assert_eq!(events["totals"]["records-in"].as_u64().unwrap(), 12_000, "{point}");
    }
}
