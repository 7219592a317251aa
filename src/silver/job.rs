//! One silver batch, end to end, and the loop that runs batches until told to stop.
//!
//! Exactly-once: a batch is planned after the watermarks of the table and its bad-rows table
//! (the lower of the two per shard), each record goes only to the tables whose watermark it is
//! past, and each commit carries the new watermarks. A crash at any point leaves a state from
//! which the next batch writes each record exactly once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::compute::{cast, concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::{StreamExt, TryStreamExt};
use iceberg::Catalog;
use iceberg::expr::Reference;
use iceberg::spec::Datum;
use iceberg::table::Table;
use tokio_util::sync::CancellationToken;

use super::decode::json::JsonDecoder;
use super::discover::{self, Budget};
use super::sql::Transform;
use super::transform::{self, Needs};
use super::writer::write_data_files;
use crate::bronze::encode::{self, bronze_schema, downcast};
use crate::bronze::store::{BronzeObject, BronzeStore};
use crate::catalog::commit::{self, BatchCommit, CommitOutcome, Watermarks};
use crate::catalog::setup::ManagedTable;
use crate::error::{Error, Result};
use crate::model::{Position, SequenceNumber, ShardId};
use crate::telemetry::Counters;

/// What one committed batch did.
#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    pub table: String,
    pub objects: usize,
    pub records_in: u64,
    pub rows: u64,
    pub dedup_drops: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
}

pub struct TableJob {
    pub managed: ManagedTable,
    pub decoder: JsonDecoder,
    pub transform: Transform,
}

pub struct SilverJob {
    pub catalog: Arc<dyn Catalog>,
    pub store: BronzeStore,
    pub stream: String,
    pub tables: Vec<TableJob>,
    pub budget: Budget,
    pub dedup_lookback: Duration,
    pub counters: Arc<Counters>,
}

/// How the loop ends.
pub struct LoopControl {
    pub cancel: CancellationToken,
    /// Becomes true when the sources are drained (with `--until-idle`, silver then stops once
    /// it has caught up).
    pub sources_idle: tokio::sync::watch::Receiver<bool>,
    pub until_idle: bool,
    pub interval: Duration,
}

impl SilverJob {
    /// Run batches until cancelled (or, with `until_idle`, until the sources are drained and
    /// nothing is left past the watermarks).
    pub async fn run(&self, mut ctl: LoopControl) -> Result<()> {
        let mut backoff = Duration::from_millis(200);
        loop {
            if ctl.cancel.is_cancelled() {
                return Ok(());
            }
            let idle_before = *ctl.sources_idle.borrow_and_update();
            match self.run_once().await {
                Ok(reports) if !reports.is_empty() => {
                    backoff = Duration::from_millis(200);
                    continue;
                }
                Ok(_) if ctl.until_idle && idle_before => return Ok(()),
                Ok(_) => {
                    tokio::select! {
                        _ = ctl.cancel.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(ctl.interval) => {}
                        _ = ctl.sources_idle.changed() => {}
                    }
                }
                Err(e) if e.is_retryable() => {
                    if let Error::CommitConflict { table, .. } = &e {
                        crate::telemetry::record_conflict(table);
                    }
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "silver batch failed; retrying");
                    tokio::select! {
                        _ = ctl.cancel.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One batch per table; empty when every table has caught up.
    pub async fn run_once(&self) -> Result<Vec<BatchReport>> {
        let mut out = Vec::new();
        for t in &self.tables {
            if let Some(r) = self.run_table(t).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn run_table(&self, t: &TableJob) -> Result<Option<BatchReport>> {
        let m = &t.managed;
        let good = self.catalog.load_table(&m.ident).await?;
        let bad = self.catalog.load_table(&m.bad_ident).await?;
        let (wm_good, wm_bad) = (commit::watermarks(&good), commit::watermarks(&bad));
        let low = lower_of(&wm_good, &wm_bad);
        let objects = self.store.list(&self.stream).await?;
        let planned = discover::plan(objects, &low, self.budget);
        if planned.is_empty() {
            return Ok(None);
        }
        let n_objects = planned.values().map(Vec::len).sum();
        let mut phases = Phases::start();
        let read = self.read(planned, &low).await?;
        phases.lap("read");
        let needs = Needs {
            table: read.positions.iter().map(|(s, p)| is_past(&wm_good, s, p)).collect(),
            bad_table: read.positions.iter().map(|(s, p)| is_past(&wm_bad, s, p)).collect(),
        };
        // Decoding is the batch's largest CPU step: off the async workers, on every core.
        let (decoder, bronze) = (t.decoder.clone(), read.bronze.clone());
        let threads = std::thread::available_parallelism().map(|n| n.get().min(4)).unwrap_or(2);
        let decoded = tokio::task::spawn_blocking(move || decoder.decode_parallel(&bronze, threads))
            .await
            .map_err(|e| Error::invalid(format!("decoder task failed: {e}")))??;
        phases.lap("decode");
        let (committed_schema, committed) = self.committed_ids(&good, t, &decoded).await?;
        phases.lap("committed_ids");
        let result = t.transform.run(t.decoder.schema(), vec![decoded], committed_schema, committed).await?;
        phases.lap("sql");
        let now = chrono::Utc::now().timestamp_micros();
        let table_schema = arrow_schema(&good)?;
        let bad_schema = arrow_schema(&bad)?;
        let split = transform::split(&result, &read.bronze, &needs, &table_schema, &bad_schema, now)?;
        phases.lap("split");

        // Bad rows first: if the process dies between the two commits, the retry finds the bad
        // table past this batch and writes only the table's rows.
        let bad_files = write_data_files(&bad, std::slice::from_ref(&split.bad)).await?;
        let mut bad_summary = BTreeMap::from([("floe.bad-rows".to_string(), split.bad.num_rows().to_string())]);
        bad_summary.extend(epoch_summary(&read.epochs));
        let bad_commit = BatchCommit {
            files: bad_files,
            planned_after: restrict(&wm_bad, &read.ends),
            ends_at: read.ends.clone(),
            summary: bad_summary,
        };
        let started = std::time::Instant::now();
        commit::commit_batch(&self.catalog, &m.bad_ident, bad_commit).await?;
        crate::telemetry::record_commit(&m.def.bad_rows_table, started.elapsed(), None);
        crate::crashpoint::hit(crate::crashpoint::SILVER_AFTER_BAD_COMMIT);

        phases.lap("bad_table");
        let good_files = write_data_files(&good, &split.good).await?;
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
        let good_commit = BatchCommit {
            files: good_files,
            planned_after: restrict(&wm_good, &read.ends),
            ends_at: read.ends.clone(),
            summary,
        };
        let started = std::time::Instant::now();
        let outcome = commit::commit_batch(&self.catalog, &m.ident, good_commit).await?;
        crate::telemetry::record_commit(&m.def.name, started.elapsed(), oldest_arrival(&read.bronze));
        phases.lap("commit");
        crate::crashpoint::hit(crate::crashpoint::SILVER_AFTER_COMMIT);
        let report = BatchReport {
            table: m.def.name.clone(),
            objects: n_objects,
            records_in: split.records_in,
            rows: split.rows,
            dedup_drops: split.dedup_drops,
            rejected_by_reason: split.rejected_by_reason,
        };
        if let CommitOutcome::Committed { snapshot_id } = outcome {
            self.counters.add_silver_batch(
                &report.table,
                report.records_in,
                report.rows,
                report.dedup_drops,
                &report.rejected_by_reason,
            );
            tracing::info!(
                table = %m.def.name, snapshot_id, objects = n_objects, records_in = report.records_in,
                rows = report.rows, dedup_drops = report.dedup_drops,
                rejected = report.rejected_by_reason.values().sum::<u64>(), "silver batch committed"
            );
            tracing::debug!(table = %m.def.name, phases = %phases, "silver batch timing");
        }
        Ok(Some(report))
    }

    /// Fetch and decode the planned objects, keeping only records past `after` (objects left by
    /// a retried flush may overlap: the per-shard cursor skips what was already taken).
    async fn read(&self, planned: BTreeMap<ShardId, Vec<BronzeObject>>, after: &Watermarks) -> Result<ReadBronze> {
        let jobs: Vec<BronzeObject> = planned.into_values().flatten().collect();
        let store = self.store.clone();
        let fetched: Vec<(BronzeObject, Vec<RecordBatch>, Option<u64>)> = futures::stream::iter(jobs)
            .map(|o| {
                let store = store.clone();
                async move {
                    let bytes = store.get(&o.location).await?;
                    let format = o.key.format;
                    let epoch = encode::lease_epoch(&bytes, format);
                    let batches = tokio::task::spawn_blocking(move || encode::decode(bytes, format))
                        .await
                        .map_err(|e| Error::invalid(format!("bronze decoder task failed: {e}")))?
                        .map_err(|e| Error::invalid(format!("bronze object {} cannot be read: {e}", o.location)))?;
                    Ok::<_, Error>((o, batches, epoch))
                }
            })
            .buffered(4)
            .try_collect()
            .await?;
        let mut cursors: BTreeMap<ShardId, Position> = after.clone();
        let mut kept = Vec::new();
        let mut positions = Vec::new();
        let mut epochs: BTreeMap<ShardId, u64> = BTreeMap::new();
        for (object, batches, epoch) in fetched {
            let shard = object.key.shard.clone();
            if let Some(e) = epoch {
                let max = epochs.entry(shard.clone()).or_insert(e);
                *max = (*max).max(e);
            }
            for b in batches {
                let seq = downcast::<StringArray>(b.column(2))?;
                let sub = downcast::<Int64Array>(b.column(3))?;
                let mut mask = Vec::with_capacity(b.num_rows());
                for i in 0..b.num_rows() {
                    let pos = Position::new(SequenceNumber::new(seq.value(i))?, sub.value(i).max(0) as u64);
                    let past = cursors.get(&shard).is_none_or(|c| pos > *c);
                    if past {
                        cursors.insert(shard.clone(), pos.clone());
                        positions.push((shard.clone(), pos));
                    }
                    mask.push(past);
                }
                let b = filter_record_batch(&b, &arrow::array::BooleanArray::from(mask))?;
                if b.num_rows() > 0 {
                    kept.push(b);
                }
            }
        }
        let bronze = concat_batches(&bronze_schema(), &kept)?;
        let ends: Watermarks = cursors.into_iter().filter(|(s, p)| after.get(s) != Some(p)).collect();
        Ok(ReadBronze { bronze, positions, ends, epochs })
    }

    /// Ids already in the table within the lookback window around the batch's event times, so
    /// a re-sent event is dropped even when its first copy was committed by an earlier batch.
    /// Memory is bounded by the window, not by the table.
    async fn committed_ids(
        &self,
        table: &Table,
        t: &TableJob,
        decoded: &RecordBatch,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let Some(dedup) = &t.managed.def.dedup else {
            return Ok((Arc::new(Schema::new(vec![Field::new("_none", DataType::Utf8, true)])), vec![]));
        };
        let schema = Arc::new(Schema::new(vec![Field::new(&dedup.key, DataType::Utf8, true)]));
        let times = decoded.column_by_name(&dedup.time).and_then(|c| c.as_any().downcast_ref::<StringArray>());
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for v in times.into_iter().flat_map(|a| a.iter()).flatten() {
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
                lo = lo.min(t.timestamp_micros());
                hi = hi.max(t.timestamp_micros());
            }
        }
        if lo > hi || table.metadata().current_snapshot().is_none() {
            return Ok((schema, vec![]));
        }
        let window = self.dedup_lookback.as_micros() as i64;
        let pred = Reference::new(&dedup.time)
            .greater_than_or_equal_to(Datum::timestamptz_micros(lo.saturating_sub(window)))
            .and(
                Reference::new(&dedup.time).less_than_or_equal_to(Datum::timestamptz_micros(hi.saturating_add(window))),
            );
        let scan = table.scan().select([dedup.key.as_str()]).with_filter(pred).build()?;
        let batches: Vec<RecordBatch> = scan.to_arrow().await?.try_collect().await?;
        let out = batches
            .iter()
            .map(|b| Ok(RecordBatch::try_new(schema.clone(), vec![cast(b.column(0), &DataType::Utf8)?])?))
            .collect::<Result<Vec<_>>>()?;
        Ok((schema, out))
    }
}

/// Wall time of each step of a batch, for the debug log (where does a batch spend its time?).
struct Phases {
    last: std::time::Instant,
    laps: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn start() -> Self {
        Self { last: std::time::Instant::now(), laps: Vec::new() }
    }
    fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
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

struct ReadBronze {
    /// The records of the batch, in read order; row i has `_ord` i.
    bronze: RecordBatch,
    positions: Vec<(ShardId, Position)>,
    /// Per shard in the batch, its last position.
    ends: Watermarks,
    /// Per shard, the newest lease epoch its objects were written under (leases only).
    epochs: BTreeMap<ShardId, u64>,
}

/// Arrival time of the oldest record in the batch (for the freshness histogram).
fn oldest_arrival(bronze: &RecordBatch) -> Option<i64> {
    let a = bronze.column_by_name("arrival_ts")?.as_any().downcast_ref::<arrow::array::TimestampMicrosecondArray>()?;
    arrow::compute::min(a)
}

/// `floe.lease-epoch.<shard>`: the newest lease epoch among the batch's bronze objects of each
/// shard — which worker lease produced the data a snapshot added (traceability; the commit's
/// correctness rests on the watermarks).
fn epoch_summary(epochs: &BTreeMap<ShardId, u64>) -> impl Iterator<Item = (String, String)> + '_ {
    epochs.iter().map(|(s, e)| (format!("{}{s}", commit::LEASE_EPOCH_PREFIX), e.to_string()))
}

fn is_past(w: &Watermarks, shard: &ShardId, pos: &Position) -> bool {
    w.get(shard).is_none_or(|x| pos > x)
}

/// Per shard, the lower of two watermarks (a shard missing from either has none).
fn lower_of(a: &Watermarks, b: &Watermarks) -> Watermarks {
    a.iter().filter_map(|(s, pa)| b.get(s).map(|pb| (s.clone(), pa.clone().min(pb.clone())))).collect()
}

fn restrict(w: &Watermarks, to: &Watermarks) -> Watermarks {
    w.iter().filter(|(s, _)| to.contains_key(*s)).map(|(s, p)| (s.clone(), p.clone())).collect()
}

fn arrow_schema(table: &Table) -> Result<SchemaRef> {
    Ok(Arc::new(iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema())?))
}
