//! Cross-batch dedup with the state silver keeps in memory: a re-send is dropped when its first
//! copy was committed before a restart (the state is rebuilt from the table), or by another
//! writer while floe was running (the state learns from that writer's snapshot); past its
//! memory budget the state spills to disk and stays exact.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::ops::{Daemon, wait_for};
use crate::support::{Lake, reader_with};

fn uuid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

fn event(n: u32, ts: &str) -> String {
    format!(r#"{{"event_id":"{}","collector_tstamp":"{ts}","event":"page_view","platform":"web"}}"#, uuid(n))
}

/// Write a spool file whole (renamed into place, so the running daemon never sees half of it).
fn spool_file(lake: &Lake, name: &str, lines: &[String]) {
    spool_file_modified(lake, name, lines, None);
}

/// The same, with the file's modification time (a spool record's arrival time) set by `touch -d`.
fn spool_file_modified(lake: &Lake, name: &str, lines: &[String], modified: Option<&str>) {
    std::fs::create_dir_all(lake.spool()).unwrap();
    let tmp = lake.dir.path().join(format!("{name}.tmp"));
    std::fs::write(&tmp, lines.join("\n") + "\n").unwrap();
    if let Some(when) = modified {
        let st = std::process::Command::new("touch").arg("-d").arg(when).arg(&tmp).status().unwrap();
        assert!(st.success());
    }
    std::fs::rename(&tmp, lake.spool().join(name)).unwrap();
}

fn ids_of(lake: &Lake, n: u32) -> u64 {
    lake.query_u64(&format!("SELECT count(*) FROM events WHERE event_id = '{}'", uuid(n)))
}

/// Like [`ids_of`], but `None` while the daemon is still creating its tables.
fn ids_now(lake: &Lake, n: u32) -> Option<u64> {
    let sql = format!("SELECT count(*) AS n FROM events WHERE event_id = '{}'", uuid(n));
    let out = lake.floe().args(["query", "--format", "json", &sql]).output().ok()?;
    let row: Value = serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next()?).ok()?;
    row["n"].as_u64()
}

#[test]
fn a_resend_after_a_restart_is_dropped_against_the_committed_table() {
    let lake = Lake::new();
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    spool_file(&lake, "a.ndjson", &[event(1, &ts), event(2, &ts)]);
    lake.run_ok(&["run", "--until-idle"]);
    // a new process: its dedup state is loaded from the table, not carried over
    spool_file(&lake, "b.ndjson", &[event(1, &ts), event(3, &ts), event(2, &ts)]);
    let summary: Value = serde_json::from_str(&lake.run_ok(&["run", "--until-idle", "--json"])).unwrap();
    assert_eq!(summary["counters"]["dedup_drops"].as_u64(), Some(2), "{summary}");
    assert_eq!(summary["counters"]["silver_rows"].as_u64(), Some(1), "{summary}");
    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), 3);
    for n in 1..=3 {
        assert_eq!(ids_of(&lake, n), 1, "event {n}");
    }
    assert_eq!(lake.query_u64("SELECT count(*) FROM events_bad"), 0);
}

#[test]
fn a_resend_of_a_row_another_writer_committed_is_dropped() {
    let lake = Lake::new();
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    spool_file(&lake, "a.ndjson", &[event(1, &ts)]);
    let _daemon =
        Daemon(lake.floe().args(["run"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn floe"));
    wait_for("the first batch", Duration::from_secs(60), || ids_now(&lake, 1) == Some(1));
    // another writer commits event 7 while floe runs (its dedup state is loaded by now)
    let (db, wh) = (lake.catalog_db(), lake.warehouse());
    let out = reader_with(
        "pyiceberg_append_sql.py",
        &[db.to_str().unwrap(), wh.to_str().unwrap(), ts.as_str(), uuid(7).as_str()],
    );
    assert!(out["snapshot_id"].as_i64().is_some(), "{out}");
    spool_file(&lake, "b.ndjson", &[event(7, &ts), event(8, &ts)]);
    wait_for("the second batch", Duration::from_secs(60), || ids_now(&lake, 8) == Some(1));
    assert_eq!(ids_of(&lake, 7), 1, "the re-send of the other writer's row is dropped");
    let other = lake.query_u64(&format!(
        "SELECT count(*) FROM events WHERE event_id = '{}' AND platform = 'other-writer'",
        uuid(7)
    ));
    assert_eq!(other, 1, "the row kept is the other writer's");
    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), 3);
}

/// Two writers each about to commit one copy of the same event (with silver split by shard,
/// two workers' batches): floe is frozen with its batch written, the other writer commits the
/// event, floe resumes — its commit lands on the moved head only after checking the ids that
/// snapshot added, finds the event, and drops it from the batch's own file (counted as a dedup
/// drop) instead of committing it twice or planning the batch again.
#[test]
fn a_batch_holding_an_event_another_writer_committed_meanwhile_drops_it_at_commit() {
    let lake = Lake::new();
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // the tables exist, and floe's dedup state has something loaded
    spool_file(&lake, "a.ndjson", &[event(1, &ts)]);
    lake.run_ok(&["run", "--until-idle"]);
    spool_file(&lake, "b.ndjson", &[event(7, &ts), event(8, &ts)]);
    let (log, stdout) = (lake.dir.path().join("paused.log"), lake.dir.path().join("paused.json"));
    let mut floe = Daemon(
        lake.floe()
            .args(["run", "--until-idle", "--json"])
            .env("FLOE_TEST_PAUSE_AT", "silver-before-commit")
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn floe"),
    );
    wait_for("floe to stop before its commit", Duration::from_secs(60), || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("pause point silver-before-commit reached")
    });
    std::thread::sleep(Duration::from_millis(300));
    let (db, wh) = (lake.catalog_db(), lake.warehouse());
    let out = reader_with(
        "pyiceberg_append_sql.py",
        &[db.to_str().unwrap(), wh.to_str().unwrap(), ts.as_str(), uuid(7).as_str()],
    );
    assert!(out["snapshot_id"].as_i64().is_some(), "{out}");
    let cont = std::process::Command::new("kill").args(["-CONT", &floe.0.id().to_string()]).status().unwrap();
    assert!(cont.success());
    let status = floe.0.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{text}");
    assert!(
        text.contains("dropped them from the batch's own files"),
        "the commit was checked against the other writer's and resolved:\n{text}"
    );
    let summary: Value = serde_json::from_slice(&std::fs::read(&stdout).unwrap()).unwrap();
    let counters = &summary["counters"];
    assert_eq!(counters["dedup_drops"].as_u64(), Some(1), "{summary}");
    assert_eq!(counters["commit_dedup_drops"].as_u64(), Some(1), "{summary}");
    assert_eq!(counters["silver_rows"].as_u64(), Some(1), "event 8 only: {summary}");
    assert_eq!(counters["batch_conflicts"].as_u64(), Some(0), "the batch was not planned again: {summary}");
    assert_eq!(ids_of(&lake, 7), 1, "event 7 is in the table once");
    assert_eq!(ids_of(&lake, 8), 1);
    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), 3);
}

#[test]
fn bronze_older_than_every_frontier_is_found_by_the_sweep() {
    let lake = Lake::new();
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    spool_file(&lake, "a.ndjson", &[event(1, &ts)]);
    let log = lake.dir.path().join("daemon.log");
    let _daemon = Daemon(
        lake.floe()
            .args(["run"])
            .env("FLOE_SILVER_SWEEP_INTERVAL", "2s")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn floe"),
    );
    // polled every half second: a query process every 100 ms competes with the daemon on a busy
    // machine (CI runs the Kinesis and Glue suites beside this one)
    let wait = |what: &str, id: u32| {
        let start = std::time::Instant::now();
        while ids_now(&lake, id) != Some(1) {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "timed out waiting for {what}; daemon log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    wait("the first batch", 1);
    // a new shard whose records arrived ten days ago: its bronze lands in an hour partition far
    // before the table's frontier, where the per-batch listing does not look
    spool_file_modified(&lake, "old.ndjson", &[event(2, &ts)], Some("10 days ago"));
    wait("the sweep to find the old object", 2);
    let old_day = (chrono::Utc::now() - chrono::Duration::days(10)).format("%Y-%m-%d").to_string();
    let bronze = lake.warehouse().join("bronze");
    let found = walk(&bronze).iter().any(|p| p.contains(&format!("dt={old_day}")) && p.contains("old.ndjson"));
    assert!(found, "the object is in the old day's partition");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

/// Past `silver.dedup_memory` the state moves its older ids to sorted runs on local disk
/// (ADR 0017): the drops stay exact, and the runs go with the process.
#[test]
fn a_dedup_state_past_its_memory_budget_spills_to_disk_and_stays_exact() {
    let lake = Lake::new();
    let report = lake.generate(20_000, 2, 0.08, 0.0, 91);
    let unique = report["unique_valid"].as_u64().unwrap();
    let duplicates = report["duplicates"].as_u64().unwrap();
    assert!(duplicates > 1_000, "the fixture must re-send across many rounds");
    let spill = lake.dir.path().join("spill");
    let out = lake
        .floe()
        .args(["run", "--until-idle", "--json"])
        // ~100 ids in memory, one bronze object a round: every round probes ids on disk
        .env("FLOE_SILVER_DEDUP_MEMORY", "4KiB")
        .env("FLOE_SILVER_DEDUP_SPILL_DIR", &spill)
        .env("FLOE_BRONZE_FLUSH_RECORDS", "500")
        .env("FLOE_SILVER_BATCH_MAX_BYTES", "1KiB")
        .env("RUST_LOG", "warn,floe=info,floe::silver::seen=debug")
        .output()
        .expect("spawn floe");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("ids moved to disk"), "the state went past its budget: {log}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &summary["counters"];
    assert_eq!(c["silver_rows"].as_u64(), Some(unique), "{summary}");
    assert_eq!(c["dedup_drops"].as_u64(), Some(duplicates), "{summary}");
    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), unique);
    assert_eq!(lake.query_u64("SELECT count(DISTINCT event_id) FROM events"), unique);
    let left: Vec<_> = std::fs::read_dir(&spill).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(left.is_empty(), "the runs are removed on exit: {left:?}");
}
