//! A generated spool with known duplicates and malformed records goes through bronze and silver;
//! the counts add up, and pyiceberg and DuckDB read back the same answer.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::{Lake, reader};

fn by_reason(v: &Value) -> BTreeMap<String, u64> {
    v.as_object().unwrap().iter().map(|(k, n)| (k.clone(), n.as_u64().unwrap())).collect()
}

#[test]
fn generated_spool_is_accounted_for_and_read_back_by_independent_readers() {
    let lake = Lake::new();
    let report = lake.generate(20_000, 4, 0.05, 0.05, 7);
    let records = report["records"].as_u64().unwrap();
    let unique = report["unique_valid"].as_u64().unwrap();
    let duplicates = report["duplicates"].as_u64().unwrap();
    let malformed = by_reason(&report["malformed_by_reason"]);
    let malformed_total: u64 = malformed.values().sum();
    assert!(duplicates > 500 && malformed_total > 500, "the fixture must exercise both paths");

    let summary: Value = serde_json::from_str(&lake.run_ok(&["run", "--until-idle", "--json"])).unwrap();
    let c = &summary["counters"];
    assert_eq!(c["records_read"].as_u64().unwrap(), records);
    assert_eq!(c["silver_records_in"].as_u64().unwrap(), records);
    assert_eq!(c["silver_rows"].as_u64().unwrap(), unique);
    assert_eq!(c["dedup_drops"].as_u64().unwrap(), duplicates);
    assert_eq!(by_reason(&c["bad_by_reason"]), malformed);

    // floe's own reading of the tables
    let rows = lake.query_u64("SELECT count(*) FROM events");
    let bad = lake.query_u64("SELECT count(*) FROM events_bad");
    assert_eq!(rows, unique);
    assert_eq!(lake.query_u64("SELECT count(DISTINCT event_id) FROM events"), rows, "no duplicate event id");
    assert_eq!(bad, malformed_total);
    assert_eq!(rows + bad + duplicates, records, "silver + bad + dedup = records in");
    assert_eq!(lake.query_u64("SELECT count(*) FROM events_bad WHERE reason IS NULL OR reason = '' OR raw IS NULL"), 0);
    assert_eq!(
        lake.query_u64("SELECT count(*) FROM events WHERE extra LIKE '%\"tenant\":\"acme\"%'"),
        rows,
        "unknown fields are kept"
    );
    let reasons: BTreeMap<String, u64> = lake
        .query("SELECT reason, count(*) AS n FROM events_bad GROUP BY reason")
        .iter()
        .map(|r| (r["reason"].as_str().unwrap().to_string(), r["n"].as_u64().unwrap()))
        .collect();
    assert_eq!(reasons, malformed);

    // status: the snapshot summaries add up to the same accounting
    let status: Value = serde_json::from_str(&lake.run_ok(&["status", "--json"])).unwrap();
    let events = status["tables"].as_array().unwrap().iter().find(|t| t["table"] == "events").unwrap();
    assert_eq!(events["totals"]["records-in"].as_u64().unwrap(), records);
    assert_eq!(events["totals"]["rows"].as_u64().unwrap(), rows);
    assert_eq!(events["totals"]["dedup-drops"].as_u64().unwrap(), duplicates);
    assert_eq!(events["rows"].as_u64().unwrap(), rows);
    assert!(events["data_files"].as_u64().unwrap() >= 1);
    for shard in status["shards"].as_array().unwrap() {
        assert_eq!(shard["backlog_objects"].as_u64().unwrap(), 0, "{shard}");
        assert_eq!(shard["ended"], true);
        assert!(shard["last_object"].as_str().unwrap().ends_with(".parquet"), "{shard}");
    }

    // pyiceberg, through the same SQLite catalog
    let py = reader("pyiceberg_read.py", &[&lake.catalog_db(), &lake.warehouse().join("warehouse")]);
    assert_eq!(py["events_rows"].as_u64().unwrap(), rows);
    assert_eq!(py["events_distinct_ids"].as_u64().unwrap(), rows);
    assert_eq!(py["bad_rows"].as_u64().unwrap(), bad);
    assert_eq!(by_reason(&py["bad_by_reason"]), malformed);
    assert_eq!(py["watermarks"].as_object().unwrap().len(), 4, "one watermark per shard: {}", py["watermarks"]);

    // DuckDB, on the live data files only (no Iceberg involved)
    let list = lake.dir.path().join("files.json");
    std::fs::write(&list, py["data_files"].to_string()).unwrap();
    let duck = reader("duckdb_read.py", &[&list]);
    assert_eq!(duck["events_rows"].as_u64().unwrap(), rows);
    assert_eq!(duck["events_distinct_ids"].as_u64().unwrap(), rows);
    assert_eq!(duck["null_required"].as_u64().unwrap(), 0);
    assert_eq!(duck["bad_rows"].as_u64().unwrap(), bad);
    assert_eq!(by_reason(&duck["bad_by_reason"]), malformed);
}

/// Many small commits: each append past the 16th small manifest folds them into one
/// (merge-on-append, ADR 0020), so the snapshot a reader plans from lists a bounded number of
/// manifests; pyiceberg and DuckDB still see every row exactly once.
#[test]
fn many_small_commits_keep_the_manifest_list_short_and_every_row_readable() {
    let lake = Lake::new();
    let report = lake.generate(6_000, 2, 0.02, 0.0, 23);
    let unique = report["unique_valid"].as_u64().unwrap();
    let out = lake
        .floe()
        .env("FLOE_SOURCE_READ_RECORDS", "100")
        .env("FLOE_BRONZE_FLUSH_RECORDS", "100")
        .env("FLOE_SILVER_BATCH_MAX_OBJECTS", "1")
        .env("FLOE_SILVER_COMMIT_INTERVAL", "1ms")
        .env("FLOE_SILVER_COMMIT_MAX_BYTES", "1")
        .env("FLOE_SILVER_BATCH_MAX_BYTES", "1")
        .args(["run", "--until-idle", "--json"])
        .output()
        .unwrap();
    crate::support::assert_success(&out, &["run"]);
    let py = reader("pyiceberg_read.py", &[&lake.catalog_db(), &lake.warehouse().join("warehouse")]);
    let snapshots = py["events_snapshots"].as_u64().unwrap();
    assert!(snapshots > 40, "the test needs many commits: {snapshots}\n{}", String::from_utf8_lossy(&out.stdout));
    let manifests = py["events_manifests"].as_u64().unwrap();
    assert!((1..=16).contains(&manifests), "{manifests} manifests after {snapshots} commits");
    assert_eq!(py["events_rows"].as_u64().unwrap(), unique);
    assert_eq!(py["events_distinct_ids"].as_u64().unwrap(), unique);
    // the current snapshot's totals still add up (a merge counts the parent's plus its own)
    let files = py["data_files"]["events"].as_array().unwrap().len();
    let totals = &py["events_summary_totals"];
    assert_eq!(
        (totals["total-records"].clone(), totals["total-data-files"].clone()),
        (json!(unique.to_string()), json!(files.to_string()))
    );
    let list = lake.dir.path().join("files.json");
    std::fs::write(&list, py["data_files"].to_string()).unwrap();
    let duck = reader("duckdb_read.py", &[&list]);
    assert_eq!(duck["events_rows"].as_u64().unwrap(), unique);
    assert_eq!(duck["events_distinct_ids"].as_u64().unwrap(), unique);
    // floe's own reading, through the same catalog pointer, and the snapshot summaries' totals
    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), unique);
    let status: Value = serde_json::from_str(&lake.run_ok(&["status", "--json"])).unwrap();
    let events = status["tables"].as_array().unwrap().iter().find(|t| t["table"] == "events").unwrap();
    assert_eq!(events["rows"].as_u64().unwrap(), unique, "{events}");
    assert_eq!(events["data_files"].as_u64().unwrap(), py["data_files"]["events"].as_array().unwrap().len() as u64);
}

#[test]
fn jsonl_bronze_gives_the_same_tables() {
    let lake = Lake::new();
    let report = lake.generate(5_000, 2, 0.05, 0.05, 11);
    lake.run_ok(&["run", "--until-idle", "--bronze-format", "jsonl"]);
    let objects: Vec<_> = walk(&lake.warehouse().join("bronze"));
    assert!(!objects.is_empty() && objects.iter().all(|p| p.ends_with(".jsonl.gz")), "{objects:?}");
    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), report["unique_valid"].as_u64().unwrap());
    let bad: u64 = by_reason(&report["malformed_by_reason"]).values().sum();
    assert_eq!(lake.query_u64("SELECT count(*) FROM events_bad"), bad);
}

#[test]
fn a_second_run_on_a_drained_spool_changes_nothing() {
    let lake = Lake::new();
    lake.generate(3_000, 2, 0.05, 0.05, 3);
    lake.run_ok(&["run", "--until-idle"]);
    let snapshots = |lake: &Lake| -> u64 {
        let s: Value = serde_json::from_str(&lake.run_ok(&["status", "--json"])).unwrap();
        s["tables"].as_array().unwrap().iter().map(|t| t["snapshots"].as_u64().unwrap()).sum()
    };
    let before = snapshots(&lake);
    let rows = lake.query_u64("SELECT count(*) FROM events");
    lake.run_ok(&["run", "--until-idle"]);
    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), rows);
    assert_eq!(snapshots(&lake), before, "no empty commits when idle");
    // duplicates of events committed earlier are dropped in a later run, too
    let committed: std::collections::HashSet<String> =
        lake.query("SELECT event_id FROM events").iter().map(|r| r["event_id"].as_str().unwrap().to_string()).collect();
    let spool = lake.spool();
    let mut resend: Vec<Vec<u8>> = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for f in std::fs::read_dir(&spool).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        for line in bytes.split(|b| *b == b'\n') {
            let Ok(v) = serde_json::from_slice::<Value>(line) else { continue };
            let Some(id) = v.get("event_id").and_then(|i| i.as_str()) else { continue };
            if resend.len() < 10 && committed.contains(id) && ids.insert(id.to_string()) {
                resend.push(line.to_vec());
            }
        }
    }
    assert_eq!(resend.len(), 10);
    let mut body = resend.join(&b'\n');
    body.push(b'\n');
    std::fs::write(spool.join("resend.ndjson"), body).unwrap();
    let out: Value = serde_json::from_str(&lake.run_ok(&["run", "--until-idle", "--json"])).unwrap();
    assert_eq!(out["counters"]["records_read"].as_u64().unwrap(), 10);
    assert_eq!(out["counters"]["silver_rows"].as_u64().unwrap(), 0);
    assert_eq!(out["counters"]["dedup_drops"].as_u64().unwrap(), 10);
    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), rows);
}

pub fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}
