//! `floe replay` against kinesis-local: bronze objects lost before silver read them come back from
//! the stream under the ordinary keys, silver gets exactly the missing rows, a second replay
//! writes nothing, and what the loader has not passed is left to it.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::kinesis::{bronze_of, exactly_once, expected, floe_on, tool};
use crate::support::{Lake, assert_success, reader};

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `floe` on the stream with small reads and objects: many objects per shard.
fn floe(lake: &Lake, stream: &str) -> std::process::Command {
    let mut c = floe_on(lake, stream);
    c.env("FLOE_BRONZE_FLUSH_RECORDS", "150").env("FLOE_SOURCE_READ_RECORDS", "100");
    c
}

fn replay(lake: &Lake, stream: &str, args: &[&str]) -> Value {
    let mut c = floe(lake, stream);
    c.args(["replay", "--json"]).args(args);
    let out = c.output().unwrap();
    assert_success(&out, &["replay"]);
    serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap()
}

fn sum(report: &Value, field: &str) -> u64 {
    report["shards"].as_array().unwrap().iter().map(|s| n(&s[field])).sum()
}

fn bronze_files(lake: &Lake) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![lake.warehouse().join("bronze")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn silver(lake: &Lake) -> Value {
    reader("pyiceberg_read.py", &[&lake.catalog_db(), &lake.warehouse().join("warehouse")])
}

#[test]
fn replay_restores_lost_bronze_and_only_the_missing_silver_rows() {
    let lake = Lake::new();
    let report = lake.generate(3_000, 1, 0.0, 0.02, 83);
    let records = n(&report["records"]);
    let spool_file = std::fs::read_dir(lake.spool()).unwrap().next().unwrap().unwrap().path();
    let file = spool_file.to_str().unwrap().to_string();
    let stream = format!("floe-replay-{}", std::process::id());
    tool(&["create", &stream, "2"]);
    let from = (chrono::Utc::now() - chrono::Duration::seconds(5)).to_rfc3339();
    let count = records.to_string();
    let mut puts = vec![tool(&["put", &stream, &file, "0", &count, "4"])];
    let floe = || floe(&lake, &stream);
    assert_success(&floe().arg("init").output().unwrap(), &["init"]);
    assert_success(&floe().args(["run", "--bronze-only", "--until-idle"]).output().unwrap(), &["run --bronze-only"]);
    let all = exactly_once(&bronze_of(&lake));
    assert_eq!(all, expected(&puts));

    // every third object is lost before silver reads it (a lifecycle rule, an operator's slip)
    let files = bronze_files(&lake);
    assert!(files.len() >= 12, "{} bronze objects", files.len());
    for f in files.iter().step_by(3) {
        std::fs::remove_file(f).unwrap();
    }
    let lost = all.len() - exactly_once(&bronze_of(&lake)).len();
    assert_success(&floe().args(["run", "--until-idle"]).output().unwrap(), &["run"]);
    let before = silver(&lake);
    let loaded = n(&before["events_rows"]) + n(&before["bad_rows"]);
    assert_eq!(loaded, records - lost as u64, "silver holds what bronze kept");

    // a dry run counts the gaps and changes nothing
    let dry = replay(&lake, &stream, &["--from-timestamp", &from, "--dry-run"]);
    assert_eq!(sum(&dry, "records_written"), lost as u64, "{dry}");
    assert_eq!(sum(&dry, "records_read"), all.len() as u64, "{dry}");
    assert_eq!(bronze_files(&lake).len(), files.len() - files.len().div_ceil(3));

    // the replay writes the gaps back, under keys of the ordinary layout, and silver gets them
    let done = replay(&lake, &stream, &["--from-timestamp", &from]);
    assert_eq!(sum(&done, "records_written"), lost as u64, "{done}");
    assert_eq!(sum(&done, "already_in_bronze"), (all.len() - lost) as u64, "{done}");
    for s in done["shards"].as_array().unwrap() {
        assert_eq!(s["stopped"], "end-of-shard", "the tip ends each shard's window: {done}");
    }
    assert_eq!(exactly_once(&bronze_of(&lake)), all, "every record in bronze once again");
    // the backfill takes what lies below silver's watermarks; a gap at a shard's end lies past
    // them, and the loader's next round takes it
    let tables = done["silver"].as_array().unwrap();
    let restored: u64 = tables.iter().map(|t| n(&t["rows_added"]) + n(&t["bad_rows_added"])).sum();
    let taken: u64 = tables.iter().map(|t| n(&t["records"])).sum();
    assert_eq!(restored, taken, "the backfill adds every record it takes: {done}");
    let run = floe().args(["run", "--until-idle", "--json"]).output().unwrap();
    assert_success(&run, &["run (after the replay)"]);
    let run: Value = serde_json::from_slice(&run.stdout).unwrap();
    let c = &run["counters"];
    assert_eq!(n(&c["silver_rows"]) + n(&c["bad_rows"]), lost as u64 - restored, "{done}\n{run}");
    let after = silver(&lake);
    assert_eq!(n(&after["events_rows"]) + n(&after["bad_rows"]), records, "{done}");
    assert_eq!(after["events_rows"], after["events_distinct_ids"]);

    // a second replay finds everything in bronze: nothing written, nothing added
    let again = replay(&lake, &stream, &["--from-timestamp", &from]);
    assert_eq!(sum(&again, "records_written"), 0, "{again}");
    assert_eq!(sum(&again, "already_in_bronze"), all.len() as u64, "{again}");
    assert!(again["silver"].as_array().unwrap().is_empty(), "{again}");

    // objects lost after silver read them come back to bronze, and silver doubles nothing
    for f in bronze_files(&lake).iter().skip(1).step_by(4) {
        std::fs::remove_file(f).unwrap();
    }
    let relost = all.len() - exactly_once(&bronze_of(&lake)).len();
    let back = replay(&lake, &stream, &["--from-timestamp", &from]);
    assert_eq!(sum(&back, "records_written"), relost as u64, "{back}");
    assert_eq!(exactly_once(&bronze_of(&lake)), all);
    let t = &back["silver"][0];
    assert_eq!((n(&t["rows_added"]), n(&t["bad_rows_added"])), (0, 0), "{back}");
    assert_eq!(n(&t["dedup_drops"]) + n(&t["bad_rows_present"]), relost as u64, "{back}");
    let same = silver(&lake);
    assert_eq!((&same["events_rows"], &same["bad_rows"]), (&after["events_rows"], &after["bad_rows"]));

    // records the loader has not read yet are its own: a replay leaves them, the loader takes them
    let more = tool(&["put", &stream, &file, "0", "400", "0"]);
    let tail = replay(&lake, &stream, &["--from-timestamp", &from]);
    assert_eq!(sum(&tail, "records_written"), 0, "{tail}");
    let stops: Vec<&Value> = tail["shards"].as_array().unwrap().iter().map(|s| &s["stopped"]).collect();
    assert!(stops.iter().any(|s| *s == "checkpoint"), "{tail}");
    puts.push(more);
    assert_success(&floe().args(["run", "--until-idle"]).output().unwrap(), &["run (the tail)"]);
    assert_eq!(exactly_once(&bronze_of(&lake)), expected(&puts), "bronze: every record once");
    let end = silver(&lake);
    let ids: BTreeSet<&str> = end["event_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(ids.len() as u64, n(&end["events_rows"]), "the re-sent tail is a dedup drop, not a second row");
    assert_eq!(n(&end["events_rows"]), n(&after["events_rows"]));

    // a window before anything arrived holds nothing; a reversed one and an unknown shard are
    // clear errors
    let early = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    let none = replay(&lake, &stream, &["--from-timestamp", &early, "--to-timestamp", &early_plus(&early)]);
    assert_eq!(sum(&none, "records_read"), 0, "{none}");
    let bad =
        floe_on(&lake, &stream).args(["replay", "--from-timestamp", &from, "--to-timestamp", &early]).output().unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.matches("is not after --from-timestamp").count(), 1, "{err}");
    let bad = floe_on(&lake, &stream).args(["replay", "--from-timestamp", &from, "--shard", "nope"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("not a shard of"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

fn early_plus(t: &str) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(t).unwrap() + chrono::Duration::minutes(10);
    t.to_rfc3339()
}
