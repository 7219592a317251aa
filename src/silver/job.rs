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

use super::decode::Decoder;
use super::dedup::{self, DedupState};
use super::discover::{self, Budget};
use super::entities::Entities;
use super::pending::{PendingCommit, RoundOutcome};
use super::read::read;
use super::scope::{OpenedScope, SilverScope};
use super::sql::Transform;
use super::transform::{self, Needs};
use crate::bronze::encode::col;
use crate::bronze::store::{BronzeObject, BronzeStore};
use crate::catalog::setup::ManagedTable;
use crate::error::{Error, Result};
use crate::model::{Frontier, ShardId, Watermarks};

/// One table's part of the silver job: its definition, decoder, transform and dedup state.
pub struct TableJob {
    pub managed: ManagedTable,
    pub decoder: Decoder,
    pub transform: Transform,
    /// The committed ids (tables with a `[dedup]` section), kept across batches; the silver loop
    /// tells it about each commit it makes.
    pub dedup: Option<Arc<Mutex<DedupState>>>,
    /// `silver.dedup_lookback`: how far back a re-send is still dropped.
    pub lookback: Duration,
    /// One typed column per Iglu schema (with data contracts configured).
    pub entities: Option<Arc<Entities>>,
    /// When this table's bronze was last listed in full (the sweep; `None`: not yet).
    last_sweep: std::sync::Mutex<Option<Instant>>,
    /// The progress a freshly loaded table showed when its round found nothing to read, kept
    /// until a round reads something: while a listing finds nothing past it, there is nothing
    /// past the table's newer progress either (progress only moves forward), so a waiting loop
    /// lists bronze without loading the tables (see [`SilverJob::has_work`]).
    quiet: std::sync::Mutex<Option<(Watermarks, Frontier)>>,
}

impl TableJob {
    /// `budget`: the dedup state's memory, past which its ids go to runs under `spill_dir`.
    pub fn new(managed: ManagedTable, decoder: Decoder, transform: Transform, dedup: DedupMemory) -> Self {
        let DedupMemory { lookback, budget, spill_dir } = dedup;
        let dedup =
            managed.def.dedup.clone().map(|d| Arc::new(Mutex::new(DedupState::new(d, lookback, budget, spill_dir))));
        Self {
            managed,
            decoder,
            transform,
            dedup,
            lookback,
            entities: None,
            last_sweep: std::sync::Mutex::new(None),
            quiet: std::sync::Mutex::new(None),
        }
    }

    fn quiet(&self) -> std::sync::MutexGuard<'_, Option<(Watermarks, Frontier)>> {
        self.quiet.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn with_entities(self, entities: Option<Arc<Entities>>) -> Self {
        Self { entities, ..self }
    }
}

/// What a table's dedup state may hold: `lookback` of ids, `budget` bytes of them in memory, the
/// rest in runs under `spill_dir` (ADR 0017).
#[derive(Debug, Clone)]
pub struct DedupMemory {
    pub lookback: Duration,
    pub budget: u64,
    pub spill_dir: std::path::PathBuf,
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
    /// The shards this worker's silver reads (with leases, those it holds: ADR 0018).
    pub scope: SilverScope,
}

impl SilverJob {
    /// Open a commit on the tables as just loaded, planning over `scope`: the scope taken
    /// *before* they were loaded. A lease that arrives between the two is then left to the next
    /// commit; taken after, its shard could join with a watermark read before its old holder's
    /// last commit (which comes before the old holder gives the lease back).
    pub fn open(&self, good: Table, bad: Table, scope: OpenedScope) -> Result<PendingCommit> {
        PendingCommit::open(good, bad, scope)
    }

    /// One more round of `t` into `pending`: the bronze past the pending progress is read,
    /// decoded, transformed, deduplicated and written into the pending commit's open files.
    /// `false` when there was nothing to read. Nothing is committed.
    pub async fn next_round(&self, t: &TableJob, pending: &mut PendingCommit) -> Result<bool> {
        let m = &t.managed;
        let (wm_good, wm_bad) = (pending.after_good(), pending.after_bad());
        let low = wm_good.lower_of(&wm_bad);
        let frontier = pending.frontier();
        let mut phases = Phases::start();
        let sweep = self.sweep_due(t, true)?;
        let (planned, list_requests) = self.discover(&low, &frontier, sweep, &pending.scope).await?;
        if planned.is_empty() {
            if pending.is_empty() {
                *t.quiet() = Some((low, frontier));
            }
            return Ok(false);
        }
        *t.quiet() = None;
        phases.lap("list");
        let n_objects = planned.values().map(Vec::len).sum();
        let bronze_bytes = planned.values().flatten().map(|o| o.size).sum();
        let mut read_frontier = Frontier::new();
        for (shard, objects) in &planned {
            for h in objects.iter().filter_map(|o| o.key.hour_partition()) {
                read_frontier.advance(shard, h);
            }
        }
        let read = read(&self.store, planned, &low).await?;
        crate::telemetry::record_silver_decoded(&read.positions);
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
        let mut result = t.transform.run(t.decoder.schema(), decoded, committed_schema, committed).await?;
        phases.lap("sql");
        if let Some(entities) = &t.entities {
            result = entities.apply(result, &mut pending.good).await?;
            phases.lap("entities");
        }
        let mut dedup_note = String::new();
        let mut state = match &t.dedup {
            Some(s) => Some(s.lock().await),
            None => None,
        };
        if let (Some(state), Some(def)) = (state.as_mut(), &m.def.dedup)
            && let Some((earliest, _)) = dedup::kept_time_range(&result, def)?
        {
            let prepared = state.prepare(pending.good.table(), earliest).await?;
            let (marked, drops) = dedup::mark_committed(result, state)?;
            result = marked;
            let (on_disk, runs) = state.on_disk();
            let in_memory = (state.held() as u64).saturating_sub(on_disk);
            crate::telemetry::record_dedup_state(m.ident.name(), in_memory, on_disk, state.bytes());
            dedup_note = format!(
                "dedup: held={} on_disk={on_disk} runs={runs} bytes={} scanned={} foreign_files={} reloaded={} committed_drops={drops}",
                state.held(),
                state.bytes(),
                prepared.ids_scanned,
                prepared.foreign_files,
                prepared.reloaded
            );
            phases.lap("dedup");
        }
        if let Some(def) = &m.def.dedup {
            result = dedup::mark_in_batch(result, &def.key)?.0;
        }
        let now = chrono::Utc::now().timestamp_micros();
        let lineage = transform::Lineage { format: m.def.decoder.name(), objects: &read.objects };
        let (good_schema, bad_schema) = (arrow_schema(pending.good.table())?, arrow_schema(pending.bad.table())?);
        let split = transform::split(&result, &read.bronze, &needs, &good_schema, &bad_schema, &lineage, now)?;
        drop(result);
        let new_ids = match &m.def.dedup {
            Some(def) => dedup::ids_of(&split.good, def)?,
            None => Vec::new(),
        };
        // The rows are pending now: a later round of the same commit must see them as committed.
        if let Some(state) = state.as_mut() {
            state.hold_pending(&new_ids)?;
        }
        drop(state);
        phases.lap("split");
        pending.bad.write(std::slice::from_ref(&split.bad)).await?;
        crate::crashpoint::hit(crate::crashpoint::SILVER_MID_WRITE);
        pending.good.write(&split.good).await?;
        phases.lap("write");
        pending.add(RoundOutcome {
            objects: n_objects,
            bronze_bytes,
            ends: read.ends.clone(),
            frontier: read_frontier,
            epochs: read.epochs.clone(),
            records_in: split.records_in,
            rows: split.rows,
            dedup_drops: split.dedup_drops,
            rejected_by_reason: split.rejected_by_reason,
            bad_rows: split.bad.num_rows() as u64,
            new_ids,
            oldest_arrival: oldest_arrival(&read.bronze),
            timing: format!("{phases}list_requests={list_requests} {dedup_note}"),
        });
        Ok(true)
    }

    /// Whether `t` may have bronze to read, answered without loading its tables when the last
    /// freshly loaded progress found nothing: a listing past that progress (the sweep, when
    /// due, is left to the round that loads the tables).
    pub async fn has_work(&self, t: &TableJob) -> Result<bool> {
        let Some((after, frontier)) = t.quiet().clone() else { return Ok(true) };
        if self.sweep_due(t, false)? {
            return Ok(true);
        }
        let (planned, _) = self.discover(&after, &frontier, false, &OpenedScope::All).await?;
        Ok(!planned.is_empty())
    }

    /// Whether a full listing is due; `take`: the caller makes it, so the clock restarts.
    fn sweep_due(&self, t: &TableJob, take: bool) -> Result<bool> {
        let mut last = t.last_sweep.lock().map_err(|_| Error::invalid("silver sweep clock poisoned"))?;
        let due = match (*last, self.sweep_interval) {
            (None, _) => true,
            (Some(at), Some(every)) => at.elapsed() >= every,
            (Some(_), None) => false,
        };
        if due && take {
            *last = Some(Instant::now());
        }
        Ok(due)
    }

    /// The objects of the next batch: bronze listed from the earliest active frontier (or all
    /// of it, `sweep`), and once more from further back when a shard's objects were found
    /// outside what that listing covers for it (`discover.rs`). Returns the plan and the list
    /// requests made. Only the shards `opened` lets a commit plan are planned.
    async fn discover(
        &self,
        after: &Watermarks,
        frontier: &Frontier,
        sweep: bool,
        opened: &OpenedScope,
    ) -> Result<(BTreeMap<ShardId, Vec<BronzeObject>>, usize)> {
        let start = if sweep { None } else { discover::listing_start(frontier, self.horizon_hours) };
        let listing = self.store.list_from(&self.stream, start).await?;
        let mut requests = listing.requests;
        let plan_from = |objects, start| {
            discover::plan(self.in_scope(objects, opened), after, frontier, start, self.horizon_hours, self.budget)
        };
        let plan = plan_from(listing.objects, start);
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
        Ok((plan_from(listing.objects, wider).objects, requests))
    }

    /// The listed objects of the shards this worker's silver works on (and a commit opened
    /// with `opened` may plan).
    fn in_scope(&self, mut objects: Vec<BronzeObject>, opened: &OpenedScope) -> Vec<BronzeObject> {
        if !matches!(self.scope, SilverScope::All) {
            objects.retain(|o| self.scope.covers_since(opened, &o.key.shard));
        }
        objects
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

fn arrow_schema(table: &Table) -> Result<SchemaRef> {
    Ok(Arc::new(iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema())?))
}
