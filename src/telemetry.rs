//! Logging and the run's counters, in one place. Logs go to stderr (JSON with `--log-format json`,
//! level by `RUST_LOG`); the counters are what `run` prints at the end and what the accounting
//! check (records in = silver rows + bad rows + dedup drops) is made from.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// Start the tracing subscriber. `json` selects one JSON object per line (for CloudWatch / ECS);
/// `default_filter` applies when `RUST_LOG` is not set.
pub fn init_logging(json: bool, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // a second init (tests) is harmless: the first subscriber stays
    let _ = if json { builder.json().try_init() } else { builder.compact().try_init() };
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
}

impl Counters {
    pub fn add_read(&self, records: u64, bytes: u64) {
        self.records_read.fetch_add(records, Relaxed);
        self.bytes_read.fetch_add(bytes, Relaxed);
    }

    pub fn add_bronze_object(&self, records: u64, bytes: u64) {
        self.bronze_objects.fetch_add(1, Relaxed);
        self.bronze_records.fetch_add(records, Relaxed);
        self.bronze_bytes.fetch_add(bytes, Relaxed);
    }

    /// One committed silver batch: `records_in` bronze records became `rows` silver rows,
    /// `dedup` drops and the bad rows in `bad`.
    pub fn add_silver_batch(&self, records_in: u64, rows: u64, dedup: u64, bad: &BTreeMap<String, u64>) {
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
        }
    }
}
