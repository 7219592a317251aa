//! The Kinesis source against kinesis-local (kinesis-mock's JavaScript build, started by
//! scripts/test.sh on 127.0.0.1): real 56-digit sequence numbers, real split and merge.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::ops::{free_port, get, metric_sum, wait_for};
use crate::support::{Lake, assert_success, reader_with};

fn endpoint() -> String {
    std::env::var("FLOE_TEST_KINESIS_ENDPOINT").unwrap_or_else(|_| {
        panic!("FLOE_TEST_KINESIS_ENDPOINT is not set: run the tests with scripts/test.sh, which starts kinesis-local")
    })
}

fn tool(args: &[&str]) -> Value {
    let endpoint = endpoint();
    let mut all = vec![endpoint.as_str()];
    all.extend_from_slice(args);
    reader_with("kinesis_tool.py", &all)
}

/// `floe` reading `stream` on kinesis-local; bronze and tables stay local.
fn floe_on(lake: &Lake, stream: &str) -> Command {
    let mut c = lake.floe();
    c.env("FLOE_SOURCE_TYPE", "kinesis")
        .env("FLOE_SOURCE_STREAM", stream)
        .env("FLOE_SOURCE_POLL_INTERVAL", "200ms")
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1");
    c
}

/// Every (shard, sequence number, sub-sequence) the producer was acknowledged for.
fn expected(puts: &[Value]) -> BTreeSet<(String, String, u64)> {
    let mut out = BTreeSet::new();
    for p in puts {
        for r in p["records"].as_array().unwrap() {
            let (shard, seq, n) = (r[0].as_str().unwrap(), r[1].as_str().unwrap(), r[2].as_u64().unwrap());
            for sub in 0..if n > 1 { n } else { 1 } {
                out.insert((shard.to_string(), seq.to_string(), sub));
            }
        }
    }
    out
}

/// The bronze records (from `kinesis_tool.py bronze`) as a set, failing if any is there twice.
fn exactly_once(bronze: &Value) -> BTreeSet<(String, String, u64)> {
    let got: Vec<(String, String, u64)> = bronze["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_str().unwrap().to_string(), r[2].as_u64().unwrap()))
        .collect();
    let unique: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(got.len(), unique.len(), "a record is in bronze twice");
    unique
}

#[test]
fn a_resharded_stream_lands_in_bronze_exactly_once_children_after_parents() {
    const EVENTS: u64 = 100_000;
    let lake = Lake::new();
    let stream = format!("floe-it-{}", std::process::id());
    // Small records: kinesis-local takes ~2 ms per put record whatever its size, and this test
    // is about positions, not payloads.
    let file = lake.dir.path().join("records.ndjson");
    let lines: String = (0..EVENTS).map(|i| format!("{{\"event_id\":\"{i:08x}-0000-4000-8000-{i:012x}\",\"n\":{i}}}\n")).collect();
    std::fs::write(&file, lines).unwrap();
    let file = file.to_str().unwrap().to_string();
    tool(&["create", &stream, "4"]);

    let mut puts = vec![tool(&["put", &stream, &file, "0", "40000", "2"])];
    let port = free_port();
    let mut daemon = floe_on(&lake, &stream)
        // the consumer is what this test measures; silver over bronze is tested elsewhere
        .args(["run", "--bronze-only"])
        .env("FLOE_METRICS_PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(lake.dir.path().join("floe.log")).unwrap())
        .spawn()
        .unwrap();
    // resharding while floe reads: a split, more records, a merge, more records
    std::thread::sleep(Duration::from_secs(2));
    tool(&["split", &stream]);
    puts.push(tool(&["put", &stream, &file, "40000", "30000", "2"]));
    tool(&["merge", &stream]);
    puts.push(tool(&["put", &stream, &file, "70000", "30000", "2"]));
    let want = expected(&puts);
    assert_eq!(want.len() as u64, EVENTS, "the producer was acknowledged for every record");

    wait_for("every record to be read", Duration::from_secs(600), || {
        get(port, "/metrics").is_some_and(|(_, text)| metric_sum(&text, "floe_records_in_total") >= EVENTS)
    });
    let metrics = get(port, "/metrics").unwrap().1;
    assert!(metrics.contains("floe_millis_behind_latest{shard=\"shardId-000000000000\"}"), "{metrics}");
    assert!(Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status().unwrap().success());
    let status = wait_or_kill(&mut daemon, Duration::from_secs(30));
    let log = std::fs::read_to_string(lake.dir.path().join("floe.log")).unwrap_or_default();
    assert!(status.success(), "exit after SIGTERM: {status}\n{log}");

    // bronze: every acknowledged record exactly once, by shard + sequence + sub-sequence
    let bronze = reader_with("kinesis_tool.py", &["-", "bronze", lake.warehouse().join("bronze").to_str().unwrap()]);
    let unique = exactly_once(&bronze);
    assert_eq!(unique, want, "bronze holds exactly the acknowledged records");
    assert!(unique.iter().any(|r| r.2 > 0), "some records came from KPL aggregates");

    // children were read only after their parents had ended
    let shards = tool(&["shards", &stream]);
    let mut first_ingest: BTreeMap<String, f64> = BTreeMap::new();
    let mut last_ingest: BTreeMap<String, f64> = BTreeMap::new();
    for o in bronze["objects"].as_array().unwrap() {
        let (s, t) = (o["shard"].as_str().unwrap().to_string(), o["ingest"].as_f64().unwrap());
        let f = first_ingest.entry(s.clone()).or_insert(t);
        *f = f.min(t);
        let l = last_ingest.entry(s).or_insert(t);
        *l = l.max(t);
    }
    let mut children = 0;
    for s in shards.as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        for parent in [&s["parent"], &s["adjacent"]].into_iter().filter_map(|p| p.as_str()) {
            children += 1;
            if let (Some(child_first), Some(parent_last)) = (first_ingest.get(id), last_ingest.get(parent)) {
                assert!(child_first >= parent_last, "{id} was read before its parent {parent} ended");
            }
        }
    }
    assert!(children >= 4, "the stream was split and merged: {shards}");

    // a restart finds everything checkpointed: nothing new is written
    let objects_before = bronze["objects"].as_array().unwrap().len();
    let out = floe_on(&lake, &stream).args(["run", "--bronze-only", "--until-idle", "--json"]).output().unwrap();
    assert_success(&out, &["run --until-idle (again)"]);
    let again = reader_with("kinesis_tool.py", &["-", "bronze", lake.warehouse().join("bronze").to_str().unwrap()]);
    assert_eq!(again["objects"].as_array().unwrap().len(), objects_before);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["counters"]["records_read"], 0, "nothing is read twice after a clean stop");
}

/// Wait for `child` to exit; kill it after `limit` (the assertion on its status then fails).
fn wait_or_kill(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn throttling_and_expired_iterators_are_survived_with_no_loss() {
    let lake = Lake::new();
    let stream = format!("floe-faults-{}", std::process::id());
    let file = lake.dir.path().join("records.ndjson");
    let lines: String = (0..6000u64).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    std::fs::write(&file, lines).unwrap();
    tool(&["create", &stream, "2"]);
    let puts = vec![tool(&["put", &stream, file.to_str().unwrap(), "0", "6000", "3"])];

    // every 3rd GetRecords throttled, every 5th (not throttled) answered "iterator expired"
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/readers/fault_proxy.py");
    let mut proxy = Command::new(crate::support::python())
        .arg(script)
        .args([&endpoint(), "3", "5"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(proxy.stdout.as_mut().unwrap()), &mut line).unwrap();
    let proxy_port: u16 = line.trim().parse().unwrap();

    let out = floe_on(&lake, &stream)
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{proxy_port}"))
        .env("FLOE_SOURCE_READ_RECORDS", "200")
        .args(["run", "--bronze-only", "--until-idle", "--json"])
        .output()
        .unwrap();
    let faults = get(proxy_port, "/faults").map(|(_, b)| b).unwrap_or_default();
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert_success(&out, &["run through the fault proxy"]);
    let faults: Value = serde_json::from_str(&faults).unwrap();
    assert!(faults["throttled"].as_u64().unwrap() > 0 && faults["expired"].as_u64().unwrap() > 0, "{faults}");

    let bronze = reader_with("kinesis_tool.py", &["-", "bronze", lake.warehouse().join("bronze").to_str().unwrap()]);
    let unique = exactly_once(&bronze);
    assert_eq!(unique, expected(&puts), "bronze holds exactly the acknowledged records ({faults})");
}
