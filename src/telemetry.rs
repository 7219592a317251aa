//! Logging, metrics and the run's counters, in one place. Logs go to stderr (JSON with
//! `--log-format json`, level by `RUST_LOG`). Every metric name is defined here; the counters
//! are what `run` prints at the end and what the accounting check (records in = silver rows +
//! bad rows + dedup drops) is made from, and each update is mirrored to Prometheus.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

pub mod names {
    pub const RECORDS_IN: &str = "floe_records_in_total";
    pub const BYTES_IN: &str = "floe_bytes_in_total";
    pub const MILLIS_BEHIND_LATEST: &str = "floe_millis_behind_latest";
    pub const BRONZE_OBJECTS: &str = "floe_bronze_objects_total";
    pub const BRONZE_BYTES: &str = "floe_bronze_bytes_total";
    pub const SILVER_RECORDS_IN: &str = "floe_silver_records_in_total";
    pub const SILVER_ROWS: &str = "floe_silver_rows_total";
    pub const BAD_ROWS: &str = "floe_bad_rows_total";
    pub const DEDUP_DROPS: &str = "floe_dedup_drops_total";
    pub const COMMIT_SECONDS: &str = "floe_commit_duration_seconds";
    pub const COMMIT_CONFLICTS: &str = "floe_commit_conflicts_total";
    pub const FRESHNESS_SECONDS: &str = "floe_freshness_seconds";
    pub const LEASES_HELD: &str = "floe_leases_held";
    pub const THROTTLED: &str = "floe_source_throttled_total";
    pub const CATALOG_REACHABLE: &str = "floe_catalog_reachable";
    pub const LEASES_TAKEN: &str = "floe_leases_taken_total";
    pub const LEASES_LOST: &str = "floe_leases_lost_total";
    pub const SUBSCRIPTIONS: &str = "floe_source_subscriptions_total";
    pub const DEDUP_IDS: &str = "floe_dedup_ids";
    pub const DEDUP_MEMORY: &str = "floe_dedup_memory_bytes";
    pub const SILVER_DECODED: &str = "floe_silver_records_decoded_total";
    pub const SILVER_REBASES: &str = "floe_silver_commit_rebases_total";
    pub const SILVER_BATCH_CONFLICTS: &str = "floe_silver_batch_conflicts_total";
    pub const SILVER_COMMIT_DEDUP_DROPS: &str = "floe_silver_commit_dedup_drops_total";
}

/// Install the Prometheus recorder and describe every metric. Returns the handle that renders
/// the exposition text for `/metrics`.
pub fn install_metrics() -> Result<metrics_exporter_prometheus::PrometheusHandle, String> {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    use names::*;
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(FRESHNESS_SECONDS.to_string()),
            &[1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0],
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(COMMIT_SECONDS.to_string()),
                &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
            )
        })
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    describe_counter!(RECORDS_IN, "Records read from the source, per shard");
    describe_counter!(BYTES_IN, "Bytes read from the source, per shard");
    describe_gauge!(MILLIS_BEHIND_LATEST, "How far the shard's reader is behind the stream's tip (ms)");
    describe_counter!(BRONZE_OBJECTS, "Bronze objects written, per shard");
    describe_counter!(BRONZE_BYTES, "Bytes of bronze objects written, per shard");
    describe_counter!(SILVER_RECORDS_IN, "Bronze records processed by silver, per table");
    describe_counter!(SILVER_ROWS, "Rows committed, per table");
    describe_counter!(BAD_ROWS, "Records rejected to the bad-rows table, per table and reason");
    describe_counter!(DEDUP_DROPS, "Records dropped as duplicates of an event id, per table");
    describe_histogram!(COMMIT_SECONDS, "Duration of a table commit (s)");
    describe_counter!(COMMIT_CONFLICTS, "Commits refused because the table moved, per table");
    describe_histogram!(FRESHNESS_SECONDS, "Arrival of a batch's oldest record to its commit (s)");
    describe_gauge!(LEASES_HELD, "Shard leases this worker holds");
    describe_counter!(LEASES_TAKEN, "Leases this worker took (free, expired or stolen for balance)");
    describe_counter!(LEASES_LOST, "Leases taken over from this worker (it stopped writing those shards)");
    describe_counter!(THROTTLED, "Source reads refused for throughput (backed off and retried), per shard");
    describe_gauge!(CATALOG_REACHABLE, "1 when the last catalog check succeeded");
    describe_gauge!(DEDUP_IDS, "Committed ids the dedup state holds, per table and tier (memory, disk)");
    describe_gauge!(DEDUP_MEMORY, "Memory the dedup state holds (hash table, filters and indexes), per table");
    describe_counter!(
        SILVER_DECODED,
        "Bronze records this worker's silver read past the watermark, per shard (with leases, the shards it holds)"
    );
    describe_counter!(
        SILVER_REBASES,
        "Commits that landed on a head another writer had moved (re-checked and re-applied), per table"
    );
    describe_counter!(
        SILVER_BATCH_CONFLICTS,
        "Silver batches given up because a shard of theirs moved under them (read again), per table"
    );
    describe_counter!(
        SILVER_COMMIT_DEDUP_DROPS,
        "Rows a commit dropped from its own files because another writer committed their event ids first, per table"
    );
    describe_counter!(
        SUBSCRIPTIONS,
        "Enhanced fan-out subscriptions opened (the service ends each after 5 minutes), per shard"
    );
    Ok(handle)
}

/// A commit finished: its duration and, for a committed batch, the age of its oldest record.
pub fn record_commit(table: &str, took: Duration, oldest_arrival_micros: Option<i64>) {
    metrics::histogram!(names::COMMIT_SECONDS, "table" => table.to_string()).record(took.as_secs_f64());
    if let Some(t) = oldest_arrival_micros {
        let age = (chrono::Utc::now().timestamp_micros() - t).max(0) as f64 / 1e6;
        metrics::histogram!(names::FRESHNESS_SECONDS, "table" => table.to_string()).record(age);
    }
}

/// Kinesis's MillisBehindLatest of the last read of `shard`.
pub fn record_millis_behind(shard: &str, ms: i64) {
    metrics::gauge!(names::MILLIS_BEHIND_LATEST, "shard" => shard.to_string()).set(ms as f64);
}

/// The dedup state's size after a round (ADR 0017): ids in memory and on disk, and its memory.
pub fn record_dedup_state(table: &str, in_memory: u64, on_disk: u64, memory_bytes: u64) {
    for (tier, n) in [("memory", in_memory), ("disk", on_disk)] {
        metrics::gauge!(names::DEDUP_IDS, "table" => table.to_string(), "tier" => tier).set(n as f64);
    }
    metrics::gauge!(names::DEDUP_MEMORY, "table" => table.to_string()).set(memory_bytes as f64);
}

/// The records a silver round read, counted per shard (which worker decoded which bronze).
pub fn record_silver_decoded(positions: &[(crate::model::ShardId, crate::model::Position)]) {
    let mut per: BTreeMap<&str, u64> = BTreeMap::new();
    for (s, _) in positions {
        *per.entry(s.as_str()).or_default() += 1;
    }
    for (shard, n) in per {
        metrics::counter!(names::SILVER_DECODED, "shard" => shard.to_string()).increment(n);
    }
}

/// A commit landed after `refusals` compare-and-swap refusals: it was rebased that many times.
pub fn record_rebase(table: &str, refusals: u64) {
    COMMIT_REBASES.fetch_add(refusals, Relaxed);
    metrics::counter!(names::SILVER_REBASES, "table" => table.to_string()).increment(refusals);
}

/// A commit dropped `rows` of its own because another writer committed the same event ids first
/// (part of the dedup drops as well).
pub fn record_commit_dedup_drops(table: &str, rows: u64) {
    COMMIT_DEDUP_DROPS.fetch_add(rows, Relaxed);
    metrics::counter!(names::SILVER_COMMIT_DEDUP_DROPS, "table" => table.to_string()).increment(rows);
}

/// A silver batch was given up on a conflict (one of its shards moved under it).
pub fn record_batch_conflict(table: &str) {
    BATCH_CONFLICTS.fetch_add(1, Relaxed);
    metrics::counter!(names::SILVER_BATCH_CONFLICTS, "table" => table.to_string()).increment(1);
}

pub fn record_leases_held(n: usize) {
    metrics::gauge!(names::LEASES_HELD).set(n as f64);
}

pub fn record_lease_taken(shard: &str) {
    metrics::counter!(names::LEASES_TAKEN, "shard" => shard.to_string()).increment(1);
}

pub fn record_lease_lost(shard: &str) {
    metrics::counter!(names::LEASES_LOST, "shard" => shard.to_string()).increment(1);
}

pub fn record_throttled(shard: &str) {
    metrics::counter!(names::THROTTLED, "shard" => shard.to_string()).increment(1);
}

pub fn record_subscription(shard: &str) {
    metrics::counter!(names::SUBSCRIPTIONS, "shard" => shard.to_string()).increment(1);
}

/// Commits the catalog refused because another writer got there first (all tables, this process).
static COMMIT_CONFLICTS: AtomicU64 = AtomicU64::new(0);
/// Re-applications of refused commits that then landed (all tables, this process).
static COMMIT_REBASES: AtomicU64 = AtomicU64::new(0);
static COMMIT_DEDUP_DROPS: AtomicU64 = AtomicU64::new(0);
/// Silver batches given up on a conflict (all tables, this process).
static BATCH_CONFLICTS: AtomicU64 = AtomicU64::new(0);

pub fn record_conflict(table: &str) {
    COMMIT_CONFLICTS.fetch_add(1, Relaxed);
    metrics::counter!(names::COMMIT_CONFLICTS, "table" => table.to_string()).increment(1);
}

/// Start the tracing subscriber. `json` selects one JSON object per line (for CloudWatch / ECS);
/// `default_filter` applies when `RUST_LOG` is not set.
pub fn init_logging(json: bool, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    // colours only on a terminal: a log file or CloudWatch would get the escape codes as text
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    // a second init (tests) is harmless: the first subscriber stays
    let first = if json { builder.json().try_init() } else { builder.compact().try_init() };
    drop(first);
}

/// Counters of one process's work since start.
#[derive(Debug, Default)]
pub struct Counters {
    pub records_read: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bronze_objects: AtomicU64,
    pub bronze_records: AtomicU64,
    pub bronze_bytes: AtomicU64,
    pub silver_batches: AtomicU64,
    pub silver_records_in: AtomicU64,
    pub silver_rows: AtomicU64,
    pub dedup_drops: AtomicU64,
    pub bad_rows: AtomicU64,
    bad_by_reason: Mutex<BTreeMap<String, u64>>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct CountersSnapshot {
    pub records_read: u64,
    pub bytes_read: u64,
    pub bronze_objects: u64,
    pub bronze_records: u64,
    pub bronze_bytes: u64,
    pub silver_batches: u64,
    pub silver_records_in: u64,
    pub silver_rows: u64,
    pub dedup_drops: u64,
    pub bad_rows: u64,
    pub bad_by_reason: BTreeMap<String, u64>,
    pub commit_conflicts: u64,
    /// Commits re-applied on a head another writer moved (see [`record_rebase`]).
    pub commit_rebases: u64,
    /// Silver batches given up on a conflict and planned again.
    pub batch_conflicts: u64,
    /// Dedup drops made at commit time: ids another writer committed first (ADR 0018).
    pub commit_dedup_drops: u64,
}

impl Counters {
    pub fn add_read(&self, shard: &str, records: u64, bytes: u64) {
        self.records_read.fetch_add(records, Relaxed);
        self.bytes_read.fetch_add(bytes, Relaxed);
        metrics::counter!(names::RECORDS_IN, "shard" => shard.to_string()).increment(records);
        metrics::counter!(names::BYTES_IN, "shard" => shard.to_string()).increment(bytes);
    }

    pub fn add_bronze_object(&self, shard: &str, records: u64, bytes: u64) {
        self.bronze_objects.fetch_add(1, Relaxed);
        self.bronze_records.fetch_add(records, Relaxed);
        self.bronze_bytes.fetch_add(bytes, Relaxed);
        metrics::counter!(names::BRONZE_OBJECTS, "shard" => shard.to_string()).increment(1);
        metrics::counter!(names::BRONZE_BYTES, "shard" => shard.to_string()).increment(bytes);
    }

    /// One committed silver batch: `records_in` bronze records became `rows` silver rows,
    /// `dedup` drops and the bad rows in `bad`.
    pub fn add_silver_batch(&self, table: &str, records_in: u64, rows: u64, dedup: u64, bad: &BTreeMap<String, u64>) {
        let t = table.to_string();
        metrics::counter!(names::SILVER_RECORDS_IN, "table" => t.clone()).increment(records_in);
        metrics::counter!(names::SILVER_ROWS, "table" => t.clone()).increment(rows);
        metrics::counter!(names::DEDUP_DROPS, "table" => t.clone()).increment(dedup);
        for (reason, n) in bad {
            metrics::counter!(names::BAD_ROWS, "table" => t.clone(), "reason" => reason.clone()).increment(*n);
        }
        self.silver_batches.fetch_add(1, Relaxed);
        self.silver_records_in.fetch_add(records_in, Relaxed);
        self.silver_rows.fetch_add(rows, Relaxed);
        self.dedup_drops.fetch_add(dedup, Relaxed);
        self.bad_rows.fetch_add(bad.values().sum(), Relaxed);
        if let Ok(mut m) = self.bad_by_reason.lock() {
            for (k, v) in bad {
                *m.entry(k.clone()).or_default() += v;
            }
        }
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            records_read: self.records_read.load(Relaxed),
            bytes_read: self.bytes_read.load(Relaxed),
            bronze_objects: self.bronze_objects.load(Relaxed),
            bronze_records: self.bronze_records.load(Relaxed),
            bronze_bytes: self.bronze_bytes.load(Relaxed),
            silver_batches: self.silver_batches.load(Relaxed),
            silver_records_in: self.silver_records_in.load(Relaxed),
            silver_rows: self.silver_rows.load(Relaxed),
            dedup_drops: self.dedup_drops.load(Relaxed),
            bad_rows: self.bad_rows.load(Relaxed),
            bad_by_reason: self.bad_by_reason.lock().map(|m| m.clone()).unwrap_or_default(),
            commit_conflicts: COMMIT_CONFLICTS.load(Relaxed),
            commit_rebases: COMMIT_REBASES.load(Relaxed),
            batch_conflicts: BATCH_CONFLICTS.load(Relaxed),
            commit_dedup_drops: COMMIT_DEDUP_DROPS.load(Relaxed),
        }
    }
}

/// The metrics of one CloudWatch embedded-metric-format line, with their counter in the snapshot.
/// One EMF metric: its name and how to read it off the counters.
type EmfMetric = (&'static str, fn(&CountersSnapshot) -> u64);

const EMF_METRICS: &[EmfMetric] = &[
    ("RecordsIn", |c| c.records_read),
    ("BronzeObjects", |c| c.bronze_objects),
    ("SilverRecordsIn", |c| c.silver_records_in),
    ("SilverRows", |c| c.silver_rows),
    ("BadRows", |c| c.bad_rows),
    ("DedupDrops", |c| c.dedup_drops),
    ("CommitConflicts", |c| c.commit_conflicts),
];

/// One CloudWatch embedded-metric-format line (namespace `floe`, dimension `Stream`) with what
/// happened between `before` and `now`: for teams without Prometheus, CloudWatch Logs (the ECS
/// awslogs driver) turns these lines into metrics. Each line carries deltas, so the sum of a
/// metric over all lines is the process's total.
pub fn emf_line(stream: &str, timestamp_ms: i64, before: &CountersSnapshot, now: &CountersSnapshot) -> String {
    let mut obj = serde_json::Map::new();
    let metrics: Vec<serde_json::Value> =
        EMF_METRICS.iter().map(|(name, _)| serde_json::json!({"Name": name, "Unit": "Count"})).collect();
    obj.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": "floe", "Dimensions": [["Stream"]], "Metrics": metrics}],
        }),
    );
    obj.insert("Stream".into(), stream.into());
    for (name, get) in EMF_METRICS {
        obj.insert((*name).into(), get(now).saturating_sub(get(before)).into());
    }
    serde_json::Value::Object(obj).to_string()
}

/// Write an EMF line to stderr every `interval` until `done`, then a last one, so nothing
/// counted is left out.
pub fn spawn_emf(
    counters: std::sync::Arc<Counters>,
    stream: String,
    interval: Duration,
    done: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut before = CountersSnapshot::default();
        loop {
            let finished = tokio::select! {
                _ = done.cancelled() => true,
                _ = tokio::time::sleep(interval) => false,
            };
            let now = counters.snapshot();
            eprintln!("{}", emf_line(&stream, chrono::Utc::now().timestamp_millis(), &before, &now));
            before = now;
            if finished {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_carry_deltas_and_declare_every_metric() {
        let before = CountersSnapshot { records_read: 10, silver_rows: 4, ..Default::default() };
        let now = CountersSnapshot { records_read: 25, silver_rows: 9, bad_rows: 1, ..Default::default() };
        let v: serde_json::Value = serde_json::from_str(&emf_line("clicks", 1_700_000_000_000, &before, &now)).unwrap();
        assert_eq!(v["Stream"], "clicks");
        assert_eq!(v["RecordsIn"], 15);
        assert_eq!(v["SilverRows"], 5);
        assert_eq!(v["BadRows"], 1);
        let declared = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "floe");
        for m in declared["Metrics"].as_array().unwrap() {
            assert!(v.get(m["Name"].as_str().unwrap()).is_some(), "{m} has no value");
        }
    }
}
