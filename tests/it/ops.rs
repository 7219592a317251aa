//! The operations endpoint of a running daemon: /healthz, /readyz, and /metrics whose counters
//! add up to the input (records in = silver rows + bad rows + dedup drops).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{AwsLake, Lake, OwnStandIn};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((code, body))
}

/// Sum of a metric's samples (over all label sets).
pub fn metric_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name) && (l[name.len()..].starts_with('{') || l[name.len()..].starts_with(' ')))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// A child process killed when the test ends, pass or fail.
pub struct Daemon(pub Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn metrics_and_health_of_a_running_daemon() {
    let lake = Lake::new();
    let report = lake.generate(8_000, 2, 0.05, 0.05, 5);
    let records = report["records"].as_u64().unwrap();
    let port = free_port();
    let daemon = Daemon(
        lake.floe()
            .args(["run"])
            .env("FLOE_METRICS_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("/healthz", Duration::from_secs(60), || get(port, "/healthz").is_some_and(|(c, _)| c == 200));
    wait_for("/readyz", Duration::from_secs(60), || get(port, "/readyz").is_some_and(|(c, _)| c == 200));
    let mut text = String::new();
    wait_for("silver to catch up", Duration::from_secs(120), || {
        text = get(port, "/metrics").map(|(_, b)| b).unwrap_or_default();
        metric_sum(&text, "floe_silver_records_in_total") == records
    });
    assert_eq!(metric_sum(&text, "floe_records_in_total"), records);
    let rows = metric_sum(&text, "floe_silver_rows_total");
    let bad = metric_sum(&text, "floe_bad_rows_total");
    let dedup = metric_sum(&text, "floe_dedup_drops_total");
    assert_eq!(rows, report["unique_valid"].as_u64().unwrap());
    assert_eq!(dedup, report["duplicates"].as_u64().unwrap());
    assert_eq!(rows + bad + dedup, records, "{text}");
    assert!(text.contains("floe_commit_duration_seconds_bucket"), "{text}");
    assert!(text.contains("floe_freshness_seconds_bucket"), "{text}");
    let by_reason: BTreeMap<String, u64> = text
        .lines()
        .filter(|l| l.starts_with("floe_bad_rows_total{"))
        .filter_map(|l| {
            let reason = l.split("reason=\"").nth(1)?.split('"').next()?.to_string();
            Some((reason, l.rsplit(' ').next()?.parse::<f64>().ok()? as u64))
        })
        .collect();
    let want: BTreeMap<String, u64> = report["malformed_by_reason"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(by_reason, want);

    // The catalog stops answering (its database is locked by another process): not ready;
    // when it answers again: ready again. The daemon survives the outage.
    let db = lake.catalog_db();
    let lock = std::process::Command::new(crate::support::python())
        .args(["-c", "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(600)"])
        .arg(&db)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lock = Daemon(lock);
    let mut line = [0u8; 6];
    lock.0.stdout.as_mut().unwrap().read_exact(&mut line).unwrap();
    wait_for("/readyz to turn unready", Duration::from_secs(30), || {
        get(port, "/readyz").is_some_and(|(c, _)| c == 503)
    });
    drop(lock);
    wait_for("/readyz to recover", Duration::from_secs(60), || get(port, "/readyz").is_some_and(|(c, _)| c == 200));
    let healthcheck = lake.floe().args(["healthcheck", "--port", &port.to_string()]).output().unwrap();
    assert!(healthcheck.status.success(), "{}", String::from_utf8_lossy(&healthcheck.stderr));
    drop(daemon);
}

/// Against the Glue catalog on a stand-in server that stops answering (SIGSTOP) and comes back
/// (SIGCONT): /readyz turns 503 and back to 200; the daemon survives and loses nothing.
#[test]
fn readyz_follows_the_glue_catalog_stand_in() {
    let moto = OwnStandIn::start();
    let aws = AwsLake::on(&moto.endpoint, "ready");
    let report = aws.lake.generate(2_000, 2, 0.0, 0.0, 9);
    let port = free_port();
    let mut daemon = Daemon(
        aws.floe()
            .args(["run"])
            .env("FLOE_METRICS_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("/readyz", Duration::from_secs(60), || get(port, "/readyz").is_some_and(|(c, _)| c == 200));
    moto.signal("-STOP");
    wait_for("/readyz to turn unready", Duration::from_secs(30), || {
        get(port, "/readyz").is_some_and(|(c, body)| c == 503 && body.contains("catalog"))
    });
    assert!(get(port, "/healthz").is_some_and(|(c, _)| c == 200), "alive while the catalog is away");
    moto.signal("-CONT");
    wait_for("/readyz to recover", Duration::from_secs(60), || get(port, "/readyz").is_some_and(|(c, _)| c == 200));
    let pid = daemon.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(daemon.0.wait().unwrap().success(), "exit 0 after SIGTERM");
    aws.run_ok(&["run", "--until-idle"]);
    let py = aws.pyiceberg(None);
    assert_eq!(py["events_rows"].as_u64().unwrap(), report["unique_valid"].as_u64().unwrap());
    assert_eq!(py["events_distinct_ids"], py["events_rows"]);
}

/// CloudWatch embedded-metric-format lines (for teams without Prometheus) add up to the input.
#[test]
fn emf_lines_add_up_to_the_input() {
    let lake = Lake::new();
    let report = lake.generate(6_000, 2, 0.05, 0.05, 12);
    let records = report["records"].as_u64().unwrap();
    let out = lake.floe().env("FLOE_METRICS_EMF_INTERVAL", "300ms").args(["run", "--until-idle"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{') && l.contains("\"_aws\":"))
        .map(|l| serde_json::from_str(l).expect("EMF JSON"))
        .collect();
    assert!(lines.len() >= 2, "periodic lines and a last one: {stderr}");
    let sum = |name: &str| lines.iter().map(|l| l[name].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("RecordsIn"), records);
    assert_eq!(sum("SilverRows") + sum("BadRows") + sum("DedupDrops"), records);
    for l in &lines {
        assert_eq!(l["_aws"]["CloudWatchMetrics"][0]["Namespace"], "floe");
        assert_eq!(l["Stream"], "spool");
    }
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let lake = Lake::new();
    lake.generate(20_000, 2, 0.0, 0.0, 8);
    let mut child = lake.floe().args(["run"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let start = Instant::now();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status}");
    assert!(start.elapsed() < Duration::from_secs(25), "took {:?}", start.elapsed());
    // what was read was flushed and checkpointed: a restart loads the rest, nothing twice
    lake.run_ok(&["run", "--until-idle"]);
    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), 20_000);
    assert_eq!(lake.query_u64("SELECT count(DISTINCT event_id) FROM events"), 20_000);
}
