//! Split brain: a worker frozen (SIGSTOP — a GC pause, a stalled host, a frozen VM) past its
//! lease expiry while it holds records not yet in bronze, another worker taking its shards over,
//! then the frozen one resumed (SIGCONT). Kinesis → S3 bronze → Glue silver, DynamoDB leases.
//!
//! Two moments to freeze at, because they differ:
//! - with the batch still open: on waking, the worker's lease writes fail (the epoch moved on),
//!   it stops the shards and writes nothing — no object carries its old epoch;
//! - between the fence (the conditional write that proved the lease was ours) and the S3 put
//!   (the `bronze-after-fence` pause point): no lease can stop that put, S3 knows nothing of
//!   leases. The stale object lands, stamped with the old epoch, over records the new owner
//!   already wrote; its checkpoint write is refused. Silver still holds every record once: its
//!   per-shard cursor takes each position once, whichever object carries it.
//!
//! Both end with every valid event once in silver and every malformed record one bad row.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::faults::on_aws;
use crate::kinesis::{endpoint as kinesis_endpoint, expected, sigterm, tool, wait_for_bronze_in};
use crate::ops::{Daemon, free_port, get, metric_sum, wait_for};
use crate::support::{AwsLake, assert_success, reader_with};
use crate::torture::{reconcile, summary};

/// Where the worker is frozen.
#[derive(Clone, Copy, PartialEq)]
enum Freeze {
    /// Records read, the batch not yet flushed.
    OpenBatch,
    /// The lease fenced for an object, the object not yet put.
    AfterFence,
}

fn signal(d: &Daemon, sig: &str) {
    assert!(Command::new("kill").args([sig, &d.0.id().to_string()]).status().unwrap().success(), "kill {sig}");
}

/// The process is stopped (state `T` in /proc/<pid>/stat).
fn is_stopped(d: &Daemon) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", d.0.id())).unwrap_or_default();
    stat.rsplit(") ").next().is_some_and(|rest| rest.starts_with('T'))
}

fn metric(port: u16, name: &str) -> Option<u64> {
    get(port, "/metrics").map(|(_, m)| metric_sum(&m, name))
}

fn bronze(aws: &AwsLake) -> Value {
    reader_with("kinesis_tool.py", &[aws.endpoint.as_str(), "bronze-s3", &aws.bucket, "bronze"])
}

/// The keys of the bronze objects.
fn keys(b: &Value) -> std::collections::HashSet<String> {
    b["objects"].as_array().unwrap().iter().map(|o| o["key"].as_str().unwrap().to_string()).collect()
}

/// The epoch each bronze object was written under (S3 metadata; its Parquet footer must agree).
fn epochs(b: &Value) -> Vec<u64> {
    b["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["metadata_epoch"], o["footer_epoch"], "S3 metadata and footer disagree: {o}");
            o["metadata_epoch"].as_str().and_then(|e| e.parse().ok()).unwrap_or_else(|| panic!("no epoch on {o}"))
        })
        .collect()
}

fn split_brain(freeze: Freeze) -> Value {
    let aws = AwsLake::new("split");
    let lake = &aws.lake;
    let report = lake.generate(2_000, 1, 0.03, 0.03, 91);
    let records = report["records"].as_u64().unwrap();
    let spool_file = std::fs::read_dir(lake.spool()).unwrap().next().unwrap().unwrap().path();
    let spool_file = spool_file.to_str().unwrap().to_string();
    let stream = format!("floe-split-{}-{}", std::process::id(), freeze as u8);
    tool(&["create", &stream, "2"]);
    let kinesis = kinesis_endpoint();
    let floe = |name: &str, port: u16| {
        let mut c = on_aws(&aws, &stream, &kinesis, &aws.endpoint);
        c.env("FLOE_CHECKPOINT_LEASE_DURATION", "3s")
            .env("FLOE_CHECKPOINT_WORKER_ID", name)
            .env("FLOE_METRICS_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(lake.dir.path().join(format!("{name}.log"))).unwrap());
        c
    };
    let log = |name: &str| crate::kinesis::log_of(lake, name);
    assert_success(&floe("init", free_port()).arg("init").output().unwrap(), &["init"]);
    // the first half before the freeze, the second once both workers run again
    let half = records / 2;

    let port_a = free_port();
    let mut a = floe("a", port_a);
    a.arg("run");
    match freeze {
        // a batch that stays open long after its records were read
        Freeze::OpenBatch => a.env("FLOE_BRONZE_FLUSH_INTERVAL", "60s"),
        Freeze::AfterFence => a.env("FLOE_BRONZE_FLUSH_INTERVAL", "1s").env("FLOE_TEST_PAUSE_AT", "bronze-after-fence"),
    };
    let mut a = Daemon(a.spawn().unwrap());
    // the first half goes in once a holds both leases (its first look takes only one of them),
    // so a holds every shard when it freezes
    wait_for("a to hold both leases", Duration::from_secs(60), || metric(port_a, "floe_leases_held") == Some(2));
    let mut puts = vec![tool(&["put", &stream, &spool_file, "0", &half.to_string(), "3"])];
    let first_half = expected(&puts).len() as u64;
    match freeze {
        Freeze::OpenBatch => {
            wait_for("a to read the first half into its open batches", Duration::from_secs(60), || {
                metric(port_a, "floe_leases_held") == Some(2)
                    && metric(port_a, "floe_records_in_total").is_some_and(|n| n >= first_half)
            });
            assert_eq!(epochs(&bronze(&aws)).len(), 0, "nothing in bronze yet: the batches are open");
            signal(&a, "-STOP");
        }
        Freeze::AfterFence => wait_for("a to stop itself after its fence", Duration::from_secs(60), || {
            is_stopped(&a) && log("a").contains("pause point bronze-after-fence reached")
        }),
    }
    // SIGSTOP is delivered asynchronously: on a busy machine the state shows it a moment later
    wait_for("a to be frozen", Duration::from_secs(10), || is_stopped(&a));
    let frozen_at = Instant::now();
    // what a wrote while it held the leases: not stale, whatever its epoch
    let before_freeze = keys(&bronze(&aws));
    // a held both leases at epoch 1; whatever b writes is stamped 2 or later
    let a_epoch = 1;

    // b takes both shards once a's leases expired (3 s without renewal), and drains them
    let port_b = free_port();
    let mut b = Daemon(floe("b", port_b).arg("run").env("FLOE_BRONZE_FLUSH_INTERVAL", "1s").spawn().unwrap());
    let read = || bronze(&aws);
    let first = wait_for_bronze_in(lake, first_half as usize, Duration::from_secs(120), read);
    assert_eq!(metric(port_b, "floe_leases_held"), Some(2), "b holds both shards:\n{}", log("b"));
    assert!(frozen_at.elapsed() >= Duration::from_secs(3), "b took the leases only after they expired");
    let before_wake = epochs(&first);
    assert!(before_wake.iter().all(|e| *e > a_epoch), "b writes under a newer epoch: {before_wake:?}");

    // a wakes up: its lease writes are refused, it stops writing the shards it no longer holds
    signal(&a, "-CONT");
    wait_for("a to see its leases were taken", Duration::from_secs(60), || {
        metric(port_a, "floe_leases_lost_total").is_some_and(|n| n >= 1)
    });
    // both keep running and share the stream: the second half goes through them
    puts.push(tool(&["put", &stream, &spool_file, &half.to_string(), &(records - half).to_string(), "3"]));
    let want = expected(&puts).len();
    wait_for_bronze_in(lake, want, Duration::from_secs(120), read);
    sigterm(&mut a, "a", lake);
    sigterm(&mut b, "b", lake);

    let out = floe("final", free_port()).args(["run", "--until-idle", "--json"]).output().unwrap();
    assert_success(&out, &["run --until-idle after the split brain", &log("final")]);
    let bronze_now = bronze(&aws);
    // objects of a's epoch that landed after it froze
    let stale = bronze_now["objects"]
        .as_array()
        .unwrap()
        .iter()
        .zip(epochs(&bronze_now))
        .filter(|(o, e)| *e <= a_epoch && !before_freeze.contains(o["key"].as_str().unwrap()))
        .count();
    let mut figures = reconcile(&aws, &report, &puts);
    figures["test"] = json!(match freeze {
        Freeze::OpenBatch => "split brain: frozen past its lease with open batches",
        Freeze::AfterFence => "split brain: frozen between its fence and its S3 put",
    });
    figures["stale_objects"] = json!(stale);
    match freeze {
        Freeze::OpenBatch => assert_eq!(stale, 0, "a wrote nothing after waking: {figures}"),
        // the put fencing cannot stop landed; what it holds, b had written too. The freeze (a
        // SIGSTOP the process sends itself) takes a moment to land, so the other shard's writer
        // may have passed its own fence too: at most one put in flight per shard, none after.
        Freeze::AfterFence => assert!((1..=2).contains(&stale), "a's puts in flight landed, no more: {figures}"),
    }
    figures
}

/// Silver holds every valid event once and every malformed record as one bad row; bronze may
/// hold the stale object's records twice (a second copy of positions b wrote), never less.
fn assert_silver_exact(mut figures: Value) {
    let bronze_twice = figures["bronze_twice"].as_u64().unwrap();
    let silver_duplicated = figures["duplicated"].as_u64().unwrap() - bronze_twice;
    figures["duplicated"] = json!(silver_duplicated);
    figures["stale_records_in_bronze"] = json!(bronze_twice);
    summary(&figures);
    assert_eq!((figures["lost"].clone(), figures["duplicated"].clone()), (json!(0), json!(0)), "{figures}");
    assert_eq!(figures["bad_by_reason"], figures["want_bad_by_reason"], "{figures}");
}

#[test]
fn a_worker_frozen_past_its_lease_with_open_batches_writes_nothing_stale() {
    // nothing of a's frozen epoch landed (`stale_objects`, checked inside). Bronze may still
    // hold a range twice from the balancing afterwards, when a steals a shard back from a live b
    // whose flush had passed its fence (the window of ADR 0007); silver stays exact either way.
    let figures = split_brain(Freeze::OpenBatch);
    assert_silver_exact(figures);
}

#[test]
fn a_worker_frozen_between_its_fence_and_its_put_lands_one_stale_object_silver_reads_once() {
    assert_silver_exact(split_brain(Freeze::AfterFence));
}
