//! Silver scaled out with the workers (ADR 0018): two leased `floe run` workers on a 4-shard
//! kinesis-local stream, bronze on S3 and tables in Glue (strict moto). Each worker's silver
//! reads only the shards it holds: through a split and a merge, the records the two decoded add
//! up to the records put — no bronze range decoded by both. Then one worker is SIGKILLed with a
//! batch gathered; the other takes its leases after expiry and carries its shards' silver on
//! from the table's watermark. Re-sends across shards (random partition keys) are dropped.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::faults::on_aws;
use crate::kinesis::{endpoint as kinesis_endpoint, tool};
use crate::ops::{Daemon, free_port, get, metric_sum, wait_for};
use crate::support::{AwsLake, assert_success};

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// A generated file moved out of the spool (it goes into the stream, not through the spool).
fn generated(aws: &AwsLake, events: u64, dup: f64, seed: u64) -> (Value, String) {
    let report = aws.lake.generate(events, 1, dup, 0.03, seed);
    let file = std::fs::read_dir(aws.lake.spool()).unwrap().next().unwrap().unwrap().path();
    let moved = aws.lake.dir.path().join(format!("events-{seed}.jsonl"));
    std::fs::rename(file, &moved).unwrap();
    (report, moved.to_str().unwrap().to_string())
}

/// The two generate reports as one (for `torture::reconcile`).
fn combined(a: &Value, b: &Value) -> Value {
    let mut bad = serde_json::Map::new();
    for r in [a, b] {
        for (k, v) in r["malformed_by_reason"].as_object().unwrap() {
            let sum = bad.get(k).map_or(0, n) + n(v);
            bad.insert(k.clone(), json!(sum));
        }
    }
    json!({
        "records": n(&a["records"]) + n(&b["records"]),
        "unique_valid": n(&a["unique_valid"]) + n(&b["unique_valid"]),
        "malformed_by_reason": bad,
    })
}

struct Worker {
    daemon: Daemon,
    port: u16,
}

impl Worker {
    fn metrics(&self) -> String {
        get(self.port, "/metrics").map(|(_, body)| body).unwrap_or_default()
    }
    fn count(&self, name: &str) -> u64 {
        metric_sum(&self.metrics(), name)
    }
}

fn start(aws: &AwsLake, stream: &str, name: &str) -> Worker {
    let port = free_port();
    let mut c = on_aws(aws, stream, &kinesis_endpoint(), &aws.endpoint);
    c.env("FLOE_CHECKPOINT_LEASE_DURATION", "3s")
        .env("FLOE_CHECKPOINT_WORKER_ID", name)
        .env("FLOE_SILVER_COMMIT_INTERVAL", "3s")
        .env("FLOE_METRICS_PORT", port.to_string())
        .args(["run"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(aws.lake.dir.path().join(format!("{name}.log"))).unwrap());
    Worker { daemon: Daemon(c.spawn().unwrap()), port }
}

/// Per shard, the worker whose silver last committed it, per `floe status --json`.
fn silver_by(aws: &AwsLake, stream: &str) -> std::collections::BTreeMap<String, String> {
    let out = on_aws(aws, stream, &kinesis_endpoint(), &aws.endpoint).args(["status", "--json"]).output().unwrap();
    assert_success(&out, &["status --json"]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    status["shards"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| Some((s["shard"].as_str()?.to_string(), s["silver_worker"].as_str()?.to_string())))
        .collect()
}

fn log_of(aws: &AwsLake, name: &str) -> String {
    let text = std::fs::read_to_string(aws.lake.dir.path().join(format!("{name}.log"))).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(30).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

#[test]
fn two_leased_workers_share_silver_by_shard_through_reshards_and_a_kill() {
    let aws = AwsLake::new("scale");
    let stream = format!("floe-scale-{}", std::process::id());
    tool(&["create", &stream, "4"]);
    // phase one without re-sends: every record is decoded once, so the decode counts add up
    let (first, first_file) = generated(&aws, 9_000, 0.0, 91);
    let (second, second_file) = generated(&aws, 4_000, 0.05, 92);
    let first_records = n(&first["records"]);
    assert_success(&on_aws(&aws, &stream, &kinesis_endpoint(), &aws.endpoint).arg("init").output().unwrap(), &["init"]);

    let a = start(&aws, &stream, "a");
    wait_for("a to take every lease", Duration::from_secs(60), || a.count("floe_leases_held") == 4);
    let mut b = start(&aws, &stream, "b");
    wait_for("b to steal its share", Duration::from_secs(60), || {
        a.count("floe_leases_held") == 2 && b.count("floe_leases_held") == 2
    });
    // a lease stolen from a live worker waits a lease duration before its silver starts
    std::thread::sleep(Duration::from_secs(4));

    let third = first_records / 3;
    let mut puts = vec![tool(&["put", &stream, &first_file, "0", &third.to_string(), "3"])];
    tool(&["split", &stream]);
    puts.push(tool(&["put", &stream, &first_file, &third.to_string(), &third.to_string(), "3"]));
    tool(&["merge", &stream]);
    let rest = first_records - 2 * third;
    puts.push(tool(&["put", &stream, &first_file, &(2 * third).to_string(), &rest.to_string(), "3"]));
    let silver_in = |w: &Worker| w.count("floe_silver_records_in_total");
    wait_for("silver to take in the first phase", Duration::from_secs(300), || {
        silver_in(&a) + silver_in(&b) >= first_records
    });
    let (ma, mb) = (a.metrics(), b.metrics());
    let decoded = |m: &str| metric_sum(m, "floe_silver_records_decoded_total");
    let (dec_a, dec_b) = (decoded(&ma), decoded(&mb));
    let figures = json!({
        "records": first_records,
        "decoded": {"a": dec_a, "b": dec_b},
        "commits": {"a": metric_sum(&ma, "floe_commit_duration_seconds_count"), "b": metric_sum(&mb, "floe_commit_duration_seconds_count")},
        "rebases": {"a": metric_sum(&ma, "floe_silver_commit_rebases_total"), "b": metric_sum(&mb, "floe_silver_commit_rebases_total")},
        "batch_conflicts": {"a": metric_sum(&ma, "floe_silver_batch_conflicts_total"), "b": metric_sum(&mb, "floe_silver_batch_conflicts_total")},
    });
    eprintln!("scale-out phase one: {figures}");
    assert_eq!(silver_in(&a) + silver_in(&b), first_records, "{figures}");
    assert!(dec_a > 0 && dec_b > 0, "both workers' silver decoded: {figures}");
    assert_eq!(dec_a + dec_b, first_records, "no bronze range decoded by both workers: {figures}");
    let by = silver_by(&aws, &stream);
    assert!(by.values().any(|w| w == "a") && by.values().any(|w| w == "b"), "{by:?}");

    // phase two: b is killed with a batch gathered (decoded, not yet committed)
    let (before, taken_before) = (decoded(&b.metrics()), a.count("floe_leases_taken_total"));
    let second_records = n(&second["records"]);
    puts.push(tool(&["put", &stream, &second_file, "0", &second_records.to_string(), "3"]));
    wait_for("b to gather part of the second phase", Duration::from_secs(120), || decoded(&b.metrics()) > before);
    b.daemon.0.kill().unwrap();
    b.daemon.0.wait().unwrap();
    let all = combined(&first, &second);
    let unique = n(&all["unique_valid"]);
    let malformed: u64 = all["malformed_by_reason"].as_object().unwrap().values().map(n).sum();
    wait_for("a to carry b's shards to the end", Duration::from_secs(300), || {
        let py = aws.pyiceberg(None);
        n(&py["events_distinct_ids"]) >= unique && n(&py["bad_rows"]) >= malformed
    });
    assert!(a.count("floe_leases_taken_total") > taken_before, "a took b's leases after the kill");

    // every shard is recorded with the worker that committed it last (b's finished ones may
    // still name b: nothing of theirs was left to carry on)
    let by = silver_by(&aws, &stream);
    assert!(by.len() >= 4 && by.values().all(|w| w == "a" || w == "b"), "{by:?}");

    let mut done = crate::torture::reconcile(&aws, &all, &puts);
    done["test"] = json!("two leased workers, split, merge, SIGKILL");
    done["phase_one"] = figures;
    crate::torture::summary(&done);
    assert_eq!(
        (done["lost"].clone(), done["duplicated"].clone()),
        (json!(0), json!(0)),
        "{done}\n{}",
        log_of(&aws, "a")
    );
    assert!(n(&done["dedup_drops"]) > 0, "re-sends were dropped: {done}");
    assert_eq!(done["bad_by_reason"], done["want_bad_by_reason"], "{done}");
}

/// Spawn `c` under GNU time, which writes the process's user and system CPU seconds, its minor
/// page faults and its peak RSS (KiB) to `cpu_file` ([`Usage::of`] reads them).
fn timed(c: &std::process::Command, cpu_file: &std::path::Path) -> std::process::Child {
    let mut t = std::process::Command::new("/usr/bin/time");
    t.arg("-f").arg("%U %S %R %M").arg("-o").arg(cpu_file).arg(c.get_program()).args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => t.env(k, v),
            None => t.env_remove(k),
        };
    }
    let log = std::fs::File::create(cpu_file.with_extension("log")).expect("create the worker's log");
    t.stdout(Stdio::piped()).stderr(log).spawn().expect("spawn /usr/bin/time floe")
}

/// What GNU time reported for one worker (see [`timed`]).
struct Usage {
    cpu_s: f64,
    minor_faults: f64,
    max_rss_mib: f64,
}

impl Usage {
    fn of(file: &std::path::Path) -> Usage {
        let text = std::fs::read_to_string(file).unwrap();
        // the last line: GNU time puts "Command exited with non-zero status" lines before it
        let line = text.lines().last().unwrap_or_default();
        let v: Vec<f64> = line.split_whitespace().map(|w| w.parse().unwrap()).collect();
        assert_eq!(v.len(), 4, "GNU time's line: {line:?}");
        Usage { cpu_s: v[0] + v[1], minor_faults: v[2], max_rss_mib: v[3] / 1024.0 }
    }
}

/// The settings the container ships with, not the tests' fast ones (`Lake::floe`): how often a
/// worker polls and commits is most of what a waiting worker costs, and the image's
/// `GLIBC_TUNABLES` (read from the Dockerfile) decide how much memory each process faults in.
/// Reads are capped at 100 records: kinesis-local serves about 1.5 MB/s, so a full page of 1,000
/// aggregates (~28 MB) outlasts the SDK's 20 s attempt timeout and every retry asks for it again.
fn shipped_defaults(c: &mut std::process::Command) {
    c.env("GLIBC_TUNABLES", image_glibc_tunables());
    for knob in [
        "FLOE_BRONZE_FLUSH_RECORDS",
        "FLOE_BRONZE_FLUSH_INTERVAL",
        "FLOE_SILVER_BATCH_MAX_OBJECTS",
        "FLOE_SILVER_INTERVAL",
        "FLOE_SILVER_COMMIT_INTERVAL",
        "FLOE_SOURCE_POLL_INTERVAL",
    ] {
        c.env_remove(knob);
    }
    c.env("FLOE_SOURCE_READ_RECORDS", "100");
}

/// The `GLIBC_TUNABLES` the container image sets (its Dockerfile's `ENV`).
fn image_glibc_tunables() -> String {
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let (_, rest) = dockerfile.split_once("GLIBC_TUNABLES=").expect("the Dockerfile sets GLIBC_TUNABLES");
    rest.split(|c: char| c.is_whitespace() || c == '\\').next().unwrap().to_string()
}

/// The figures of one configuration: workers run `--until-idle` side by side on their own lake.
fn measure(aws: &AwsLake, stream: &str, workers: &[&str], report: &Value, puts: &[Value]) -> Value {
    let started = std::time::Instant::now();
    let children: Vec<_> = workers
        .iter()
        .map(|name| {
            let mut c = on_aws(aws, stream, &kinesis_endpoint(), &aws.endpoint);
            shipped_defaults(&mut c);
            c.env("FLOE_CHECKPOINT_LEASE_DURATION", "5s").env("FLOE_CHECKPOINT_WORKER_ID", name).args([
                "run",
                "--until-idle",
                "--json",
            ]);
            let file = aws.lake.dir.path().join(format!("cpu-{name}"));
            (timed(&c, &file), file)
        })
        .collect();
    let (mut cpu, mut commits, mut rebases, mut conflicts, mut records, mut read) = (0.0, 0, 0, 0, 0, 0);
    let (mut faults, mut rss) = (0.0, Vec::new());
    let mut commit_drops = 0;
    // why batches failed (a conflict's message names the shard that moved), from the logs
    let mut failures = Vec::new();
    for (child, file) in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a worker failed");
        let s: Value = serde_json::from_slice(&out.stdout).unwrap();
        let usage = Usage::of(&file);
        cpu += usage.cpu_s;
        faults += usage.minor_faults;
        rss.push(usage.max_rss_mib.round());
        commits += n(&s["counters"]["silver_batches"]);
        rebases += n(&s["counters"]["commit_rebases"]);
        conflicts += n(&s["counters"]["batch_conflicts"]);
        commit_drops += n(&s["counters"]["commit_dedup_drops"]);
        records += n(&s["counters"]["silver_records_in"]);
        read += n(&s["counters"]["records_read"]);
        let log = std::fs::read_to_string(file.with_extension("log")).unwrap_or_default();
        failures.extend(log.lines().filter(|l| l.contains("silver batch failed")).map(str::to_string));
    }
    let wall = started.elapsed().as_secs_f64();
    let check = crate::torture::reconcile(aws, report, puts);
    assert_eq!((check["lost"].clone(), check["duplicated"].clone()), (json!(0), json!(0)), "{check}");
    let events = n(&report["records"]) as f64;
    json!({
        "workers": workers.len(),
        "cpu_s": cpu,
        "cpu_s_per_1m": cpu / events * 1e6,
        "wall_s": wall,
        "silver_records_in": records,
        "kinesis_records_read": read,
        "commits": commits,
        "rebases_per_100_commits": 100.0 * rebases as f64 / commits.max(1) as f64,
        "conflicts_per_100_commits": 100.0 * conflicts as f64 / commits.max(1) as f64,
        "commit_dedup_drops": commit_drops,
        "minor_page_faults": faults,
        "peak_rss_mib_per_worker": rss,
        "batch_failures": failures,
    })
}

/// Benchmark (BENCHMARKS.md, "Silver scale-out"): the same stream landed by one worker and by two,
/// each on a fresh bucket, Glue database and lease table; CPU-seconds (user + system, GNU time)
/// per 1M events of all workers together, and commit rebases and conflicts per 100 commits.
/// Two inputs of `FLOE_BENCH_EVENTS` events (default 200,000): without re-sends, and with 1 %
/// re-sends under random partition keys (so half of them land on the other worker's shards).
/// Command:
/// `FLOE_BENCH_EVENTS=200000 bash scripts/test.sh --release --test it -- --ignored scale_out::cpu --nocapture`
#[test]
#[ignore = "benchmark; see the doc comment for the command"]
fn cpu_per_million_events_with_one_worker_and_with_two() {
    let events: u64 = std::env::var("FLOE_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    for (dup, seed) in [(0.0, 94), (0.01, 93)] {
        let one = AwsLake::new("cpu1");
        let two = AwsLake::new("cpu2");
        let stream = format!("floe-cpu-{}-{seed}", std::process::id());
        tool(&["create", &stream, "4"]);
        let (report, file) = generated(&one, events, dup, seed);
        let records = n(&report["records"]);
        // every group of records one KPL aggregate: kinesis-local takes ~2 ms per put record
        let puts = vec![tool(&["put", &stream, &file, "0", &records.to_string(), "1"])];
        for aws in [&one, &two] {
            assert_success(
                &on_aws(aws, &stream, &kinesis_endpoint(), &aws.endpoint).arg("init").output().unwrap(),
                &["init"],
            );
        }
        let single = measure(&one, &stream, &["solo"], &report, &puts);
        let pair = measure(&two, &stream, &["w1", "w2"], &report, &puts);
        let ratio = pair["cpu_s_per_1m"].as_f64().unwrap() / single["cpu_s_per_1m"].as_f64().unwrap();
        let figures = json!({"events": records, "resend_rate": dup, "one_worker": single, "two_workers": pair, "cpu_ratio_two_to_one": ratio});
        println!("scale-out benchmark: {figures}");
    }
}

/// Two `--until-idle` workers on one stream: a worker that has read its shards to the tip still
/// counts them as its leases. (It did not: it looked under-loaded and stole from the other,
/// which then stole back — the same ranges read again and again, until the run ended.)
#[test]
fn until_idle_workers_do_not_steal_leases_back_and_forth() {
    let aws = AwsLake::new("idle");
    let stream = format!("floe-idle-{}", std::process::id());
    tool(&["create", &stream, "4"]);
    let (report, file) = generated(&aws, 24_000, 0.0, 95);
    let records = n(&report["records"]);
    let puts = vec![tool(&["put", &stream, &file, "0", &records.to_string(), "1"])];
    let floe = |name: &str| {
        let mut c = on_aws(&aws, &stream, &kinesis_endpoint(), &aws.endpoint);
        // pages of 100 aggregates: kinesis-local serves ~1.5 MB/s (see `shipped_defaults`)
        // commits only when drained: the one worker's commit stays open while the other's
        // leases come over (the hand-over the conflict check below is about)
        c.env("FLOE_CHECKPOINT_LEASE_DURATION", "3s")
            .env("FLOE_CHECKPOINT_WORKER_ID", name)
            .env("FLOE_SOURCE_READ_RECORDS", "100")
            .env("FLOE_SILVER_COMMIT_INTERVAL", "10m");
        c
    };
    assert_success(&floe("a").arg("init").output().unwrap(), &["init"]);
    let workers: Vec<_> = ["a", "b"]
        .iter()
        .map(|name| {
            let log = std::fs::File::create(aws.lake.dir.path().join(format!("{name}.log"))).unwrap();
            floe(name).args(["run", "--until-idle"]).stdout(Stdio::null()).stderr(log).spawn().unwrap()
        })
        .collect();
    for mut w in workers {
        assert!(w.wait().unwrap().success(), "a worker failed:\n{}\n{}", log_of(&aws, "a"), log_of(&aws, "b"));
    }
    // balancing 4 + 0 to 2 + 2 takes two steals; after that neither worker steals again
    let whole = |w: &str| std::fs::read_to_string(aws.lake.dir.path().join(format!("{w}.log"))).unwrap();
    let steals: usize = ["a", "b"].iter().map(|w| whole(w).matches("stolen=true").count()).sum();
    assert!(steals <= 2, "{steals} steals:\n{}\n{}", log_of(&aws, "a"), log_of(&aws, "b"));
    // The first worker to finish commits and gives its leases back; the other takes them while
    // a commit of its own may be open. That commit read the shards' watermarks before the
    // first worker's last commit, so it must leave them to its next commit (`scope.rs`).
    let conflicts: usize =
        ["a", "b"].iter().map(|w| whole(w).matches("while the batch was being written").count()).sum();
    assert_eq!(
        conflicts,
        0,
        "a commit planned a handed-over shard from a stale watermark:\n{}\n{}",
        log_of(&aws, "a"),
        log_of(&aws, "b")
    );
    let done = crate::torture::reconcile(&aws, &report, &puts);
    assert_eq!((done["lost"].clone(), done["duplicated"].clone()), (json!(0), json!(0)), "{done}");
}

/// Bronze failing for good (here: the stream is deleted under it) stops the whole daemon with the
/// error. It once hung instead: bronze waited for silver to stop before giving the leases back,
/// and silver, with bronze gone, never saw the sources drain.
#[test]
fn a_worker_whose_bronze_fails_stops_with_the_error_instead_of_hanging() {
    let aws = AwsLake::new("gone");
    let stream = format!("floe-gone-{}", std::process::id());
    tool(&["create", &stream, "1"]);
    let (report, file) = generated(&aws, 500, 0.0, 96);
    tool(&["put", &stream, &file, "0", &n(&report["records"]).to_string(), "1"]);
    let init = on_aws(&aws, &stream, &kinesis_endpoint(), &aws.endpoint).arg("init").output().unwrap();
    assert_success(&init, &["init"]);
    let mut w = start(&aws, &stream, "a");
    wait_for("a silver commit", Duration::from_secs(120), || w.count("floe_silver_records_in_total") > 0);
    tool(&["delete", &stream]);
    let begun = std::time::Instant::now();
    let status = loop {
        if let Some(s) = w.daemon.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(120),
            "still running after its stream was deleted:\n{}",
            log_of(&aws, "a")
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(!status.success(), "{}", log_of(&aws, "a"));
    assert!(log_of(&aws, "a").contains("bronze failed"), "{}", log_of(&aws, "a"));
}

/// Benchmark (BENCHMARKS.md, "Silver scale-out"): what a worker costs while it waits — one
/// combined worker at the shipped defaults on an empty 4-shard stream for `FLOE_BENCH_IDLE_SECS`
/// (default 60) seconds, CPU-seconds by GNU time. Every worker of a scale-out pays this, so it is
/// what a second worker adds on a source-bound stream. With `FLOE_BENCH_PERF_OUT=<file>`, the
/// worker runs under `perf record` (to see where the time goes). Command:
/// `bash scripts/test.sh --release --test it -- --ignored scale_out::idle --nocapture`
#[test]
#[ignore = "benchmark; see the doc comment for the command"]
fn idle_cost_of_a_waiting_worker() {
    let secs: u64 = std::env::var("FLOE_BENCH_IDLE_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let aws = AwsLake::new("idle");
    let stream = format!("floe-idle-{}", std::process::id());
    tool(&["create", &stream, "4"]);
    assert_success(&on_aws(&aws, &stream, &kinesis_endpoint(), &aws.endpoint).arg("init").output().unwrap(), &["init"]);
    let mut c = on_aws(&aws, &stream, &kinesis_endpoint(), &aws.endpoint);
    shipped_defaults(&mut c);
    c.env("FLOE_CHECKPOINT_LEASE_DURATION", "5s").env("FLOE_CHECKPOINT_WORKER_ID", "idle").args(["run"]);
    if let Ok(out) = std::env::var("FLOE_BENCH_PERF_OUT") {
        let mut p = std::process::Command::new("perf");
        p.args(["record", "-F", "499", "-g", "-o", &out, "--"]).arg(c.get_program()).args(c.get_args());
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => p.env(k, v),
                None => p.env_remove(k),
            };
        }
        c = p;
    }
    let file = aws.lake.dir.path().join("cpu-idle");
    let child = timed(&c, &file);
    // the first seconds take the leases and create nothing: measured from start, as a scale-out pays it
    std::thread::sleep(Duration::from_secs(secs));
    // GNU time (and perf) do not pass a SIGTERM on: stop the worker itself, their descendant
    let mut pid = child.id().to_string();
    loop {
        let out = std::process::Command::new("pgrep").args(["-P", &pid]).output().unwrap();
        match String::from_utf8_lossy(&out.stdout).split_whitespace().next() {
            Some(next) => pid = next.to_string(),
            None => break,
        }
    }
    let term = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(term.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the worker failed");
    let cpu = Usage::of(&file).cpu_s;
    println!(
        "idle benchmark: {}",
        json!({"seconds": secs, "cpu_s": cpu, "cpu_s_per_minute": cpu * 60.0 / secs as f64, "core_share": cpu / secs as f64})
    );
}
