//! `catalog.type = "rest"` against rustberg, an Iceberg REST catalog server we did not write
//! (built from crates.io and started on 127.0.0.1 by scripts/test.sh), read back by pyiceberg's
//! own RestCatalog and by DuckDB's iceberg_scan.

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{Lake, assert_success, reader_with};

fn endpoint() -> String {
    std::env::var("FLOE_TEST_REST_ENDPOINT").unwrap_or_else(|_| {
        panic!("FLOE_TEST_REST_ENDPOINT is not set: run the tests with scripts/test.sh, which starts the REST catalog")
    })
}

/// The API key the stand-in was started with (a bearer token).
fn token() -> String {
    std::env::var("FLOE_TEST_REST_TOKEN")
        .unwrap_or_else(|_| panic!("FLOE_TEST_REST_TOKEN is not set: run the tests with scripts/test.sh"))
}

/// What pyiceberg's own RestCatalog sees of namespace `ns`.
fn pyiceberg(ns: &str) -> Value {
    reader_with("pyiceberg_rest.py", &[endpoint(), token(), ns.to_string()])
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `floe` on `lake` committing to namespace `ns` of the REST catalog.
fn floe_rest(lake: &Lake, ns: &str) -> Command {
    let mut c = lake.floe();
    c.env("FLOE_CATALOG_TYPE", "rest")
        .env("FLOE_CATALOG_URI", endpoint())
        .env("FLOE_CATALOG_NAMESPACE", ns)
        .env("FLOE_CATALOG_TOKEN", token());
    c
}

#[test]
fn rest_catalog_tables_are_read_by_pyiceberg_and_duckdb() {
    let lake = Lake::new();
    let ns = format!("floe_rest_{}", std::process::id());
    let report = lake.generate(6_000, 3, 0.05, 0.05, 41);
    let (records, unique, duplicates) = (n(&report["records"]), n(&report["unique_valid"]), n(&report["duplicates"]));

    let init = floe_rest(&lake, &ns).arg("init").output().unwrap();
    assert_success(&init, &["init"]);
    let out = floe_rest(&lake, &ns).args(["run", "--until-idle", "--json"]).output().unwrap();
    assert_success(&out, &["run --until-idle"]);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &summary["counters"];
    assert_eq!(n(&c["records_read"]), records);
    assert_eq!(n(&c["silver_rows"]), unique);
    let bad = n(&c["bad_rows"]);
    assert_eq!(unique + bad + duplicates, records, "silver + bad + dedup = records in");

    // pyiceberg through its own RestCatalog, against the same server
    let py = pyiceberg(&ns);
    assert_eq!(py["tables"], serde_json::json!([format!("{ns}.events"), format!("{ns}.events_bad")]));
    assert_eq!(n(&py["events_rows"]), unique);
    assert_eq!(n(&py["events_distinct_ids"]), unique, "no duplicate event id");
    assert_eq!(n(&py["bad_rows"]), bad);
    assert_eq!(py["watermarks"].as_object().unwrap().len(), 3, "one watermark per shard: {}", py["watermarks"]);

    // DuckDB's iceberg_scan of the metadata file the catalog points at
    let metadata_location = py["metadata_location"].as_str().unwrap().to_string();
    let path = metadata_location.strip_prefix("file://").unwrap_or(&metadata_location);
    let duck = reader_with("duckdb_iceberg.py", &["http://127.0.0.1:9", path]);
    assert_eq!((n(&duck["rows"]), n(&duck["distinct_ids"])), (unique, unique), "{duck}");

    // floe's own query path over the REST catalog agrees
    let out =
        floe_rest(&lake, &ns).args(["query", "--format", "json", "SELECT count(*) AS n FROM events"]).output().unwrap();
    assert_success(&out, &["query"]);
    let row: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(n(&row["n"]), unique);

    // a second run on the drained spool commits nothing
    let out = floe_rest(&lake, &ns).args(["run", "--until-idle"]).output().unwrap();
    assert_success(&out, &["run --until-idle (again)"]);
    let again = pyiceberg(&ns);
    assert_eq!(again["metadata_location"], py["metadata_location"], "nothing committed by a run with nothing to do");

    // a wrong token is refused with the server's reason, before anything is written
    let out =
        floe_rest(&lake, &ns).env("FLOE_CATALOG_TOKEN", "not-the-key").args(["run", "--until-idle"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("401") && stderr.contains("NotAuthorizedException"), "{stderr}");
}

/// Three floe processes on their own spools commit to one REST table at the same time: the
/// server's compare-and-swap refuses a stale commit (409), floe re-checks its watermark and
/// retries, and no batch is lost or doubled.
#[test]
fn concurrent_floe_committers_on_a_rest_table_lose_nothing() {
    const WORKERS: usize = 3;
    let ns = format!("floe_rest_cc_{}", std::process::id());
    let lakes: Vec<Lake> = (0..WORKERS).map(|_| Lake::new()).collect();
    let mut expected_rows = 0;
    for (i, lake) in lakes.iter().enumerate() {
        let report = lake.generate(3_000, 2, 0.0, 0.0, 50 + i as u64);
        expected_rows += n(&report["unique_valid"]);
    }
    assert_success(&floe_rest(&lakes[0], &ns).arg("init").output().unwrap(), &["init"]);
    let worker = |i: usize, lake: &Lake| {
        let mut c = floe_rest(lake, &ns);
        // a commit per batch of one small object: a dozen commits per worker, all at once
        c.env("FLOE_SOURCE_STREAM", format!("w{i}"))
            .env("FLOE_SILVER_BATCH_MAX_OBJECTS", "1")
            .env("FLOE_SILVER_COMMIT_INTERVAL", "0s")
            .env("FLOE_BRONZE_FLUSH_RECORDS", "250")
            .env("FLOE_SOURCE_READ_RECORDS", "250");
        c
    };
    // bronze first, so that the three silver loops start together and overlap throughout
    for (i, lake) in lakes.iter().enumerate() {
        assert_success(&worker(i, lake).args(["run", "--until-idle", "--bronze-only"]).output().unwrap(), &["bronze"]);
    }
    let children: Vec<_> = lakes
        .iter()
        .enumerate()
        .map(|(i, lake)| {
            worker(i, lake)
                .args(["run", "--until-idle", "--silver-only", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut committed = 0;
    let mut conflicts = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_success(&out, &["run --until-idle (concurrent)"]);
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        committed += n(&summary["counters"]["silver_rows"]);
        conflicts += summary["counters"]["commit_conflicts"].as_u64().unwrap_or(0);
    }
    assert_eq!(committed, expected_rows);
    assert!(conflicts > 0, "the committers never collided: the test proves nothing about concurrency");
    let py = pyiceberg(&ns);
    assert_eq!(n(&py["events_rows"]), expected_rows, "rows = acknowledged writes (conflicts: {conflicts})");
    assert_eq!(n(&py["events_distinct_ids"]), expected_rows);
    assert_eq!(py["watermarks"].as_object().unwrap().len(), 2 * WORKERS, "every worker's shards: {}", py["watermarks"]);
}

/// floe's own commits on a REST catalog — compaction's replace snapshot and expiry's snapshot
/// removal — go through the server's `updateTable` and read back in pyiceberg and DuckDB.
#[test]
fn compaction_and_expiry_on_a_rest_catalog() {
    let lake = Lake::new();
    let ns = format!("floe_rest_lake_{}", std::process::id());
    for seed in 1..=3 {
        lake.generate(3_000, 2, 0.0, 0.02, seed);
        let out = floe_rest(&lake, &ns).args(["run", "--until-idle"]).output().unwrap();
        assert_success(&out, &["run --until-idle"]);
    }
    let before = pyiceberg(&ns);
    let out = floe_rest(&lake, &ns).args(["compact", "--json", "--table", "events"]).output().unwrap();
    assert_success(&out, &["compact"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(n(&report[0]["done"]["files_removed"]) >= 4, "{report}");
    let out = floe_rest(&lake, &ns).args(["expire-snapshots", "--older-than", "0s", "--json"]).output().unwrap();
    assert_success(&out, &["expire-snapshots"]);
    let expiry: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(n(&expiry[0]["snapshots_expired"]) >= 3, "{expiry}");

    let after = pyiceberg(&ns);
    assert_eq!(after["events_rows"], before["events_rows"]);
    assert_eq!(after["events_distinct_ids"], before["events_rows"]);
    assert_eq!(after["bad_rows"], before["bad_rows"]);
    assert_eq!(after["watermarks"], before["watermarks"], "the replace snapshot carries the progress");
    let metadata_location = after["metadata_location"].as_str().unwrap().to_string();
    let path = metadata_location.strip_prefix("file://").unwrap_or(&metadata_location);
    let duck = reader_with("duckdb_iceberg.py", &["http://127.0.0.1:9", path]);
    assert_eq!(duck["rows"], before["events_rows"], "{duck}");
    let out = floe_rest(&lake, &ns).args(["run", "--until-idle", "--json"]).output().unwrap();
    assert_success(&out, &["run --until-idle (after)"]);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(n(&summary["counters"]["silver_records_in"]), 0, "{summary}");
}

/// aws_faults.py between floe and the REST catalog: every 4th catalog request is a 500 (which the
/// REST spec makes "commit state unknown" for a commit), a 503, a reset, a late answer, or a
/// commit the server applied whose answer is lost. floe re-checks the table after each and ends
/// with every record once, read back by pyiceberg around the proxy.
#[test]
fn faults_at_the_rest_catalog_lose_nothing_and_double_nothing() {
    let lake = Lake::new();
    let ns = format!("floe_rest_faults_{}", std::process::id());
    let report = lake.generate(4_000, 2, 0.05, 0.05, 43);
    let (records, unique, duplicates) = (n(&report["records"]), n(&report["unique_valid"]), n(&report["duplicates"]));
    assert_success(&floe_rest(&lake, &ns).arg("init").output().unwrap(), &["init"]);
    let (_proxy, through) = crate::faults::start_fault_proxy(&endpoint(), 4);
    // one commit a bronze object, ~16 of each table: enough catalog calls for every fault kind
    let out = floe_rest(&lake, &ns)
        .env("FLOE_CATALOG_URI", &through)
        .env("FLOE_BRONZE_FLUSH_RECORDS", "250")
        .env("FLOE_SILVER_BATCH_MAX_OBJECTS", "1")
        .env("FLOE_SILVER_COMMIT_INTERVAL", "0s")
        .args(["run", "--until-idle", "--json"])
        .output()
        .unwrap();
    assert_success(&out, &["run --until-idle through the fault proxy"]);
    let faults = crate::faults::faults_of(&through);
    for kind in ["server_error", "throttle", "reset", "delay", "lost_answer"] {
        assert!(n(&faults["by_service"]["rest"][kind]) >= 1, "{kind} was injected: {faults}");
    }
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(n(&summary["counters"]["records_read"]), records);

    let py = pyiceberg(&ns);
    assert_eq!(n(&py["events_rows"]), unique, "every valid event once ({faults})");
    assert_eq!(n(&py["events_distinct_ids"]), unique, "no duplicate event id");
    let malformed: u64 = report["malformed_by_reason"].as_object().unwrap().values().map(n).sum();
    assert_eq!(n(&py["bad_rows"]), malformed, "every malformed record one bad row");
    assert_eq!(n(&summary["counters"]["dedup_drops"]), duplicates);
    assert_eq!(unique + malformed + duplicates, records, "silver + bad + dedup = records in");
}
