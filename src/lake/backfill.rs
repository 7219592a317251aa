//! Backfill: run the silver transform again over the bronze of a range of days, for the rows of
//! those days — the table's day partitions `[from, to]` and the bad rows that arrived then.
//!
//! - Default, idempotent: only what is missing is added (a deleted range comes back; a complete
//!   table gets nothing). Rows whose id is in the table — or was added earlier in this run — are
//!   dedup drops; bad rows already in the bad-rows table (same shard, sequence, sub-sequence) are
//!   skipped. An append commit, so the loader's watermarks are not consulted for it: it is never
//!   "already covered".
//! - `--overwrite`: the partitions of those days are replaced by the freshly transformed rows
//!   (after fixing `sql/`): one `overwrite` snapshot per table removing the partitions' files as
//!   planned. Cross-batch dedup then looks only at the rows outside the range.
//!
//! Only bronze the loader has already passed is read (positions up to both tables' watermarks):
//! what lies beyond is the loader's, which may be running meanwhile. Rows are found in bronze from
//! one day before `from` (an event reaches bronze after the collector saw it) up to now.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;
use chrono::NaiveDate;
use futures::TryStreamExt;
use iceberg::expr::Reference;
use iceberg::spec::{Datum, Operation};
use iceberg::table::Table;
use indicatif::ProgressBar;
use serde::Serialize;

use crate::bronze::store::BronzeObject;
use crate::catalog::Committer;
use crate::catalog::commit::{Change, TableCommit, delete_files};
use crate::catalog::progress::progress;
use crate::error::{Error, Result};
use crate::model::{Frontier, Hour, ShardId, Watermarks};
use crate::silver::dedup::{committed_input, ids_of, mark_in_batch, mark_seen};
use crate::silver::dedup_read::scan_ids;
use crate::silver::job::{SilverJob, TableJob};
use crate::silver::read::read;
use crate::silver::seen::Id;
use crate::silver::table_files::TableFiles;
use crate::silver::transform::{Lineage, Needs, split};
use crate::silver::writer::OpenFiles;

use super::days::{DAY_MICROS, day_column, days_of, days_since_epoch, files_of_days, within};

#[derive(Debug, Clone)]
pub struct BackfillOptions {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub overwrite: bool,
    pub dry_run: bool,
    /// Read only these bronze objects (their locations) instead of all of the range, and add
    /// their rows whatever day they fall on (`from`/`to` still bound the bad rows, by arrival):
    /// `floe replay` backfills just the objects it wrote.
    pub only: Option<Arc<HashSet<String>>>,
}

impl BackfillOptions {
    fn start_micros(&self) -> i64 {
        days_since_epoch(self.from) * DAY_MICROS
    }
    fn end_micros(&self) -> i64 {
        (days_since_epoch(self.to) + 1) * DAY_MICROS
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BackfillReport {
    pub table: String,
    pub overwrite: bool,
    pub dry_run: bool,
    pub bronze_objects: usize,
    pub bronze_bytes: u64,
    /// Records read that the loader already passed (the rest is left to it).
    pub records: u64,
    /// Rows of the range the transform produced (before dedup against the table).
    pub rows_in_range: u64,
    pub rows_added: u64,
    /// Rows the bronze read holds for days outside the range: left alone (another range's).
    pub rows_outside_range: u64,
    /// Rows of the range already in the table (idempotent mode) or re-sends.
    pub dedup_drops: u64,
    pub bad_rows_added: u64,
    pub bad_rows_present: u64,
    /// `--overwrite`: data files of the range's partitions replaced, and the rows they held.
    pub files_replaced: usize,
    pub rows_replaced: u64,
    /// `--overwrite`: ids in the replaced partitions that the fresh rows no longer hold (now bad
    /// rows after a fixed rule, or bronze that is gone).
    pub ids_no_longer_present: u64,
    pub seconds: f64,
}

/// Backfill table `t` of `job` (see the module docs). `bar` counts bronze bytes.
pub async fn backfill(
    job: &SilverJob,
    t: &TableJob,
    committer: &Committer,
    opts: BackfillOptions,
    bar: &ProgressBar,
) -> Result<BackfillReport> {
    let started = Instant::now();
    let m = &t.managed;
    let catalog = committer.catalog();
    let (good, bad) = (catalog.load_table(&m.ident).await?, catalog.load_table(&m.bad_ident).await?);
    let (good_day, bad_day) = (day_column(&good)?, day_column(&bad)?);
    let (limit_good, limit_bad) = (progress(&good).watermarks, progress(&bad).watermarks);
    let mut report = BackfillReport {
        table: m.ident.to_string(),
        overwrite: opts.overwrite,
        dry_run: opts.dry_run,
        ..Default::default()
    };

    // bronze the loader passed, from a day before the range
    let listed_from = Hour(days_since_epoch(opts.from) * 24 - 24);
    let mut objects: Vec<BronzeObject> = job
        .store
        .list_from(&job.stream, Some(listed_from))
        .await?
        .objects
        .into_iter()
        .filter(|o| {
            let passed = |w: &Watermarks| w.get(&o.key.shard).is_some_and(|p| p.seq >= o.key.first);
            let chosen = opts.only.as_ref().is_none_or(|only| only.contains(o.location.as_ref()));
            chosen && (passed(&limit_good) || passed(&limit_bad))
        })
        .collect();
    objects.sort_by(|a, b| (&a.key.shard, &a.key.first).cmp(&(&b.key.shard, &b.key.first)));
    report.bronze_objects = objects.len();
    report.bronze_bytes = objects.iter().map(|o| o.size).sum();
    bar.set_length(report.bronze_bytes);

    // ids dedup is checked against: the table's (outside the range with --overwrite); with
    // `only`, those of the days its rows turn out to fall on, loaded as they are met
    let mut known: HashSet<Id> = HashSet::new();
    let mut known_days: HashSet<i64> = HashSet::new();
    let window = i64::try_from(t.lookback.as_micros()).unwrap_or(i64::MAX);
    if let Some(def) = &m.def.dedup
        && opts.only.is_none()
    {
        let (lo, hi) = (opts.start_micros().saturating_sub(window), opts.end_micros().saturating_add(window));
        let ranges = match opts.overwrite {
            true => vec![(lo, opts.start_micros()), (opts.end_micros(), hi)],
            false => vec![(lo, hi)],
        };
        for (from, below) in ranges {
            known.extend(scan_ids(&good, def, from, Some(below)).await?.into_iter().map(|(id, _)| id));
        }
    }
    let present_bad = if opts.overwrite { HashSet::new() } else { bad_keys(&bad, &bad_day, &opts).await? };

    // the table's files follow its schema: per-schema columns may evolve it on the way
    let mut good_out = if opts.dry_run { None } else { Some(TableFiles::new(good.clone())?) };
    let mut bad_out = if opts.dry_run { None } else { Some(OpenFiles::new(&bad)?) };
    let mut fresh_ids: HashSet<Id> = HashSet::new();
    let chunk_bytes = job.budget.max_bytes.max(1);
    let mut chunk: Vec<BronzeObject> = Vec::new();
    let mut chunk_size = 0u64;
    let mut objects = objects.into_iter().peekable();
    while let Some(o) = objects.next() {
        chunk_size += o.size;
        chunk.push(o);
        if chunk_size < chunk_bytes && objects.peek().is_some() {
            continue;
        }
        let planned = group(std::mem::take(&mut chunk));
        bar.inc(chunk_size);
        chunk_size = 0;
        let read = read(&job.store, planned, &Watermarks::new()).await?;
        let needs = Needs {
            table: read.positions.iter().map(|(s, p)| !limit_good.is_past(s, p)).collect(),
            bad_table: read.positions.iter().map(|(s, p)| !limit_bad.is_past(s, p)).collect(),
        };
        report.records += needs.table.iter().zip(&needs.bad_table).filter(|(a, b)| **a || **b).count() as u64;
        let decoded = t.decoder.decode_parallel(&read.bronze, 2)?;
        let (committed_schema, committed) = committed_input(m.def.dedup.as_ref());
        let mut result = t.transform.run(t.decoder.schema(), decoded, committed_schema, committed).await?;
        // as the loader does it, between the SQL and the dedup; a dry run changes no schema
        if let (Some(entities), Some(out)) = (&t.entities, good_out.as_mut()) {
            result = entities.apply(result, out).await?;
        }
        if let Some(def) = &m.def.dedup {
            if opts.only.is_some() {
                for day in days_of(&result, &good_day)? {
                    if known_days.insert(day) {
                        let (lo, hi) = (
                            (day * DAY_MICROS).saturating_sub(window),
                            ((day + 1) * DAY_MICROS).saturating_add(window),
                        );
                        known.extend(scan_ids(&good, def, lo, Some(hi)).await?.into_iter().map(|(id, _)| id));
                    }
                }
            }
            result = mark_seen(result, &def.key, |k| {
                let id = Id::of(k);
                Ok(known.contains(&id) || fresh_ids.contains(&id))
            })?
            .0;
            result = mark_in_batch(result, &def.key)?.0;
        }
        let now = chrono::Utc::now().timestamp_micros();
        let lineage = Lineage { format: m.def.decoder.name(), objects: &read.objects };
        let good_schema = arrow_schema(good_out.as_ref().map_or(&good, |o| o.table()))?;
        let bad_schema = arrow_schema(&bad)?;
        let s = split(&result, &read.bronze, &needs, &good_schema, &bad_schema, &lineage, now)?;
        let in_range = |b: &RecordBatch, col: &str| within(b, col, opts.start_micros(), opts.end_micros());
        let rows: Vec<RecordBatch> = match opts.only {
            Some(_) => s.good.clone(),
            None => s.good.iter().map(|b| in_range(b, &good_day)).collect::<Result<_>>()?,
        };
        let added = rows.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        report.rows_added += added;
        report.rows_outside_range += s.good.iter().map(|b| b.num_rows() as u64).sum::<u64>() - added;
        report.dedup_drops += s.dedup_drops;
        if let Some(def) = &m.def.dedup {
            fresh_ids.extend(ids_of(&rows, def)?.into_iter().map(|(id, _)| id));
        }
        let bad_rows = in_range(&s.bad, &bad_day)?;
        let bad_rows = drop_present(&bad_rows, &present_bad, &mut report.bad_rows_present)?;
        report.bad_rows_added += bad_rows.num_rows() as u64;
        if let Some(out) = good_out.as_mut() {
            out.write(&rows).await?;
        }
        if let Some(out) = bad_out.as_mut() {
            out.write(std::slice::from_ref(&bad_rows)).await?;
        }
    }
    report.rows_in_range = report.rows_added + report.dedup_drops;

    let replaced = if opts.overwrite {
        let (good_files, rows) = files_of_days(&good, opts.from, opts.to).await?;
        report.files_replaced = good_files.len();
        report.rows_replaced = rows;
        if let Some(def) = &m.def.dedup {
            let before = scan_ids(&good, def, opts.start_micros(), Some(opts.end_micros())).await?;
            report.ids_no_longer_present = before.iter().filter(|(id, _)| !fresh_ids.contains(id)).count() as u64;
        }
        Some((good_files, files_of_days(&bad, opts.from, opts.to).await?.0))
    } else {
        None
    };
    let (Some(good_out), Some(bad_out)) = (good_out, bad_out) else {
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    };
    let bad_files = bad_out.close().await?;
    let good_files = match good_out.close().await {
        Ok(f) => f,
        Err(e) => {
            delete_files(&bad, &bad_files).await;
            return Err(e);
        }
    };
    let summary = |n: u64| {
        BTreeMap::from([
            ("floe.operation".to_string(), if opts.overwrite { "backfill-overwrite" } else { "backfill" }.to_string()),
            ("floe.backfill.rows".to_string(), n.to_string()),
        ])
    };
    let commit =
        |ident: &iceberg::TableIdent, add: Vec<iceberg::spec::DataFile>, remove: Option<HashSet<String>>, n| {
            let change = match remove {
                Some(remove) => Change::Rewrite { remove, add, operation: Operation::Overwrite },
                None => Change::Append(add),
            };
            TableCommit {
                ident: ident.clone(),
                change,
                planned_after: Watermarks::new(),
                ends_at: Watermarks::new(),
                frontier: Frontier::new(),
                summary: summary(n),
                oldest_arrival_micros: None,
                rebase: None,
            }
        };
    let (remove_good, remove_bad) = match replaced {
        Some((g, b)) => (Some(g), Some(b)),
        None => (None, None),
    };
    let mut commits = Vec::new();
    if !bad_files.is_empty() || remove_bad.as_ref().is_some_and(|r| !r.is_empty()) {
        commits.push(commit(&m.bad_ident, bad_files, remove_bad, report.bad_rows_added));
    }
    if !good_files.is_empty() || remove_good.as_ref().is_some_and(|r| !r.is_empty()) {
        commits.push(commit(&m.ident, good_files, remove_good, report.rows_added));
    }
    committer.commit_in_order(commits, |_| {}).await?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Objects by shard, in sequence order (what `read` takes).
fn group(objects: Vec<BronzeObject>) -> BTreeMap<ShardId, Vec<BronzeObject>> {
    let mut out: BTreeMap<ShardId, Vec<BronzeObject>> = BTreeMap::new();
    for o in objects {
        out.entry(o.key.shard.clone()).or_default().push(o);
    }
    out
}

fn arrow_schema(table: &Table) -> Result<arrow::datatypes::SchemaRef> {
    Ok(Arc::new(iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema())?))
}

type BadKey = (String, String, i64);

/// `(shard, sequence, sub-sequence)` of the bad rows that arrived in the range.
async fn bad_keys(bad: &Table, day_col: &str, opts: &BackfillOptions) -> Result<HashSet<BadKey>> {
    let mut out = HashSet::new();
    if bad.metadata().current_snapshot().is_none() {
        return Ok(out);
    }
    let t = Reference::new(day_col);
    let pred = t
        .clone()
        .greater_than_or_equal_to(Datum::timestamptz_micros(opts.start_micros()))
        .and(t.less_than(Datum::timestamptz_micros(opts.end_micros())));
    let scan = bad
        .scan()
        .select(["source_shard_id", "source_sequence_number", "source_sub_sequence"])
        .with_filter(pred)
        .build()?;
    let batches: Vec<RecordBatch> = scan.to_arrow().await?.try_collect().await?;
    for b in &batches {
        let (shard, seq, sub) = bad_key_columns(b)?;
        for i in 0..b.num_rows() {
            out.insert((shard.value(i).to_string(), seq.value(i).to_string(), sub.value(i)));
        }
    }
    Ok(out)
}

fn bad_key_columns(b: &RecordBatch) -> Result<(&StringArray, &StringArray, &Int64Array)> {
    let get = |name: &str| b.column_by_name(name).ok_or_else(|| Error::invalid(format!("bad rows without {name}")));
    let shard = get("source_shard_id")?.as_any().downcast_ref::<StringArray>();
    let seq = get("source_sequence_number")?.as_any().downcast_ref::<StringArray>();
    let sub = get("source_sub_sequence")?.as_any().downcast_ref::<Int64Array>();
    match (shard, seq, sub) {
        (Some(a), Some(b), Some(c)) => Ok((a, b, c)),
        _ => Err(Error::invalid("bad rows: unexpected key column types")),
    }
}

/// The bad rows of `b` not already in the bad-rows table; `present` counts the others.
fn drop_present(b: &RecordBatch, present: &HashSet<BadKey>, skipped: &mut u64) -> Result<RecordBatch> {
    if present.is_empty() || b.num_rows() == 0 {
        return Ok(b.clone());
    }
    let (shard, seq, sub) = bad_key_columns(b)?;
    let keep: BooleanArray = (0..b.num_rows())
        .map(|i| Some(!present.contains(&(shard.value(i).to_string(), seq.value(i).to_string(), sub.value(i)))))
        .collect();
    *skipped += keep.iter().filter(|k| *k == Some(false)).count() as u64;
    Ok(filter_record_batch(b, &keep)?)
}
