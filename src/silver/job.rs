//! One silver batch, from bronze objects to a [`SilverBatch`] value ready to commit.
//!
//! Exactly-once: a batch is planned after the watermarks of the table and its bad-rows table
//! (the lower of the two per shard), each record goes only to the tables whose watermark it is
//! past, and each commit carries the new watermarks. A crash at any point leaves a state from
//! which the next batch writes each record exactly once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use iceberg::table::Table;

use super::batch::{BatchReport, SilverBatch};
use super::decode::Decoder;
use super::dedup::{self, DedupState};
use super::discover::{self, Budget};
use super::read::read;
use super::sql::Transform;
use super::transform::{self, Needs};
use super::writer::write_data_files;
use crate::bronze::encode::col;
use crate::bronze::store::{BronzeObject, BronzeStore};
use crate::catalog::commit::{Change, TableCommit};
use crate::catalog::progress::progress;
use crate::catalog::setup::ManagedTable;
use crate::error::{Error, Result};
use crate::model::{Frontier, LEASE_EPOCH_PREFIX, ShardId, Watermarks};

/// One table's part of the silver job: its definition, decoder, transform and dedup state.
pub struct TableJob {
    pub managed: ManagedTable,
    pub decoder: Decoder,
    pub transform: Transform,
    /// The committed ids (tables with a `[dedup]` section), kept across batches; the silver loop
    /// tells it about each commit it makes.
    pub dedup: Option<Mutex<DedupState>>,
    /// When this table's bronze was last listed in full (the sweep; `None`: not yet).
    last_sweep: std::sync::Mutex<Option<Instant>>,
}

impl TableJob {
    pub fn new(managed: ManagedTable, decoder: Decoder, transform: Transform, lookback: Duration, budget: u64) -> Self {
        let dedup = managed.def.dedup.clone().map(|d| Mutex::new(DedupState::new(d, lookback, budget)));
        Self { managed, decoder, transform, dedup, last_sweep: std::sync::Mutex::new(None) }
    }
}

/// Turns bronze into batch values, one table at a time.
pub struct SilverJob {
    pub store: BronzeStore,
    pub stream: String,
    pub tables: Vec<TableJob>,
    pub budget: Budget,
    /// Shards whose frontier is further than this behind the newest do not hold the listing
    /// back (closed shards); see `discover.rs`.
    pub horizon_hours: i64,
    /// How often bronze is listed in full (and once at start), for objects no frontier rule
    /// can place: a new shard whose records are older than every active shard's (a spool file
    /// with an old modification time). `None`: only at start.
    pub sweep_interval: Option<Duration>,
}

impl SilverJob {
    /// The next batch of `t`, planned past the progress of `good` (the table) and `bad` (its
    /// bad-rows table) as just loaded; `None` when both have caught up. The batch's data files
    /// are written; nothing is committed.
    pub async fn next_batch(&self, t: &TableJob, good: &Table, bad: &Table) -> Result<Option<SilverBatch>> {
        let m = &t.managed;
        let (p_good, p_bad) = (progress(good), progress(bad));
        let (wm_good, wm_bad) = (&p_good.watermarks, &p_bad.watermarks);
        let low = wm_good.lower_of(wm_bad);
        let frontier = p_good.frontier.lower_of(&p_bad.frontier);
        let mut phases = Phases::start();
        let (planned, list_requests) = self.discover(t, &low, &frontier).await?;
        if planned.is_empty() {
            return Ok(None);
        }
        phases.lap("list");
        let n_objects = planned.values().map(Vec::len).sum();
        let mut read_frontier = Frontier::new();
        for (shard, objects) in &planned {
            for h in objects.iter().filter_map(|o| o.key.hour_partition()) {
                read_frontier.advance(shard, h);
            }
        }
        let read = read(&self.store, planned, &low).await?;
        phases.lap("read");
        let needs = Needs {
            table: read.positions.iter().map(|(s, p)| wm_good.is_past(s, p)).collect(),
            bad_table: read.positions.iter().map(|(s, p)| wm_bad.is_past(s, p)).collect(),
        };
        // Decoding is the batch's largest CPU step: off the async workers, on every core.
        let (decoder, bronze) = (t.decoder.clone(), read.bronze.clone());
        let threads = std::thread::available_parallelism().map(|n| n.get().min(4)).unwrap_or(2);
        let decoded = tokio::task::spawn_blocking(move || decoder.decode_parallel(&bronze, threads))
            .await
            .map_err(|e| Error::invalid(format!("decoder task failed: {e}")))??;
        phases.lap("decode");
        let (committed_schema, committed) = dedup::committed_input(m.def.dedup.as_ref());
        let mut result = t.transform.run(t.decoder.schema(), vec![decoded], committed_schema, committed).await?;
        phases.lap("sql");
        let mut dedup_note = String::new();
        if let (Some(state), Some(def)) = (&t.dedup, &m.def.dedup)
            && let Some((earliest, newest)) = dedup::kept_time_range(&result, def)?
        {
            let mut state = state.lock().await;
            let prepared = state.prepare(good, earliest).await?;
            let (marked, drops) = dedup::mark_committed(result, &state)?;
            result = marked;
            let evicted = state.evict(earliest, newest);
            dedup_note = format!(
                "dedup: held={} bytes={} scanned={} foreign_files={} reloaded={} committed_drops={drops} evicted={evicted}",
                state.held(),
                state.bytes(),
                prepared.ids_scanned,
                prepared.foreign_files,
                prepared.reloaded
            );
            phases.lap("dedup");
        }
        let now = chrono::Utc::now().timestamp_micros();
        let split = transform::split(&result, &read.bronze, &needs, &arrow_schema(good)?, &arrow_schema(bad)?, now)?;
        drop(result);
        let new_ids = match &m.def.dedup {
            Some(def) => dedup::ids_of(&split.good, def)?,
            None => Vec::new(),
        };
        phases.lap("split");

        let bad_files = write_data_files(bad, std::slice::from_ref(&split.bad)).await?;
        let mut bad_summary = BTreeMap::from([("floe.bad-rows".to_string(), split.bad.num_rows().to_string())]);
        bad_summary.extend(epoch_summary(&read.epochs));
        let bad_commit = TableCommit {
            ident: m.bad_ident.clone(),
            change: Change::Append(bad_files),
            planned_after: wm_bad.restricted_to(&read.ends),
            ends_at: read.ends.clone(),
            frontier: read_frontier.clone(),
            summary: bad_summary,
            oldest_arrival_micros: None,
        };
        let good_files = write_data_files(good, &split.good).await?;
        phases.lap("write");
        let mut summary = BTreeMap::from([
            ("floe.records-in".to_string(), split.records_in.to_string()),
            ("floe.rows".to_string(), split.rows.to_string()),
            ("floe.dedup-drops".to_string(), split.dedup_drops.to_string()),
            ("floe.rejected".to_string(), split.rejected_by_reason.values().sum::<u64>().to_string()),
        ]);
        for (reason, n) in &split.rejected_by_reason {
            summary.insert(format!("floe.rejected.{reason}"), n.to_string());
        }
        summary.extend(epoch_summary(&read.epochs));
        let good_commit = TableCommit {
            ident: m.ident.clone(),
            change: Change::Append(good_files),
            planned_after: wm_good.restricted_to(&read.ends),
            ends_at: read.ends.clone(),
            frontier: read_frontier,
            summary,
            oldest_arrival_micros: oldest_arrival(&read.bronze),
        };
        let report = BatchReport {
            table: m.def.name.clone(),
            objects: n_objects,
            records_in: split.records_in,
            rows: split.rows,
            dedup_drops: split.dedup_drops,
            rejected_by_reason: split.rejected_by_reason,
        };
        let timing = format!(
            "{phases}list_requests={list_requests} progress_snapshots={} {dedup_note}",
            p_good.snapshots_read.max(p_bad.snapshots_read)
        );
        Ok(Some(SilverBatch { commits: vec![bad_commit, good_commit], new_ids, report, timing }))
    }

    /// The objects of the next batch: bronze listed from the earliest active frontier, and
    /// once more from further back when a shard's objects were found outside what that
    /// listing covers for it (`discover.rs`). Returns the plan and the list requests made.
    async fn discover(
        &self,
        t: &TableJob,
        after: &Watermarks,
        frontier: &Frontier,
    ) -> Result<(BTreeMap<ShardId, Vec<BronzeObject>>, usize)> {
        let sweep = {
            let mut last = t.last_sweep.lock().map_err(|_| Error::invalid("silver sweep clock poisoned"))?;
            let due = match (*last, self.sweep_interval) {
                (None, _) => true,
                (Some(at), Some(every)) => at.elapsed() >= every,
                (Some(_), None) => false,
            };
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        let start = if sweep { None } else { discover::listing_start(frontier, self.horizon_hours) };
        let listing = self.store.list_from(&self.stream, start).await?;
        let mut requests = listing.requests;
        let plan = discover::plan(listing.objects, after, frontier, start, self.horizon_hours, self.budget);
        if plan.blocked.is_empty() || start.is_none() {
            return Ok((plan.objects, requests));
        }
        let wider = discover::widened(&plan.blocked, frontier, self.horizon_hours);
        tracing::info!(
            shards = ?plan.blocked.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            from = %wider.map_or("the beginning".to_string(), |h| h.to_string()),
            "listing bronze further back for shards the listing did not cover"
        );
        let listing = self.store.list_from(&self.stream, wider).await?;
        requests += listing.requests;
        let plan = discover::plan(listing.objects, after, frontier, wider, self.horizon_hours, self.budget);
        Ok((plan.objects, requests))
    }
}

/// Wall time of each step of a batch, for the debug log (where does a batch spend its time?).
struct Phases {
    last: Instant,
    laps: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn start() -> Self {
        Self { last: Instant::now(), laps: Vec::new() }
    }
    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.laps.push((name, now - self.last));
        self.last = now;
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, d) in &self.laps {
            write!(f, "{name}={}ms ", d.as_millis())?;
        }
        Ok(())
    }
}

/// Arrival time of the oldest record in the batch (for the freshness histogram).
fn oldest_arrival(bronze: &RecordBatch) -> Option<i64> {
    let a =
        bronze.column_by_name(col::ARRIVAL_TS)?.as_any().downcast_ref::<arrow::array::TimestampMicrosecondArray>()?;
    arrow::compute::min(a)
}

/// `floe.lease-epoch.<shard>`: the newest lease epoch among the batch's bronze objects of each
/// shard — which worker lease produced the data a snapshot added (traceability; the commit's
/// correctness rests on the watermarks).
fn epoch_summary(epochs: &BTreeMap<ShardId, u64>) -> impl Iterator<Item = (String, String)> + '_ {
    epochs.iter().map(|(s, e)| (format!("{LEASE_EPOCH_PREFIX}{s}"), e.to_string()))
}

fn arrow_schema(table: &Table) -> Result<SchemaRef> {
    Ok(Arc::new(iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema())?))
}
