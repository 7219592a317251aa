//! Lake operations on the tables floe loads: compaction, snapshot expiry, orphan removal and time
//! travel — each read back by pyiceberg and DuckDB, and each beside the loader.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::ops::{Daemon, wait_for};
use crate::support::{AwsLake, Lake, reader, reader_with};

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn py_read(lake: &Lake) -> Value {
    reader("pyiceberg_read.py", &[&lake.catalog_db(), &lake.warehouse().join("warehouse")])
}

/// Rows per day and distinct ids per day of `events`, through floe's own query path.
fn per_day(lake: &Lake, as_of: Option<&str>) -> Vec<Value> {
    let sql = "SELECT CAST(date_trunc('day', collector_tstamp) AS VARCHAR) AS day, count(*) AS n, \
               count(DISTINCT event_id) AS ids FROM events GROUP BY 1 ORDER BY 1";
    let mut args = vec!["query", "--format", "json", sql];
    if let Some(a) = as_of {
        args.extend(["--as-of", a]);
    }
    lake.run_ok(&args).lines().filter(|l| !l.is_empty()).map(json).collect()
}

fn events_snapshot(lake: &Lake) -> i64 {
    let status = json(&lake.run_ok(&["status", "--json"]));
    status["tables"].as_array().unwrap().iter().find(|t| t["table"] == "events").unwrap()["snapshot_id"]
        .as_i64()
        .unwrap()
}

/// Every metadata file of both tables, with its size.
fn metadata_files(lake: &Lake) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for table in ["events", "events_bad"] {
        let dir = lake.warehouse().join("warehouse/floe").join(table).join("metadata");
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(".metadata.json") {
                out.insert(format!("{table}/{name}"), e.metadata().unwrap().len());
            }
        }
    }
    out
}

/// Three loads of a few thousand events: several small files in every day partition.
fn loaded_lake() -> Lake {
    let lake = Lake::new();
    for seed in 1..=3 {
        lake.generate(4_000, 2, 0.02, 0.02, seed);
        lake.run_ok(&["run", "--until-idle"]);
    }
    lake
}

#[test]
fn compaction_keeps_every_row_and_the_progress_and_time_travel_sees_before_it() {
    let lake = loaded_lake();
    let before = py_read(&lake);
    let days_before = per_day(&lake, None);
    let snapshot_before = events_snapshot(&lake);
    let files_before = before["data_files"]["events"].as_array().unwrap().len();
    assert!(files_before >= 6, "the loads left small files to compact: {files_before}");

    let plan = json(&lake.run_ok(&["compact", "--dry-run", "--json"]));
    assert!(plan[0]["done"].is_null(), "a dry run changes nothing: {plan}");
    assert_eq!(events_snapshot(&lake), snapshot_before);

    let metadata_before = metadata_files(&lake);
    let report = json(&lake.run_ok(&["compact", "--json"]));
    let metadata_after = metadata_files(&lake);
    for (name, size) in &metadata_before {
        assert_eq!(metadata_after.get(name), Some(size), "the compaction left earlier metadata file {name} as it was");
    }
    assert_eq!(metadata_after.len(), metadata_before.len() + 2, "one new metadata file per table");
    let events = report.as_array().unwrap().iter().find(|t| t["table"] == "floe.events").unwrap();
    assert_eq!(n(&events["done"]["files_removed"]), n(&events["planned_input_files"]), "{report}");

    let after = py_read(&lake);
    let files_after = after["data_files"]["events"].as_array().unwrap().len();
    assert!(files_after < files_before, "{files_before} → {files_after} files");
    assert_eq!(files_after, days_before.len(), "one file per day partition");
    assert_eq!(after["event_ids"], before["event_ids"], "the same ids, each once");
    assert_eq!(after["bad_rows"], before["bad_rows"]);
    assert_eq!(after["bad_by_reason"], before["bad_by_reason"]);
    assert_eq!(after["watermarks"], before["watermarks"], "the replace snapshot carries the progress");
    assert_eq!(per_day(&lake, None), days_before, "the same counts per partition");

    // DuckDB on the live files alone
    let list = lake.dir.path().join("files.json");
    std::fs::write(&list, after["data_files"].to_string()).unwrap();
    let duck = reader("duckdb_read.py", &[&list]);
    assert_eq!(duck["events_rows"], before["events_rows"]);
    assert_eq!(duck["events_distinct_ids"], before["events_rows"]);

    // time travel: the snapshot before the compaction, by id and by time
    assert_eq!(per_day(&lake, Some(&snapshot_before.to_string())), days_before);
    let then = chrono::Utc::now().to_rfc3339();
    assert_eq!(per_day(&lake, Some(&then)), days_before);
    let out = lake.floe().args(["query", "--as-of", "12345", "SELECT 1"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no table has snapshot 12345"));

    // a restart reads nothing again, and a second compaction finds nothing to do
    let summary = json(&lake.run_ok(&["run", "--until-idle", "--json"]));
    assert_eq!(n(&summary["counters"]["silver_records_in"]), 0, "{summary}");
    let again = json(&lake.run_ok(&["compact", "--json"]));
    assert!(again.as_array().unwrap().iter().all(|t| t["done"].is_null()), "{again}");
}

#[test]
fn expiry_and_orphan_removal_never_delete_what_the_current_snapshot_needs() {
    let lake = loaded_lake();
    lake.run_ok(&["compact"]);
    let before = py_read(&lake);
    let snapshot_before_expiry = events_snapshot(&lake);

    let dry = json(&lake.run_ok(&["expire-snapshots", "--older-than", "0s", "--dry-run", "--json"]));
    assert!(n(&dry[0]["snapshots_expired"]) >= 3, "{dry}");
    assert_eq!(py_read(&lake)["data_files"], before["data_files"]);

    let report = json(&lake.run_ok(&["expire-snapshots", "--older-than", "0s", "--json"]));
    let events = &report[0];
    assert_eq!(n(&events["snapshots_expired"]), n(&events["snapshots_before"]) - 1, "{report}");
    assert!(n(&events["data_files_deleted"]) >= 6, "the compacted inputs are gone: {report}");
    let after = py_read(&lake);
    assert_eq!(after["event_ids"], before["event_ids"], "every row still reads");
    assert_eq!(after["bad_rows"], before["bad_rows"]);
    assert_eq!(after["watermarks"], before["watermarks"]);
    for f in after["data_files"]["events"].as_array().unwrap() {
        assert!(Path::new(f.as_str().unwrap()).exists(), "{f}");
    }
    // the newest snapshot, kept, is still readable by time travel
    assert_eq!(per_day(&lake, Some(&snapshot_before_expiry.to_string())).len(), per_day(&lake, None).len());

    // orphans: an old one is removed, a young one (a commit in flight) is left alone
    let data = lake.warehouse().join("warehouse/floe/events/data");
    let old = data.join("orphan-old.parquet");
    let young = data.join("orphan-young.parquet");
    std::fs::write(&old, b"left by a failed write").unwrap();
    std::fs::write(&young, b"a commit in flight").unwrap();
    let touched = std::process::Command::new("touch").args(["-d", "3 days ago"]).arg(&old).status().unwrap();
    assert!(touched.success());
    let dry = json(&lake.run_ok(&["remove-orphans", "--older-than", "1d", "--table", "events", "--dry-run", "--json"]));
    assert_eq!(n(&dry[0]["orphans"]), 1, "{dry}");
    assert!(old.exists());
    let report = json(&lake.run_ok(&["remove-orphans", "--older-than", "1d", "--json"]));
    assert_eq!(n(&report[0]["orphans"]), 1, "{report}");
    assert!(n(&report[0]["too_young"]) >= 1, "{report}");
    assert!(!old.exists() && young.exists());
    let after = py_read(&lake);
    assert_eq!(after["event_ids"], before["event_ids"]);

    // bad operator input: a clear message, printed once
    let out = lake.floe().args(["compact", "--table", "nope"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--table nope: no such floe table"), "{err}");
    let out = lake.floe().args(["expire-snapshots", "--older-than", "soon"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("expected an age like 7d"), "{err}");
}

/// Compaction committing again and again while the loader commits: every row once, no failed
/// loader commit. `FLOE_TEST_INTERLEAVINGS` sets how many compactions (50 by default).
#[test]
fn compaction_beside_a_running_loader_loses_and_doubles_nothing() {
    let rounds: usize = std::env::var("FLOE_TEST_INTERLEAVINGS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let lake = Lake::new();
    std::fs::create_dir_all(lake.spool()).unwrap();
    let log = std::fs::File::create(lake.dir.path().join("daemon.log")).unwrap();
    let _daemon = Daemon(
        lake.floe()
            .args(["run"])
            .env("FLOE_SILVER_COMMIT_INTERVAL", "0s")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let per_file = 50;
    let mut compactions = 0;
    for round in 0..rounds {
        let lines: Vec<String> = (0..per_file)
            .map(|i| {
                format!(
                    r#"{{"event_id":"00000000-0000-4000-8000-{:012x}","collector_tstamp":"{ts}","event":"page_view","platform":"web"}}"#,
                    round * per_file + i
                )
            })
            .collect();
        let tmp = lake.dir.path().join("next.tmp");
        std::fs::write(&tmp, lines.join("\n") + "\n").unwrap();
        std::fs::rename(&tmp, lake.spool().join(format!("f{round:03}.ndjson"))).unwrap();
        // the rows of the round before are in (a small file the compaction can take), this
        // round's are being loaded while it runs
        let loaded = (round * per_file) as u64;
        let waited = std::time::Instant::now();
        while count(&lake) < loaded {
            if waited.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(lake.dir.path().join("daemon.log")).unwrap_or_default();
                let q = lake.floe().args(["query", "SELECT count(*) FROM events"]).output().unwrap();
                panic!(
                    "round {round}: the loader did not load the round before in 60 s; query: {} {}\nloader log:\n{log}",
                    String::from_utf8_lossy(&q.stdout),
                    String::from_utf8_lossy(&q.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = lake.floe().args(["compact", "--json", "--quiet"]).output().unwrap();
        if out.status.success() {
            let report = json(&String::from_utf8_lossy(&out.stdout));
            compactions += report.as_array().unwrap().iter().filter(|t| !t["done"].is_null()).count();
        } else {
            // the table may not exist yet on the very first round; anything else is a failure
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(round == 0, "compaction {round} failed: {err}");
        }
    }
    let total = (rounds * per_file) as u64;
    wait_for("the loader to load every file", Duration::from_secs(180), || count(&lake) >= total);
    std::thread::sleep(Duration::from_secs(1));
    let py = py_read(&lake);
    assert_eq!(n(&py["events_rows"]), total, "nothing lost, nothing doubled");
    assert_eq!(n(&py["events_distinct_ids"]), total);
    // a round whose file landed before the compaction of the round before planned has one file
    // left, nothing to compact: about half the rounds are like that
    assert!(compactions >= rounds / 4, "only {compactions} of {rounds} compactions rewrote files");
    let log = std::fs::read_to_string(lake.dir.path().join("daemon.log")).unwrap();
    assert!(!log.contains("ERROR") && !log.contains("batch failed"), "the loader had failures:\n{log}");
}

/// Rows in `events` (0 while the tables are still being created).
fn count(lake: &Lake) -> u64 {
    lake.floe()
        .args(["query", "--format", "csv", "SELECT count(*) FROM events"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().nth(1).and_then(|l| l.trim().parse::<u64>().ok()))
        .unwrap_or(0)
}

#[test]
fn progress_survives_another_engine_rewriting_the_table_and_expiring_every_floe_snapshot() {
    let lake = Lake::new();
    let report = lake.generate(3_000, 2, 0.0, 0.0, 7);
    lake.run_ok(&["run", "--until-idle"]);
    let rows = n(&report["records"]);
    let before = py_read(&lake);
    let other = reader_with(
        "pyiceberg_rewrite_expire_sql.py",
        &[lake.catalog_db().as_os_str(), lake.warehouse().join("warehouse").as_os_str()],
    );
    assert_eq!(other["snapshots"].as_array().unwrap().len(), 1, "{other}");
    assert!(other["head_summary"].get("floe.progress").is_none(), "the head is the other engine's: {other}");

    // the spool is read again from the start (a lost checkpoint): silver must still know where
    // each shard is in the table
    std::fs::remove_file(lake.warehouse().join("checkpoints.json")).unwrap();
    let summary = json(&lake.run_ok(&["run", "--until-idle", "--json"]));
    let c = &summary["counters"];
    assert_eq!(n(&c["silver_rows"]), 0, "nothing loaded twice: {summary}");
    assert_eq!(n(&c["dedup_drops"]), 0, "nothing even read again: {summary}");
    assert_eq!(n(&c["silver_records_in"]), 0, "nothing even read again: {summary}");
    let after = py_read(&lake);
    assert_eq!(n(&after["events_rows"]), rows);
    assert_eq!(after["event_ids"], before["event_ids"]);
}

#[test]
fn compaction_expiry_and_orphans_on_glue() {
    let aws = AwsLake::new("lake");
    for seed in 1..=3 {
        aws.lake.generate(3_000, 2, 0.0, 0.02, seed);
        aws.run_ok(&["run", "--until-idle"]);
    }
    let before = aws.pyiceberg(None);
    let report = json(&aws.run_ok(&["compact", "--json", "--table", "events"]));
    assert!(n(&report[0]["done"]["files_removed"]) >= 4, "{report}");
    let expiry = json(&aws.run_ok(&["expire-snapshots", "--older-than", "0s", "--table", "events", "--json"]));
    assert!(n(&expiry[0]["data_files_deleted"]) >= 4, "{expiry}");
    let orphans = json(&aws.run_ok(&["remove-orphans", "--older-than", "0s", "--table", "events", "--json"]));
    assert_eq!(n(&orphans[0]["delete_failures"]), 0, "{orphans}");

    let after = aws.pyiceberg(None);
    assert_eq!(after["events_rows"], before["events_rows"]);
    assert_eq!(after["events_distinct_ids"], before["events_rows"]);
    assert_eq!(after["bad_rows"], before["bad_rows"]);
    assert_eq!(after["watermarks"], before["watermarks"]);
    let location = after["metadata_location"].as_str().unwrap().to_string();
    let duck = aws.duckdb(&location, None);
    assert_eq!(duck["rows"], before["events_rows"], "{duck}");
    assert_eq!(duck["distinct_ids"], before["events_rows"], "{duck}");
    let summary = json(&aws.run_ok(&["run", "--until-idle", "--json"]));
    assert_eq!(n(&summary["counters"]["silver_records_in"]), 0, "{summary}");
}

/// `floe run` compacts between its own commits once `compaction.interval` has passed.
#[test]
fn the_running_loader_compacts_between_its_commits() {
    let lake = Lake::new();
    std::fs::create_dir_all(lake.spool()).unwrap();
    let log_path = lake.dir.path().join("daemon.log");
    let _daemon = Daemon(
        lake.floe()
            .args(["run"])
            .env("FLOE_SILVER_COMMIT_INTERVAL", "0s")
            .env("FLOE_COMPACTION_INTERVAL", "2s")
            .env("FLOE_COMPACTION_MIN_FILES", "3")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let files = 8;
    for f in 0..files {
        let lines: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    r#"{{"event_id":"00000000-0000-4000-8000-{:012x}","collector_tstamp":"{ts}","event":"page_view","platform":"web"}}"#,
                    f * 40 + i
                )
            })
            .collect();
        let tmp = lake.dir.path().join("next.tmp");
        std::fs::write(&tmp, lines.join("\n") + "\n").unwrap();
        std::fs::rename(&tmp, lake.spool().join(format!("f{f:02}.ndjson"))).unwrap();
        std::thread::sleep(Duration::from_millis(400));
    }
    let total = (files * 40) as u64;
    wait_for("the loader to load and compact", Duration::from_secs(120), || {
        std::fs::read_to_string(&log_path).unwrap_or_default().contains("compacted") && count(&lake) >= total
    });
    std::thread::sleep(Duration::from_secs(1));
    let py = py_read(&lake);
    assert_eq!(n(&py["events_rows"]), total);
    assert_eq!(n(&py["events_distinct_ids"]), total);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains("ERROR") && !log.contains("failed"), "{log}");
}

#[test]
fn backfill_fills_a_deleted_day_and_overwrite_replaces_exactly_its_days() {
    let lake = Lake::new();
    lake.generate(8_000, 2, 0.02, 0.02, 3);
    lake.run_ok(&["run", "--until-idle"]);
    let days = per_day(&lake, None);
    let before = py_read(&lake);
    let day = |i: usize| days[i]["day"].as_str().unwrap()[..10].to_string();
    let (first, last) = (day(0), day(days.len() - 1));

    // a complete table: nothing to add
    let r = json(&lake.run_ok(&["backfill", "--from", &first, "--to", &last, "--json"]));
    assert_eq!(n(&r[0]["rows_added"]), 0, "{r}");
    assert_eq!(n(&r[0]["bad_rows_added"]), 0, "{r}");
    assert_eq!(py_read(&lake)["event_ids"], before["event_ids"]);

    // another writer deletes a whole day; the backfill brings exactly it back
    let gone = day(1);
    let next = (chrono::NaiveDate::parse_from_str(&gone, "%Y-%m-%d").unwrap() + chrono::Days::new(1)).to_string();
    let filter = format!("collector_tstamp >= '{gone}T00:00:00+00:00' and collector_tstamp < '{next}T00:00:00+00:00'");
    reader_with(
        "pyiceberg_delete_sql.py",
        &[lake.catalog_db().as_os_str(), lake.warehouse().join("warehouse").as_os_str(), filter.as_ref()],
    );
    assert_eq!(per_day(&lake, None).len(), days.len() - 1, "the day is gone");
    let dry = json(&lake.run_ok(&["backfill", "--from", &gone, "--to", &gone, "--dry-run", "--json"]));
    assert_eq!(dry[0]["rows_added"], days[1]["n"], "{dry}");
    assert_eq!(per_day(&lake, None).len(), days.len() - 1, "a dry run adds nothing");
    let r = json(&lake.run_ok(&["backfill", "--from", &gone, "--to", &gone, "--json"]));
    assert_eq!(r[0]["rows_added"], days[1]["n"], "{r}");
    assert_eq!(per_day(&lake, None), days);
    assert_eq!(py_read(&lake)["event_ids"], before["event_ids"]);

    // a changed transform, re-run over one day with --overwrite: that day changes, no other
    let sql_dir = lake.dir.path().join("sql");
    std::fs::create_dir_all(&sql_dir).unwrap();
    let sql = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/events.sql")).unwrap();
    let changed = sql.replace("lower(trim(platform))", "upper(trim(platform))");
    assert_ne!(sql, changed);
    std::fs::write(sql_dir.join("events.sql"), changed).unwrap();
    let target = day(2);
    let out = lake
        .floe()
        .env("FLOE_SILVER_SQL_DIR", &sql_dir)
        .args(["backfill", "--from", &target, "--to", &target, "--overwrite", "--json"])
        .output()
        .unwrap();
    crate::support::assert_success(&out, &["backfill --overwrite"]);
    let r = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(r[0]["rows_added"], days[2]["n"], "{r}");
    assert_eq!(n(&r[0]["ids_no_longer_present"]), 0, "{r}");
    assert!(n(&r[0]["files_replaced"]) >= 1, "{r}");
    assert_eq!(per_day(&lake, None), days, "the same rows per day");
    assert_eq!(py_read(&lake)["event_ids"], before["event_ids"], "the same ids, each once");
    let upper = lake.query(
        "SELECT CAST(date_trunc('day', collector_tstamp) AS VARCHAR) AS day, count(*) AS n FROM events \
         WHERE platform = upper(platform) GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(upper.len(), 1, "only the overwritten day has the new transform's rows: {upper:?}");
    assert_eq!((&upper[0]["day"], &upper[0]["n"]), (&days[2]["day"], &days[2]["n"]));
    // the loader's progress is untouched: a restart reads nothing
    let summary = json(&lake.run_ok(&["run", "--until-idle", "--json"]));
    assert_eq!(n(&summary["counters"]["silver_records_in"]), 0, "{summary}");
    // bad operator input
    let out = lake.floe().args(["backfill", "--from", "2026-12-02", "--to", "2026-12-01"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("is after --to"));
    let out = lake.floe().args(["backfill", "--from", "yesterday", "--to", "2026-12-01"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected a day like"));
}

#[test]
fn forget_leaves_no_matching_row_in_any_file_and_touches_nothing_else() {
    let lake = Lake::new();
    lake.generate(3_000, 2, 0.0, 0.0, 9);
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let who = "u-erase-me-7f3a";
    let event = |n: u32, user: &str| {
        format!(
            r#"{{"event_id":"00000000-0000-4000-9000-{n:012x}","collector_tstamp":"{ts}","event":"page_view","platform":"web","user_id":"{user}"}}"#
        )
    };
    let mut lines: Vec<String> = (0..3).map(|i| event(i, who)).collect();
    lines.extend((10..20).map(|i| event(i, "u-keep")));
    // a bad row holding the person's id in its raw bytes
    lines.push(format!(
        r#"{{"event_id":"not-a-uuid","collector_tstamp":"{ts}","event":"x","platform":"web","user_id":"{who}"}}"#
    ));
    std::fs::write(lake.spool().join("people.ndjson"), lines.join("\n") + "\n").unwrap();
    lake.run_ok(&["run", "--until-idle"]);
    lake.run_ok(&["compact"]);
    let rows = lake.query_u64("SELECT count(*) FROM events");
    let bad = lake.query_u64("SELECT count(*) FROM events_bad");
    let before = py_read(&lake);
    let holders = |dir: &Path| -> Vec<Value> {
        reader_with("find_value.py", &[dir.as_os_str(), who.as_ref()]).as_array().unwrap().clone()
    };
    let (tables_dir, bronze_dir) = (lake.warehouse().join("warehouse"), lake.warehouse().join("bronze"));
    let before_holders = holders(&tables_dir);
    assert!(!before_holders.is_empty() && !holders(&bronze_dir).is_empty(), "the person is in the lake");
    // metrics mode `none` for user_id: the manifests hold no bound naming them, even before
    assert!(
        before_holders.iter().all(|p| p.as_str().unwrap().ends_with(".parquet")),
        "only data files hold the person: {before_holders:?}"
    );

    let dry = json(&lake.run_ok(&["forget", "--where", &format!("user_id = '{who}'"), "--dry-run", "--json"]));
    assert_eq!(n(&dry["tables"][0]["rows_removed"]), 3, "{dry}");
    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), rows, "a dry run removes nothing");

    let report = json(&lake.run_ok(&["forget", "--where", &format!("user_id = '{who}'"), "--json"]));
    assert_eq!(n(&report["tables"][0]["rows_removed"]), 3, "{report}");
    assert_eq!(n(&report["tables"][1]["rows_removed"]), 1, "the bad row: {report}");
    assert!(n(&report["bronze"]["records_removed"]) >= 4, "{report}");
    assert_eq!(lake.query_u64(&format!("SELECT count(*) FROM events WHERE user_id = '{who}'")), 0);
    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), rows - 3, "other rows untouched");
    assert_eq!(lake.query_u64("SELECT count(*) FROM events_bad"), bad - 1);
    assert_eq!(lake.query_u64("SELECT count(*) FROM events WHERE user_id = 'u-keep'"), 10);
    let after = py_read(&lake);
    let gone: Vec<String> = (0..3u32).map(|i| format!("00000000-0000-4000-9000-{i:012x}")).collect();
    let mut expected: Vec<Value> =
        before["event_ids"].as_array().unwrap().iter().filter(|v| !gone.iter().any(|g| v == &g)).cloned().collect();
    expected.sort_by_key(|v| v.as_str().unwrap().to_string());
    assert_eq!(after["event_ids"].as_array().unwrap(), &expected);
    assert_eq!(after["watermarks"], before["watermarks"], "progress untouched");
    assert_eq!(holders(&tables_dir), Vec::<Value>::new(), "no table file, manifest or metadata file holds the person");
    assert_eq!(holders(&bronze_dir), Vec::<Value>::new(), "no bronze object holds the person");
    // and the loader reads nothing again
    let summary = json(&lake.run_ok(&["run", "--until-idle", "--json"]));
    assert_eq!(n(&summary["counters"]["silver_records_in"]), 0, "{summary}");
    // a condition floe cannot apply is refused
    let out = lake.floe().args(["forget", "--where", "user_id > 'a'"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("expected column = 'value'"), "{err}");
}

#[test]
fn explain_finds_the_row_its_bronze_records_the_dedup_drop_and_the_bad_row() {
    let lake = Lake::new();
    std::fs::create_dir_all(lake.spool()).unwrap();
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let id = "00000000-0000-4000-a000-00000000e001";
    let bad_id = "00000000-0000-4000-a000-00000000e0ba";
    let line = |id: &str, when: &str| {
        format!(r#"{{"event_id":"{id}","collector_tstamp":"{when}","event":"page_view","platform":"web"}}"#)
    };
    let lines = [line(id, &ts), line(bad_id, "not a time"), line(id, &ts)];
    std::fs::write(lake.spool().join("a.ndjson"), lines.join("\n") + "\n").unwrap();
    lake.run_ok(&["run", "--until-idle"]);

    let e = json(&lake.run_ok(&["explain", id, "--json"]));
    assert_eq!(e["rows"].as_array().unwrap().len(), 1, "{e}");
    assert!(e["rows"][0]["data_file"].as_str().unwrap().ends_with(".parquet"), "{e}");
    assert!(e["rows"][0]["added_by_snapshot"].as_i64().is_some(), "{e}");
    let outcomes: Vec<&str> = e["bronze"].as_array().unwrap().iter().map(|b| b["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["row", "dedup_drop"], "{e}");
    assert_eq!(e["bronze"][0]["position"], 0);
    assert_eq!(e["bronze"][1]["position"], 2);

    let b = json(&lake.run_ok(&["explain", bad_id, "--json"]));
    assert!(b["rows"].as_array().unwrap().is_empty(), "{b}");
    assert_eq!(b["bad_rows"][0]["reason"], "invalid_timestamp", "{b}");
    assert_eq!(b["bronze"][0]["outcome"], "bad_row", "{b}");
    let text = lake.run_ok(&["explain", bad_id]);
    assert!(text.contains("bad row in floe.events_bad: invalid_timestamp"), "{text}");
}

#[test]
fn time_travel_sees_an_erased_row_until_the_erasure_history_is_expired() {
    let lake = Lake::new();
    std::fs::create_dir_all(lake.spool()).unwrap();
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let lines: Vec<String> = (0..6u32)
        .map(|i| {
            let user = if i < 3 { "u-tt" } else { "u-other" };
            format!(
                r#"{{"event_id":"00000000-0000-4000-b000-{i:012x}","collector_tstamp":"{ts}","event":"page_view","platform":"web","user_id":"{user}"}}"#
            )
        })
        .collect();
    std::fs::write(lake.spool().join("tt.ndjson"), lines.join("\n") + "\n").unwrap();
    lake.run_ok(&["run", "--until-idle"]);
    let before = events_snapshot(&lake).to_string();
    lake.run_ok(&["forget", "--where", "user_id = 'u-tt'", "--keep-history", "--no-bronze"]);
    let count_as_of = |as_of: &str| {
        let out = lake.run_ok(&[
            "query",
            "--as-of",
            as_of,
            "--format",
            "csv",
            "SELECT count(*) FROM events WHERE user_id = 'u-tt'",
        ]);
        out.lines().nth(1).unwrap().trim().parse::<u64>().unwrap()
    };
    assert_eq!(lake.query_u64("SELECT count(*) FROM events WHERE user_id = 'u-tt'"), 0);
    assert_eq!(count_as_of(&before), 3, "the erasure's history is still there with --keep-history");
    lake.run_ok(&["expire-snapshots", "--older-than", "0s"]);
    let out = lake.floe().args(["query", "--as-of", &before, "SELECT 1"]).output().unwrap();
    assert!(!out.status.success(), "the snapshot before the erasure is gone after expiry");
    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), 3);
}

/// A JSONL.gz archive imported by a run that crashes after its first bronze object, then by one
/// that crashes after its first silver commit, then to the end: each record exactly once.
#[test]
fn an_import_crashed_half_way_and_resumed_loads_each_record_once() {
    let lake = Lake::new();
    let report = lake.generate(9_000, 3, 0.02, 0.02, 17);
    let archive = lake.dir.path().join("archive");
    std::fs::create_dir_all(&archive).unwrap();
    for (i, e) in std::fs::read_dir(lake.spool()).unwrap().enumerate() {
        let path = e.unwrap().path();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &std::fs::read(&path).unwrap()).unwrap();
        std::fs::write(archive.join(format!("part-{i}.jsonl.gz")), gz.finish().unwrap()).unwrap();
        std::fs::remove_file(path).unwrap();
    }
    let archive_arg = archive.to_str().unwrap();
    for point in ["bronze-after-put", "silver-after-commit"] {
        let out = lake.floe().env("FLOE_TEST_CRASH_AT", point).args(["import", archive_arg]).output().unwrap();
        assert!(!out.status.success(), "the import crashed at {point}");
    }
    let out = json(&lake.run_ok(&["import", archive_arg, "--json"]));
    assert_eq!(n(&out["files"]), 3, "{out}");
    let py = py_read(&lake);
    let unique = n(&report["unique_valid"]);
    assert_eq!(n(&py["events_rows"]), unique, "every valid record once");
    assert_eq!(n(&py["events_distinct_ids"]), unique);
    let status = json(&lake.run_ok(&["status", "--json"]));
    let totals = &status["tables"].as_array().unwrap().iter().find(|t| t["table"] == "events").unwrap()["totals"];
    assert_eq!(n(&totals["records-in"]), n(&report["records"]), "every record accounted once: {totals}");
    let again = json(&lake.run_ok(&["import", archive_arg, "--json"]));
    assert_eq!(n(&again["already_imported"]), 3, "{again}");
    assert_eq!(n(&again["counters"]["silver_rows"]), 0, "{again}");
    let out = lake.floe().args(["import", lake.dir.path().join("nope").to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not a directory"));
}
