//! The Kinesis source against kinesis-local (kinesis-mock's JavaScript build, started by
//! scripts/test.sh on 127.0.0.1): real 56-digit sequence numbers, real split and merge.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::ops::{Daemon, free_port, get, metric_sum};
use crate::support::{Lake, assert_success, reader_with};

pub(crate) fn endpoint() -> String {
    std::env::var("FLOE_TEST_KINESIS_ENDPOINT").unwrap_or_else(|_| {
        panic!("FLOE_TEST_KINESIS_ENDPOINT is not set: run the tests with scripts/test.sh, which starts kinesis-local")
    })
}

pub(crate) fn tool(args: &[&str]) -> Value {
    let endpoint = endpoint();
    let mut all = vec![endpoint.as_str()];
    all.extend_from_slice(args);
    reader_with("kinesis_tool.py", &all)
}

/// `floe` reading `stream` on kinesis-local; bronze and tables stay local. The endpoint is the
/// SDK's per-service one, so DynamoDB (leases) can point elsewhere.
pub(crate) fn floe_on(lake: &Lake, stream: &str) -> Command {
    let mut c = lake.floe();
    c.env("FLOE_SOURCE_TYPE", "kinesis")
        .env("FLOE_SOURCE_STREAM", stream)
        .env("FLOE_SOURCE_POLL_INTERVAL", "200ms")
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_ENDPOINT_URL_KINESIS", endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1");
    c
}

/// A worker sharing `stream` through a DynamoDB lease table on the moto stand-in.
pub(crate) fn worker(lake: &Lake, stream: &str, table: &str, name: &str) -> Command {
    let moto = std::env::var("FLOE_TEST_MOTO_ENDPOINT")
        .unwrap_or_else(|_| panic!("FLOE_TEST_MOTO_ENDPOINT is not set: run the tests with scripts/test.sh"));
    worker_on(lake, stream, table, name, &moto)
}

fn worker_on(lake: &Lake, stream: &str, table: &str, name: &str, moto: &str) -> Command {
    let mut c = floe_on(lake, stream);
    c.env("FLOE_CHECKPOINT_TYPE", "dynamodb")
        .env("FLOE_CHECKPOINT_TABLE", table)
        .env("FLOE_CHECKPOINT_LEASE_DURATION", LEASE)
        .env("FLOE_CHECKPOINT_WORKER_ID", name)
        .env("AWS_ENDPOINT_URL_DYNAMODB", moto);
    c
}

const LEASE: &str = "3s";

/// Start a bronze-only worker daemon with its metrics on a free port; logs go to `<name>.log`.
pub(crate) fn start_worker(
    lake: &Lake,
    stream: &str,
    table: &str,
    name: &str,
    extra: &[(&str, &str)],
) -> (Daemon, u16) {
    let port = free_port();
    let mut c = worker(lake, stream, table, name);
    for (k, v) in extra {
        c.env(k, v);
    }
    c.args(["run", "--bronze-only"])
        .env("FLOE_METRICS_PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(lake.dir.path().join(format!("{name}.log"))).unwrap());
    (Daemon(c.spawn().unwrap()), port)
}

/// Wait until the worker whose metrics are on `port` holds `n` leases: a worker alone takes half
/// of the free leases at its first look and the rest half a lease duration later.
pub(crate) fn wait_for_leases(port: u16, n: u64, who: &str) {
    crate::ops::wait_for(&format!("{who} to hold {n} leases"), Duration::from_secs(60), || {
        get(port, "/metrics").is_some_and(|(_, m)| metric_sum(&m, "floe_leases_held") == n)
    });
}

pub(crate) fn log_of(lake: &Lake, name: &str) -> String {
    std::fs::read_to_string(lake.dir.path().join(format!("{name}.log"))).unwrap_or_default()
}

pub(crate) fn bronze_of(lake: &Lake) -> Value {
    reader_with("kinesis_tool.py", &["-", "bronze", lake.warehouse().join("bronze").to_str().unwrap()])
}

/// Poll bronze until it holds `n` records (or fail after `limit`).
pub(crate) fn wait_for_bronze(lake: &Lake, n: usize, limit: Duration) -> Value {
    wait_for_bronze_in(lake, n, limit, || bronze_of(lake))
}

/// The same with bronze read by `read` (bronze on S3, say).
pub(crate) fn wait_for_bronze_in(lake: &Lake, n: usize, limit: Duration, read: impl Fn() -> Value) -> Value {
    let start = std::time::Instant::now();
    loop {
        let b = read();
        let have = b["records"].as_array().map_or(0, Vec::len);
        if have >= n {
            return b;
        }
        assert!(start.elapsed() < limit, "bronze has {have} of {n} records after {limit:?}\n{}", worker_logs(lake));
        std::thread::sleep(Duration::from_secs(2));
    }
}

pub(crate) fn sigterm(d: &mut Daemon, name: &str, lake: &Lake) {
    assert!(Command::new("kill").args(["-TERM", &d.0.id().to_string()]).status().unwrap().success());
    let status = wait_or_kill(&mut d.0, Duration::from_secs(30));
    assert!(status.success(), "{name} after SIGTERM: {status}\n{}", log_of(lake, name));
}

/// The last lines of every worker log in the lake, for a failure message.
fn worker_logs(lake: &Lake) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(lake.dir.path()).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out += &format!("--- {} (last {} lines)\n", path.display(), tail.len());
            out.extend(tail.into_iter().rev().map(|l| format!("{l}\n")));
        }
    }
    out
}

/// Every (shard, sequence number, sub-sequence) the producer was acknowledged for.
pub(crate) fn expected(puts: &[Value]) -> BTreeSet<(String, String, u64)> {
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
pub(crate) fn exactly_once(bronze: &Value) -> BTreeSet<(String, String, u64)> {
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
fn two_workers_share_a_resharded_stream_and_land_it_in_bronze_exactly_once() {
    const EVENTS: u64 = 100_000;
    let lake = Lake::new();
    let stream = format!("floe-it-{}", std::process::id());
    // Small records: kinesis-local takes ~2 ms per put record whatever its size, and this test
    // is about positions, not payloads.
    let file = lake.dir.path().join("records.ndjson");
    let lines: String =
        (0..EVENTS).map(|i| format!("{{\"event_id\":\"{i:08x}-0000-4000-8000-{i:012x}\",\"n\":{i}}}\n")).collect();
    std::fs::write(&file, lines).unwrap();
    let file = file.to_str().unwrap().to_string();
    tool(&["create", &stream, "4"]);

    let table = format!("floe-leases-{}", std::process::id());
    let init = worker(&lake, &stream, &table, "init").arg("init").output().unwrap();
    assert_success(&init, &["init (creates the lease table)"]);
    assert!(String::from_utf8_lossy(&init.stdout).contains("created (on-demand)"), "{init:?}");

    let mut puts = vec![tool(&["put", &stream, &file, "0", "40000", "2"])];
    // Worker a starts alone and takes every shard; b joins and must get its share by stealing.
    let (mut a, port_a) = start_worker(&lake, &stream, &table, "a", &[]);
    wait_for_leases(port_a, 4, "a");
    let (mut b, port_b) = start_worker(&lake, &stream, &table, "b", &[]);
    // resharding while both read: a split, more records, a merge, more records
    tool(&["split", &stream]);
    puts.push(tool(&["put", &stream, &file, "40000", "30000", "2"]));
    tool(&["merge", &stream]);
    puts.push(tool(&["put", &stream, &file, "70000", "30000", "2"]));
    let want = expected(&puts);
    assert_eq!(want.len() as u64, EVENTS, "the producer was acknowledged for every record");

    let bronze = wait_for_bronze(&lake, want.len(), Duration::from_secs(600));
    let (ma, mb) = (get(port_a, "/metrics").unwrap().1, get(port_b, "/metrics").unwrap().1);
    assert!(
        ma.contains("floe_millis_behind_latest{shard=\"shardId-000000000000\"}")
            || mb.contains("floe_millis_behind_latest{shard=\"shardId-000000000000\"}")
    );
    let (read_a, read_b) = (metric_sum(&ma, "floe_records_in_total"), metric_sum(&mb, "floe_records_in_total"));
    assert!(read_a > 0 && read_b > 0, "both workers read: a {read_a}, b {read_b}");
    assert!(
        metric_sum(&mb, "floe_leases_taken_total") > 0 && metric_sum(&ma, "floe_leases_lost_total") > 0,
        "b took leases from a:\n{mb}\n{ma}"
    );
    sigterm(&mut a, "a", &lake);
    sigterm(&mut b, "b", &lake);

    // bronze: every acknowledged record exactly once, by shard + sequence + sub-sequence
    let bronze = {
        let again = bronze_of(&lake);
        assert_eq!(again["objects"], bronze["objects"], "nothing written after bronze was complete");
        again
    };
    let unique = exactly_once(&bronze);
    assert_eq!(unique, want, "bronze holds exactly the acknowledged records");
    assert!(unique.iter().any(|r| r.2 > 0), "some records came from KPL aggregates");

    // leases were handed back at SIGTERM
    let status = worker(&lake, &stream, &table, "status").args(["status", "--json"]).output().unwrap();
    assert_success(&status, &["status --json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    for sh in status["shards"].as_array().unwrap() {
        assert!(sh["owner"].is_null(), "a lease is still held after both workers stopped: {sh}");
    }

    // children were read only after their parents had ended
    let children = assert_children_after_parents(&bronze, &tool(&["shards", &stream]));
    assert!(children >= 4, "the stream was split and merged");

    // a restart finds everything checkpointed: nothing new is written
    let objects_before = bronze["objects"].as_array().unwrap().len();
    let out =
        worker(&lake, &stream, &table, "c").args(["run", "--bronze-only", "--until-idle", "--json"]).output().unwrap();
    assert_success(&out, &["run --until-idle (again)"]);
    let again = bronze_of(&lake);
    assert_eq!(again["objects"].as_array().unwrap().len(), objects_before);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["counters"]["records_read"], 0, "nothing is read twice after a clean stop");
}

/// Every child shard's first bronze object was written after its parents' last one. Returns
/// the number of (child, parent) pairs.
pub(crate) fn assert_children_after_parents(bronze: &Value, shards: &Value) -> usize {
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
    children
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
        .env("AWS_ENDPOINT_URL_KINESIS", format!("http://127.0.0.1:{proxy_port}"))
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

#[test]
fn a_killed_workers_shards_are_taken_over_after_expiry_and_rewritten_under_the_same_keys() {
    let lake = Lake::new();
    let stream = format!("floe-kill-{}", std::process::id());
    let table = format!("floe-kill-leases-{}", std::process::id());
    let file = lake.dir.path().join("records.ndjson");
    let lines: String = (0..16_000u64).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    std::fs::write(&file, lines).unwrap();
    let file = file.to_str().unwrap().to_string();
    tool(&["create", &stream, "4"]);
    assert_success(&worker(&lake, &stream, &table, "init").arg("init").output().unwrap(), &["init"]);

    // Worker a dies (no unwinding, no release, as SIGKILL leaves it) right after writing its
    // first bronze object and before checkpointing it: an object a re-read must overwrite.
    // The records go in once a holds every lease (its first look takes only half of them), so
    // every shard is a's to take over.
    let (mut a, port_a) = start_worker(&lake, &stream, &table, "a", &[("FLOE_TEST_CRASH_AT", "bronze-after-put")]);
    wait_for_leases(port_a, 4, "a");
    let mut puts = vec![tool(&["put", &stream, &file, "0", "8000", "3"])];
    let status = wait_or_kill(&mut a.0, Duration::from_secs(60));
    assert!(
        !status.success() && log_of(&lake, "a").contains("crash point"),
        "a should have died at the crash point: {status}\n{}",
        log_of(&lake, "a")
    );
    // its shard writers run side by side: on a busy machine another may finish its put before
    // the abort has taken the process down
    let orphans = bronze_of(&lake)["objects"].as_array().unwrap().len();
    assert!((1..=4).contains(&orphans), "a left one unacknowledged object per shard at most: {orphans}");

    let started = std::time::Instant::now();
    let (mut b, port_b) = start_worker(&lake, &stream, &table, "b", &[]);
    puts.push(tool(&["put", &stream, &file, "8000", "8000", "3"]));
    let want = expected(&puts);
    let bronze = wait_for_bronze(&lake, want.len(), Duration::from_secs(300));
    let m = get(port_b, "/metrics").unwrap().1;
    assert_eq!(metric_sum(&m, "floe_leases_held"), 4, "b holds every shard:\n{m}");
    assert!(started.elapsed() >= Duration::from_secs(3), "a's leases were taken only after they expired");
    assert!(log_of(&lake, "b").contains("re-writing it with the same range"), "{}", log_of(&lake, "b"));
    sigterm(&mut b, "b", &lake);
    let unique = exactly_once(&bronze_of(&lake));
    assert_eq!(unique, want, "nothing lost, nothing twice ({} objects)", bronze["objects"].as_array().unwrap().len());

    // silver records which lease epoch wrote each shard's bronze: b's (after a's) everywhere
    let out = worker(&lake, &stream, &table, "silver").args(["run", "--silver-only", "--until-idle"]).output().unwrap();
    assert_success(&out, &["run --silver-only --until-idle"]);
    let py = crate::support::reader("pyiceberg_read.py", &[&lake.catalog_db(), &lake.warehouse().join("warehouse")]);
    let epochs = py["lease_epochs"].as_object().unwrap();
    assert_eq!(epochs.len(), 4, "{py}");
    assert!(epochs.values().all(|e| e.as_str().unwrap().parse::<u64>().unwrap() >= 2), "taken over from a: {epochs:?}");
}

/// The lease table stops answering (its stand-in SIGSTOPped): /readyz says so, the worker stops
/// writing once its leases could have expired, and takes them back when the table returns.
#[test]
fn readyz_follows_the_lease_table_and_leases_come_back() {
    let moto = crate::support::OwnStandIn::start();
    let lake = Lake::new();
    let stream = format!("floe-ready-{}", std::process::id());
    let table = format!("floe-ready-leases-{}", std::process::id());
    let file = lake.dir.path().join("records.ndjson");
    std::fs::write(&file, (0..4000u64).map(|i| format!("{{\"n\":{i}}}\n")).collect::<String>()).unwrap();
    let file = file.to_str().unwrap().to_string();
    tool(&["create", &stream, "2"]);
    assert_success(&worker_on(&lake, &stream, &table, "init", &moto.endpoint).arg("init").output().unwrap(), &["init"]);
    let mut puts = vec![tool(&["put", &stream, &file, "0", "2000", "1"])];
    let port = free_port();
    let mut w = Daemon(
        worker_on(&lake, &stream, &table, "w", &moto.endpoint)
            .args(["run", "--bronze-only"])
            .env("FLOE_METRICS_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(lake.dir.path().join("w.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let held = || get(port, "/metrics").map(|(_, m)| metric_sum(&m, "floe_leases_held"));
    crate::ops::wait_for("two leases and /readyz", Duration::from_secs(60), || {
        held() == Some(2) && get(port, "/readyz").is_some_and(|(c, _)| c == 200)
    });
    moto.signal("-STOP");
    crate::ops::wait_for("/readyz to name the lease table", Duration::from_secs(30), || {
        get(port, "/readyz").is_some_and(|(c, body)| c == 503 && body.contains("lease table"))
    });
    crate::ops::wait_for("the leases to be given up", Duration::from_secs(30), || held() == Some(0));
    assert!(get(port, "/healthz").is_some_and(|(c, _)| c == 200), "alive while the lease table is away");
    moto.signal("-CONT");
    crate::ops::wait_for("leases back and ready", Duration::from_secs(60), || {
        held() == Some(2) && get(port, "/readyz").is_some_and(|(c, _)| c == 200)
    });
    puts.push(tool(&["put", &stream, &file, "2000", "2000", "1"]));
    let want = expected(&puts);
    wait_for_bronze(&lake, want.len(), Duration::from_secs(120));
    sigterm(&mut w, "w", &lake);
    assert_eq!(exactly_once(&bronze_of(&lake)), want, "nothing lost, nothing twice across the outage");
}

/// A shard whose reads all fail (every GetRecords throttled by the proxy) turns /readyz unready
/// once it has had no answer for `source.stuck_after`, while the process stays alive.
#[test]
fn readyz_names_a_stuck_shard() {
    let lake = Lake::new();
    let stream = format!("floe-stuck-{}", std::process::id());
    tool(&["create", &stream, "1"]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/readers/fault_proxy.py");
    let mut proxy = Daemon(
        Command::new(crate::support::python())
            .arg(script)
            .args([&endpoint(), "1", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(proxy.0.stdout.as_mut().unwrap()), &mut line).unwrap();
    let proxy_port: u16 = line.trim().parse().unwrap();
    let port = free_port();
    let _floe = Daemon(
        floe_on(&lake, &stream)
            .env("AWS_ENDPOINT_URL_KINESIS", format!("http://127.0.0.1:{proxy_port}"))
            .env("FLOE_SOURCE_STUCK_AFTER", "3s")
            .env("FLOE_METRICS_PORT", port.to_string())
            .args(["run", "--bronze-only"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    crate::ops::wait_for("/readyz to name the stuck shard", Duration::from_secs(30), || {
        get(port, "/readyz").is_some_and(|(c, body)| {
            c == 503 && body.contains("no answer from the stream") && body.contains("shardId-000000000000")
        })
    });
    assert!(get(port, "/healthz").is_some_and(|(c, _)| c == 200), "alive while stuck");
    let faults = get(proxy_port, "/faults").unwrap().1;
    assert!(faults.contains("\"throttled\": ") && !faults.contains("\"throttled\": 0"), "{faults}");
}
