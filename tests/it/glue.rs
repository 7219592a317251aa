//! Glue catalog + S3 warehouse on the strict moto stand-in (started by scripts/test.sh), read back
//! by pyiceberg's own GlueCatalog and by DuckDB's iceberg extension (our Athena/Trino stand-in).

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{AwsLake, assert_success};

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn glue_tables_on_s3_are_read_by_pyiceberg_and_duckdb() {
    let aws = AwsLake::new("read");
    let report = aws.lake.generate(6_000, 3, 0.05, 0.05, 21);
    let records = n(&report["records"]);
    let unique = n(&report["unique_valid"]);
    let duplicates = n(&report["duplicates"]);

    let summary: Value = serde_json::from_str(&aws.run_ok(&["run", "--until-idle", "--json"])).unwrap();
    let c = &summary["counters"];
    assert_eq!(n(&c["records_read"]), records);
    assert_eq!(n(&c["silver_rows"]), unique);
    let bad = n(&c["bad_rows"]);
    assert_eq!(unique + bad + duplicates, records, "silver + bad + dedup = records in");

    // The Glue entry is what Athena/Trino/Glue crawlers expect of an Iceberg table.
    let entry = aws.glue_table("events");
    let params = &entry["parameters"];
    assert_eq!(params["table_type"], "ICEBERG", "{entry}");
    let metadata_location = params["metadata_location"].as_str().expect("metadata_location").to_string();
    assert!(metadata_location.starts_with(&format!("s3://{}/warehouse/", aws.bucket)), "{metadata_location}");
    assert!(params["previous_metadata_location"].as_str().is_some_and(|p| p != metadata_location), "{entry}");
    assert_eq!(entry["table_type"], "EXTERNAL_TABLE");
    assert!(entry["location"].as_str().unwrap().ends_with("/events"), "{entry}");
    let columns = entry["columns"].as_array().unwrap();
    let col =
        |name: &str| columns.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no column {name}: {entry}"));
    assert_eq!(col("collector_tstamp")["type"], "timestamp", "timestamptz columns are accepted and mirrored");
    assert_eq!(col("event_id")["type"], "string");
    assert_eq!(col("source_sub_sequence")["parameters"]["iceberg.field.optional"], "false");

    // pyiceberg through its own GlueCatalog
    let py = aws.pyiceberg(None);
    assert_eq!(
        py["tables"],
        serde_json::json!([format!("{}.events", aws.database), format!("{}.events_bad", aws.database)])
    );
    assert_eq!(py["metadata_location"].as_str().unwrap(), metadata_location);
    assert_eq!(n(&py["events_rows"]), unique);
    assert_eq!(n(&py["events_distinct_ids"]), unique, "no duplicate event id");
    assert_eq!(n(&py["bad_rows"]), bad);
    assert_eq!(py["watermarks"].as_object().unwrap().len(), 3, "one watermark per shard: {}", py["watermarks"]);

    // floe's own query path over Glue agrees
    let out =
        aws.run_ok(&["query", "--format", "json", "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events"]);
    let row: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!((n(&row["n"]), n(&row["d"])), (unique, unique));

    // DuckDB's iceberg_scan of the metadata file Glue points at
    let duck = aws.duckdb(&metadata_location, None);
    assert_eq!((n(&duck["rows"]), n(&duck["distinct_ids"])), (unique, unique), "{duck}");

    // A second run on the drained spool changes nothing in Glue.
    aws.run_ok(&["run", "--until-idle"]);
    assert_eq!(aws.glue_table("events")["parameters"]["metadata_location"].as_str().unwrap(), metadata_location);
}

/// A floe worker with its own spool, checkpoints and stream name, committing to the shared table.
fn worker(aws: &AwsLake, i: usize) -> Command {
    let dir = aws.lake.dir.path().join(format!("w{i}"));
    let mut c = Command::new(env!("CARGO_BIN_EXE_floe"));
    c.arg("--warehouse").arg(&dir).arg("--spool").arg(dir.join("spool"));
    for (k, _) in std::env::vars() {
        if k.starts_with("FLOE_") {
            c.env_remove(k);
        }
    }
    aws.configure(&mut c);
    c.env("FLOE_SOURCE_STREAM", format!("w{i}"))
        .env("FLOE_SOURCE_READ_RECORDS", "200")
        .env("FLOE_BRONZE_FLUSH_RECORDS", "200")
        .env("FLOE_BRONZE_FLUSH_INTERVAL", "1s")
        .env("FLOE_SILVER_BATCH_MAX_OBJECTS", "1")
        // every round its own commit: many small commits make the writers collide
        .env("FLOE_SILVER_COMMIT_INTERVAL", "0s")
        .env("FLOE_SILVER_INTERVAL", "100ms")
        .env("FLOE_SOURCE_POLL_INTERVAL", "100ms")
        .env("RUST_LOG", "warn");
    c
}

#[test]
fn concurrent_floe_and_pyiceberg_writers_lose_no_commit() {
    const WORKERS: usize = 4;
    // most of the 200 commits are pyiceberg's cheap appends.
    const PY_COMMITS: u64 = 80;
    const PY_ROWS: u64 = 10;
    let aws = AwsLake::new("conc");
    aws.run_ok(&["init"]);
    let mut generated = 0;
    for i in 0..WORKERS {
        let out = worker(&aws, i)
            .args([
                "generate",
                "--json",
                "--events",
                "2000",
                "--shards",
                "2",
                "--duplicate-rate",
                "0",
                "--malformed-rate",
                "0",
            ])
            .args(["--seed", &(100 + i).to_string()])
            .output()
            .unwrap();
        assert_success(&out, &["generate"]);
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(n(&r["unique_valid"]), 2000);
        generated += 2000;
    }

    let floes: Vec<_> = (0..WORKERS)
        .map(|i| {
            worker(&aws, i)
                .args(["run", "--until-idle", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/readers/pyiceberg_append.py");
    let pys: Vec<_> = (0..2)
        .map(|i| {
            Command::new(crate::support::python())
                .arg(&script)
                .args([
                    &aws.endpoint,
                    &aws.database,
                    "events",
                    &PY_COMMITS.to_string(),
                    &PY_ROWS.to_string(),
                    &format!("py{i}"),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();

    let mut floe_rows = 0;
    let mut floe_batches = 0;
    let mut conflicts = 0;
    for child in floes {
        let out = child.wait_with_output().unwrap();
        assert_success(&out, &["run", "--until-idle"]);
        let s: Value = serde_json::from_slice(&out.stdout).unwrap();
        floe_rows += n(&s["counters"]["silver_rows"]);
        floe_batches += n(&s["counters"]["silver_batches"]);
        conflicts += n(&s["counters"]["commit_conflicts"]);
    }
    let mut py_rows = 0;
    let mut py_commits = 0;
    for child in pys {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "pyiceberg appender failed: {}", String::from_utf8_lossy(&out.stderr));
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        py_rows += n(&r["acked_rows"]);
        py_commits += n(&r["acked_commits"]);
        conflicts += n(&r["conflicts"]);
    }
    assert_eq!(floe_rows, generated, "every generated event became a row");
    assert_eq!(py_commits, 2 * PY_COMMITS);
    assert!(floe_batches >= 4 * 10, "each worker commits at least 10 batches, made {floe_batches}");
    assert!(
        floe_batches + py_commits >= 200,
        "the test must make at least 200 commits, made {}",
        floe_batches + py_commits
    );
    assert!(conflicts > 0, "the writers never collided: the test proves nothing about concurrency");

    let py = aws.pyiceberg(None);
    assert_eq!(n(&py["events_rows"]), floe_rows + py_rows, "final rows = sum of acknowledged writes");
    assert_eq!(n(&py["events_distinct_ids"]), floe_rows + py_rows, "no batch was appended twice");
    assert_eq!(py["watermarks"].as_object().unwrap().len(), 2 * WORKERS, "every worker's shards: {}", py["watermarks"]);
    let duck = aws.duckdb(py["metadata_location"].as_str().unwrap(), None);
    assert_eq!(n(&duck["rows"]), floe_rows + py_rows);
}

#[test]
fn adding_a_column_evolves_the_glue_table_and_bad_changes_are_refused() {
    let aws = AwsLake::new("evol");
    let first = aws.lake.generate(1_500, 2, 0.0, 0.0, 31);
    aws.run_ok(&["run", "--until-idle"]);
    let old_rows = n(&first["unique_valid"]);

    // Own definitions: the shipped ones plus an optional `tenant` column fed from the input.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let defs = aws.lake.dir.path().join("defs");
    let sql = aws.lake.dir.path().join("sql");
    std::fs::create_dir_all(&defs).unwrap();
    std::fs::create_dir_all(&sql).unwrap();
    let toml = std::fs::read_to_string(root.join("catalog/events.toml")).unwrap();
    let evolved = format!("{toml}\n[[columns]]\nname = \"tenant\"\ntype = \"string\"\ndoc = \"Customer tenant\"\n");
    std::fs::write(defs.join("events.toml"), &evolved).unwrap();
    let transform = std::fs::read_to_string(root.join("sql/events.sql")).unwrap();
    let transform = transform
        .replacen(
            "contexts, unstruct_event, extra\n  FROM bronze",
            "contexts, unstruct_event, extra, tenant\n  FROM bronze",
            1,
        )
        .replacen("contexts, unstruct_event, extra,\n  now()", "contexts, unstruct_event, extra, tenant,\n  now()", 1);
    assert!(transform.matches("tenant").count() == 2, "the test's edit of sql/events.sql no longer applies");
    std::fs::write(sql.join("events.sql"), transform).unwrap();

    let second = aws.lake.generate(1_000, 2, 0.0, 0.0, 32);
    let new_rows = n(&second["unique_valid"]);
    let mut c = aws.floe();
    c.env("FLOE_SILVER_TABLES_DIR", &defs).env("FLOE_SILVER_SQL_DIR", &sql).args(["run", "--until-idle"]);
    let out = c.output().unwrap();
    assert_success(&out, &["run (evolved)"]);

    let entry = aws.glue_table("events");
    assert!(
        entry["columns"].as_array().unwrap().iter().any(|c| c["name"] == "tenant" && c["type"] == "string"),
        "{entry}"
    );
    let py = aws.pyiceberg(Some("tenant"));
    assert!(py["schema"].as_array().unwrap().iter().any(|f| f == "tenant"));
    assert_eq!(n(&py["events_rows"]), old_rows + new_rows);
    assert_eq!(
        (n(&py["extra_non_null"]), n(&py["extra_null"])),
        (new_rows, old_rows),
        "new rows have it, old rows read null"
    );
    let duck = aws.duckdb(py["metadata_location"].as_str().unwrap(), Some("tenant"));
    assert_eq!((n(&duck["extra_non_null"]), n(&duck["extra_null"])), (new_rows, old_rows), "{duck}");

    // A type change Iceberg cannot make is refused before anything is written.
    let before = entry["parameters"]["metadata_location"].clone();
    std::fs::write(
        defs.join("events.toml"),
        evolved.replace("name = \"tenant\"\ntype = \"string\"", "name = \"tenant\"\ntype = \"long\""),
    )
    .unwrap();
    let mut c = aws.floe();
    c.env("FLOE_SILVER_TABLES_DIR", &defs).env("FLOE_SILVER_SQL_DIR", &sql).args(["run", "--until-idle"]);
    let out = c.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("column tenant") && err.contains("type changes are not supported"), "{err}");
    assert_eq!(aws.glue_table("events")["parameters"]["metadata_location"], before, "nothing was written");
}

/// The Glue catalog's pointer swap (FloeCatalog, what replace/overwrite commits use): refused
/// when the entry moved on since the expected metadata, done with `previous_metadata_location`
/// when it still points there — and pyiceberg's GlueCatalog then reads the swapped-in metadata.
#[tokio::test(flavor = "multi_thread")]
async fn the_glue_catalog_swaps_the_metadata_pointer_only_from_where_it_is() {
    use floe::catalog::handle::PointerSwap;
    let aws = AwsLake::new("swap");
    let first = aws.lake.generate(800, 1, 0.0, 0.0, 41);
    aws.run_ok(&["run", "--until-idle"]);
    let l1 = aws.glue_table("events")["parameters"]["metadata_location"].as_str().unwrap().to_string();

    // the same lake as floe's own process sees it
    aws_credentials_for_this_process();
    let env: Vec<(String, String)> = [
        ("FLOE_CATALOG_TYPE", "glue".to_string()),
        ("FLOE_CATALOG_NAMESPACE", aws.database.clone()),
        ("FLOE_CATALOG_WAREHOUSE", format!("s3://{}/warehouse", aws.bucket)),
        // floe's own endpoint setting: the SDK in this process reads no AWS_ENDPOINT_URL
        ("FLOE_AWS_ENDPOINT", aws.endpoint.clone()),
        ("AWS_REGION", "us-east-1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let overrides = floe::config::Overrides { warehouse: Some(aws.lake.warehouse()), ..Default::default() };
    let cfg = floe::config::Config::load(None, env, &overrides).unwrap();
    let sdk = floe::aws::sdk_config(&cfg.aws).await;
    let catalog = floe::catalog::open::open_catalog(&cfg.catalog, Some(&sdk)).await.unwrap();
    let ident = iceberg::TableIdent::from_strs([aws.database.as_str(), "events"]).unwrap();
    let at_l1 = catalog.load_table(&ident).await.unwrap();
    assert_eq!(at_l1.metadata_location(), Some(l1.as_str()));

    // another batch moves the entry on
    aws.lake.generate(500, 1, 0.0, 0.0, 42);
    aws.run_ok(&["run", "--until-idle"]);
    let l2 = aws.glue_table("events")["parameters"]["metadata_location"].as_str().unwrap().to_string();
    assert_ne!(l1, l2);

    let stale = catalog.swap_metadata_pointer(&ident, &l1, &l1, at_l1.metadata()).await.unwrap();
    assert_eq!(stale, PointerSwap::Moved);
    assert_eq!(aws.glue_table("events")["parameters"]["metadata_location"].as_str(), Some(l2.as_str()));

    let done = catalog.swap_metadata_pointer(&ident, &l2, &l1, at_l1.metadata()).await.unwrap();
    assert_eq!(done, PointerSwap::Swapped);
    let entry = aws.glue_table("events");
    assert_eq!(entry["parameters"]["metadata_location"].as_str(), Some(l1.as_str()));
    assert_eq!(entry["parameters"]["previous_metadata_location"].as_str(), Some(l2.as_str()));
    let py = aws.pyiceberg(None);
    assert_eq!(py["metadata_location"].as_str(), Some(l1.as_str()));
    assert_eq!(n(&py["events_rows"]), n(&first["unique_valid"]), "the rows of the first run only");
}

/// The AWS SDK in this test process finds the stand-in's dummy credentials where it looks for
/// real ones. Every test of this binary uses the same values, so setting them is idempotent.
fn aws_credentials_for_this_process() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: set once, before this test's SDK clients exist; the other tests of this binary
        // only read these variables (and set the same values on their child processes).
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        }
    });
}

/// A bucket that does not exist is a configuration error: the run stops at once, non-zero,
/// naming the bucket — not a write retried for ever.
#[test]
fn a_missing_bucket_stops_the_run_at_once_naming_it() {
    let aws = AwsLake::new("nobucket");
    aws.lake.generate(100, 1, 0.0, 0.0, 51);
    let missing = format!("{}-missing", aws.bucket);
    let started = std::time::Instant::now();
    let out = aws
        .floe()
        .env("FLOE_BRONZE_LOCATION", format!("s3://{missing}/bronze"))
        .args(["run", "--until-idle"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
    let said = format!("the bucket {missing} does not exist");
    assert_eq!(stderr.matches(&said).count(), 1, "{stderr}");
}
