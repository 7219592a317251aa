//! Cross-batch dedup: a re-sent event is dropped even when its first copy was committed by an
//! earlier batch, a restart, or another writer.
//!
//! [`DedupState`] keeps a [`SeenIds`] in step with the table: loaded once (the ids of the
//! lookback window — only the key and time columns, only the partitions the time filter keeps),
//! then kept current from this process's own commits and, when the table's snapshot lineage shows
//! commits by someone else, from the data files those snapshots added. A batch then costs a hash
//! probe per row instead of a scan of the window. After the SQL, [`mark_committed`] turns the
//! kept rows whose key is held into `duplicate_committed` drops, and [`mark_in_batch`] the later
//! copies of a key within the batch into `duplicate_in_batch` drops.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use iceberg::table::Table;

use super::dedup_read::{added_files_ids, scan_ids_each};
use super::seen::{Id, SeenIds};
use super::sql::{DETAIL, REASON};
use crate::bronze::encode::downcast;
use crate::catalog::tables::DedupDef;
use crate::error::{Error, Result};

/// Snapshots followed back from the head before the state gives up and reloads (the table was
/// rewritten or its history expired under it).
const MAX_FOLLOW: usize = 1000;

/// What keeping the state current cost this batch (for the batch's timing log and benchmarks).
#[derive(Debug, Default, Clone, Copy)]
pub struct Prepared {
    /// Ids read from the table (a first load, or a range the state did not hold).
    pub ids_scanned: u64,
    /// Data files of other writers' snapshots read.
    pub foreign_files: u64,
    /// The state was reloaded from scratch.
    pub reloaded: bool,
}

/// The dedup state of one table (see the module docs).
pub struct DedupState {
    def: DedupDef,
    window: i64,
    seen: SeenIds,
    /// The snapshot the state reflects (`None`: the empty table); meaningful once `loaded`.
    synced_to: Option<i64>,
    loaded: bool,
    /// Snapshots since `synced_to` whose ids are in already: this process's commits, and other
    /// writers' snapshots a commit's rebase check read ([`learn`](Self::learn)).
    known: HashSet<i64>,
    /// The state forgot everything (a reset or a reload) since it last recorded a commit: the
    /// next commit's ids held before that are gone and must be taken in again.
    forgot: bool,
}

impl DedupState {
    /// `budget_bytes` of memory; past it ids go to runs under `spill_dir` (ADR 0017).
    pub fn new(def: DedupDef, lookback: Duration, budget_bytes: u64, spill_dir: PathBuf) -> Self {
        let window = i64::try_from(lookback.as_micros()).unwrap_or(i64::MAX / 4);
        let seen = SeenIds::new(budget_bytes, spill_dir);
        Self { def, window, seen, synced_to: None, loaded: false, known: HashSet::new(), forgot: false }
    }

    pub fn key(&self) -> &str {
        &self.def.key
    }

    pub fn held(&self) -> usize {
        self.seen.len()
    }

    pub fn bytes(&self) -> u64 {
        self.seen.bytes()
    }

    /// Ids held on local disk, and in how many runs.
    pub fn on_disk(&self) -> (u64, usize) {
        self.seen.on_disk()
    }

    /// Bring the state up to `table`'s current snapshot and make it hold every committed id
    /// with a dedup time from `earliest - lookback` on (`earliest`: the batch's earliest row).
    pub async fn prepare(&mut self, table: &Table, earliest: i64) -> Result<Prepared> {
        let mut out = Prepared::default();
        let current = table.metadata().current_snapshot_id();
        if self.loaded && self.synced_to != current {
            match self.foreign_since(table) {
                Some(foreign) => {
                    for snapshot_id in foreign {
                        for (id, t) in added_files_ids(table, snapshot_id, &self.def, &mut out.foreign_files).await? {
                            self.seen.insert_id(id, t);
                        }
                        self.seen.settle()?;
                    }
                }
                None => {
                    tracing::info!(table = %table.identifier(), "dedup state: the table's history moved under it; reloading");
                    self.seen.reset();
                    self.forgot = true;
                    out.reloaded = true;
                }
            }
        }
        self.synced_to = current;
        self.loaded = true;
        self.known.clear();
        let from = earliest.saturating_sub(self.window);
        let missing_below = match self.seen.lo() {
            None => Some(None),
            Some(lo) if from < lo => Some(Some(lo)),
            Some(_) => None,
        };
        if let Some(below) = missing_below {
            // claimed before it is read, so ids spilled while reading keep their place; a read
            // that fails takes the claim back with everything else
            self.seen.extend_down(from, std::iter::empty());
            if current.is_some() {
                let seen = &mut self.seen;
                let read = scan_ids_each(table, &self.def, from, below, |id, t| {
                    seen.insert_id(id, t);
                    seen.settle()
                })
                .await;
                match read {
                    Ok(n) => out.ids_scanned = n,
                    Err(e) => {
                        self.reset();
                        return Err(e);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The snapshots between `synced_to` and the head that this process did not commit and that
    /// add rows, oldest first; `None` when `synced_to` is not in the head's ancestry (within [`MAX_FOLLOW`]).
    fn foreign_since(&self, table: &Table) -> Option<Vec<i64>> {
        let meta = table.metadata();
        let mut at = meta.current_snapshot_id();
        let mut foreign = Vec::new();
        for _ in 0..MAX_FOLLOW {
            if at == self.synced_to {
                foreign.reverse();
                return Some(foreign);
            }
            // reached the root without meeting `synced_to`: the history was rewritten
            let id = at?;
            let snapshot = meta.snapshot_by_id(id)?;
            // a replace (compaction) holds the same rows as before it: no id to learn
            if !self.known.contains(&id) && snapshot.summary().operation != iceberg::spec::Operation::Replace {
                foreign.push(id);
            }
            at = snapshot.parent_snapshot_id();
        }
        None
    }

    /// Another writer's snapshot `snapshot_id`, which added `ids`, read by a commit's rebase check
    /// (`dedup_rebase.rs`) after this state was prepared: its ids go in now, and the next
    /// [`prepare`](Self::prepare) does not read the snapshot again. With several workers every
    /// commit of one lands during the other's open commit, so each snapshot was read twice.
    /// A state not loaded (reset since) learns nothing: its next `prepare` reads the table.
    pub fn learn(&mut self, snapshot_id: i64, ids: &[(Id, i64)]) -> Result<()> {
        if !self.loaded {
            return Ok(());
        }
        for (id, t) in ids {
            self.seen.insert_id(*id, *t);
        }
        self.seen.settle()?;
        self.known.insert(snapshot_id);
        Ok(())
    }

    /// Whether `key` is committed (after [`prepare`](Self::prepare)).
    pub fn contains(&self, key: &str) -> Result<bool> {
        self.seen.contains(key)
    }

    /// Rows written into a commit not yet made: held as committed from now on, so a later
    /// round of the same commit drops their re-sends. If that commit fails, [`reset`](Self::reset).
    pub fn hold_pending(&mut self, ids: &[(Id, i64)]) -> Result<()> {
        for (id, t) in ids {
            self.seen.insert_id(*id, *t);
        }
        self.seen.settle()
    }

    /// Forget everything; the next batch reloads from the table (a commit failed after its rows
    /// were held).
    pub fn reset(&mut self) {
        self.seen.reset();
        self.forgot = true;
        self.loaded = false;
        self.synced_to = None;
        self.known.clear();
    }

    /// This process committed the rows of `ids` (see [`ids_of`]) as `snapshot_id`. Only now may
    /// the window move on: ids of a commit still pending are not in the table, so an evicted one
    /// could not be read back from it.
    ///
    /// Each round held its ids already ([`hold_pending`](Self::hold_pending)), so they are taken
    /// in again only when the state forgot them meanwhile. Taken in again regardless, those spilled
    /// to disk since came back into the hash table: a 900k-row backlog commit doubled the table
    /// past its budget (108 MB in the 10M run's peak heap, BENCHMARKS.md).
    pub fn record_commit(&mut self, snapshot_id: i64, ids: &[(Id, i64)]) -> Result<()> {
        if std::mem::take(&mut self.forgot) {
            self.hold_pending(ids)?;
        }
        self.known.insert(snapshot_id);
        if let Some(earliest) = ids.iter().map(|(_, t)| *t).min() {
            let evicted = self.seen.evict(earliest.saturating_sub(self.window), self.window);
            if evicted > 0 {
                tracing::debug!(evicted, held = self.seen.len(), "dedup state: ids the window moved past let go");
            }
        }
        Ok(())
    }
}

fn string_column(b: &RecordBatch, name: &str) -> Result<StringArray> {
    let c = b.column_by_name(name).ok_or_else(|| Error::invalid(format!("dedup key column {name} is missing")))?;
    Ok(downcast::<StringArray>(&cast(c, &DataType::Utf8)?)?.clone())
}

/// The dedup time column in microseconds (the SQL may return another unit; the table has µs).
fn time_column(b: &RecordBatch, name: &str) -> Result<TimestampMicrosecondArray> {
    let c = b.column_by_name(name).ok_or_else(|| Error::invalid(format!("dedup time column {name} is missing")))?;
    let c = match c.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => c.clone(),
        _ => cast(c, &DataType::Timestamp(TimeUnit::Microsecond, None))?,
    };
    Ok(downcast::<TimestampMicrosecondArray>(&c)?.clone())
}

/// The (empty) `committed` input of the SQL. Re-sends of committed ids are dropped after the
/// SQL by [`mark_committed`]; the input stays for transforms written against it.
pub fn committed_input(def: Option<&DedupDef>) -> (SchemaRef, Vec<RecordBatch>) {
    let name = def.map_or("_none", |d| d.key.as_str());
    (Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, true)])), Vec::new())
}

/// The dedup key (held form) and time of every row of `rows` (the table's rows).
pub fn ids_of(rows: &[RecordBatch], def: &DedupDef) -> Result<Vec<(Id, i64)>> {
    let mut out = Vec::new();
    for b in rows {
        let keys = string_column(b, &def.key)?;
        let times = time_column(b, &def.time)?;
        for i in 0..b.num_rows() {
            if keys.is_valid(i) && times.is_valid(i) {
                out.push((Id::of(keys.value(i)), times.value(i)));
            }
        }
    }
    Ok(out)
}

/// The earliest and newest dedup time of the rows the SQL kept (`None`: it kept none).
pub fn kept_time_range(result: &[RecordBatch], def: &DedupDef) -> Result<Option<(i64, i64)>> {
    let mut range: Option<(i64, i64)> = None;
    for b in result {
        let reason = downcast::<StringArray>(column(b, REASON)?)?;
        let times = time_column(b, &def.time)?;
        for i in 0..b.num_rows() {
            if reason.is_null(i) && times.is_valid(i) {
                let t = times.value(i);
                range = Some(range.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
            }
        }
    }
    Ok(range)
}

/// Rows the SQL kept whose key is committed already become `duplicate_committed` drops.
pub fn mark_committed(result: Vec<RecordBatch>, state: &DedupState) -> Result<(Vec<RecordBatch>, u64)> {
    mark_seen(result, state.key(), |k| state.contains(k))
}

/// Rows the SQL kept whose `key` column value is `seen` become `duplicate_committed` drops.
pub fn mark_seen(
    result: Vec<RecordBatch>,
    key: &str,
    seen: impl Fn(&str) -> Result<bool>,
) -> Result<(Vec<RecordBatch>, u64)> {
    let mut marked = 0u64;
    let mut out = Vec::with_capacity(result.len());
    for b in result {
        let keys = string_column(&b, key)?;
        let reason = downcast::<StringArray>(column(&b, REASON)?)?;
        let mut hits = Vec::with_capacity(b.num_rows());
        for i in 0..b.num_rows() {
            hits.push(reason.is_null(i) && keys.is_valid(i) && seen(keys.value(i))?);
        }
        let (b, n) = relabel(b, &hits, "duplicate_committed", key)?;
        marked += n;
        out.push(b);
    }
    Ok((out, marked))
}

/// Rows the SQL kept whose key a row read earlier in the same batch (a lower `_ord`) also has
/// become `duplicate_in_batch` drops: the first copy in read order stays. Done here rather than
/// in the SQL because a window over the key partitions the batch by id — a third of silver's CPU
/// for what one hash pass does (BENCHMARKS.md).
pub fn mark_in_batch(result: Vec<RecordBatch>, key: &str) -> Result<(Vec<RecordBatch>, u64)> {
    // the SQL's output order is not the read order: find each key's first copy by `_ord`
    let mut first: HashMap<Id, i64> = HashMap::new();
    for b in &result {
        let (keys, reason, ord) = kept_keys(b, key)?;
        for i in (0..b.num_rows()).filter(|&i| reason.is_null(i) && keys.is_valid(i)) {
            let o = ord.value(i);
            first.entry(Id::of(keys.value(i))).and_modify(|f| *f = (*f).min(o)).or_insert(o);
        }
    }
    let mut marked = 0u64;
    let mut out = Vec::with_capacity(result.len());
    for b in result {
        let (keys, reason, ord) = kept_keys(&b, key)?;
        let hits: Vec<bool> = (0..b.num_rows())
            .map(|i| reason.is_null(i) && keys.is_valid(i) && first.get(&Id::of(keys.value(i))) != Some(&ord.value(i)))
            .collect();
        let (b, n) = relabel(b, &hits, "duplicate_in_batch", key)?;
        marked += n;
        out.push(b);
    }
    Ok((out, marked))
}

fn kept_keys<'a>(b: &'a RecordBatch, key: &str) -> Result<(StringArray, &'a StringArray, &'a Int64Array)> {
    Ok((
        string_column(b, key)?,
        downcast::<StringArray>(column(b, REASON)?)?,
        downcast::<Int64Array>(column(b, super::decode::ORD)?)?,
    ))
}

/// `b` with the rows of `hits` given the dedup reason `label` and the detail `<key>: <value>`;
/// the number of rows changed.
fn relabel(b: RecordBatch, hits: &[bool], label: &str, key: &str) -> Result<(RecordBatch, u64)> {
    let marked = hits.iter().filter(|h| **h).count() as u64;
    if marked == 0 {
        return Ok((b, 0));
    }
    let keys = string_column(&b, key)?;
    let reason = downcast::<StringArray>(column(&b, REASON)?)?;
    let detail = downcast::<StringArray>(column(&b, DETAIL)?)?;
    let new_reason: StringArray = (0..b.num_rows())
        .map(|i| if hits[i] { Some(label) } else { reason.is_valid(i).then(|| reason.value(i)) })
        .collect();
    let new_detail: StringArray = (0..b.num_rows())
        .map(|i| {
            if hits[i] {
                Some(format!("{key}: {}", keys.value(i)))
            } else {
                detail.is_valid(i).then(|| detail.value(i).to_string())
            }
        })
        .collect();
    let schema = b.schema();
    let mut cols = b.columns().to_vec();
    for (name, col) in [(REASON, Arc::new(new_reason) as _), (DETAIL, Arc::new(new_detail) as _)] {
        let idx = schema.index_of(name).map_err(|_| Error::invalid(format!("the result has no column {name}")))?;
        cols[idx] = col;
    }
    Ok((RecordBatch::try_new(schema, cols)?, marked))
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a arrow::array::ArrayRef> {
    b.column_by_name(name).ok_or_else(|| Error::invalid(format!("the result has no column {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(rows: &[(i64, Option<&str>, Option<&str>)]) -> RecordBatch {
        let ord: Int64Array = rows.iter().map(|r| Some(r.0)).collect();
        let key: StringArray = rows.iter().map(|r| r.1).collect();
        let reason: StringArray = rows.iter().map(|r| r.2).collect();
        let detail: StringArray = rows.iter().map(|_| None::<&str>).collect();
        RecordBatch::try_from_iter([
            ("_ord", Arc::new(ord) as arrow::array::ArrayRef),
            ("event_id", Arc::new(key) as _),
            (REASON, Arc::new(reason) as _),
            (DETAIL, Arc::new(detail) as _),
        ])
        .unwrap()
    }

    fn reasons(batches: &[RecordBatch]) -> Vec<Option<String>> {
        batches
            .iter()
            .flat_map(|b| {
                let r = b.column_by_name(REASON).unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
                (0..r.len()).map(move |i| r.is_valid(i).then(|| r.value(i).to_string())).collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn a_commit_does_not_bring_back_ids_its_rounds_spilled_unless_the_state_forgot_them() {
        let tmp = tempfile::tempdir().unwrap();
        let def = DedupDef { key: "event_id".into(), time: "collector_tstamp".into() };
        // room for 100 ids in memory: the 300 of a commit's six rounds spill as they come
        let mut state = DedupState::new(
            def,
            Duration::from_secs(86_400),
            100 * super::super::seen::BYTES_PER_ID,
            tmp.path().into(),
        );
        state.seen.extend_down(0, std::iter::empty());
        let ids: Vec<(Id, i64)> = (0..300).map(|i| (Id::of(&format!("e{i}")), i * 60_000_000)).collect();
        for round in ids.chunks(50) {
            state.hold_pending(round).unwrap();
        }
        assert!(state.on_disk().0 > 0, "the rounds spilled");
        state.record_commit(1, &ids).unwrap();
        assert_eq!(state.held(), 300, "every id held once, none brought back into memory");
        // after a reset (a failed commit, a reload) the next commit's ids are taken in again
        state.reset();
        state.seen.extend_down(0, std::iter::empty());
        state.record_commit(2, &ids).unwrap();
        assert_eq!(state.held(), 300);
        assert!(ids.iter().all(|(id, _)| state.seen.contains_id(*id).unwrap()));
    }

    #[test]
    fn another_writers_snapshot_read_at_commit_is_learned_once_and_only_by_a_loaded_state() {
        let tmp = tempfile::tempdir().unwrap();
        let def = DedupDef { key: "event_id".into(), time: "collector_tstamp".into() };
        let mut state = DedupState::new(def, Duration::from_secs(86_400), 1 << 20, tmp.path().into());
        let theirs: Vec<(Id, i64)> = (0..10).map(|i| (Id::of(&format!("t{i}")), i)).collect();
        // not loaded (never prepared, or reset since): its next prepare reads the table anyway
        state.learn(7, &theirs).unwrap();
        assert_eq!(state.held(), 0);
        assert!(!state.known.contains(&7));
        state.loaded = true;
        state.seen.extend_down(0, std::iter::empty());
        state.learn(7, &theirs).unwrap();
        assert!(theirs.iter().all(|(id, _)| state.seen.contains_id(*id).unwrap()));
        assert!(state.known.contains(&7), "the next prepare does not read snapshot 7 again");
        state.reset();
        assert!(state.known.is_empty() && state.held() == 0);
    }

    #[test]
    fn the_first_copy_in_read_order_stays_whatever_the_output_order() {
        // the SQL may return rows in any order, across several batches
        let batches = vec![
            result(&[(5, Some("a"), None), (2, Some("b"), None), (7, Some("b"), Some("invalid_timestamp"))]),
            result(&[(1, Some("a"), None), (3, None, None), (4, Some("c"), None), (6, Some("b"), None)]),
        ];
        let (out, n) = mark_in_batch(batches, "event_id").unwrap();
        assert_eq!(n, 2);
        let d = Some("duplicate_in_batch".to_string());
        assert_eq!(
            reasons(&out),
            vec![d.clone(), None, Some("invalid_timestamp".into()), None, None, None, d],
            "a@5 and b@6 are later copies; a rejected row and a row without a key are left alone"
        );
        let detail = out[0].column_by_name(DETAIL).unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(detail.value(0), "event_id: a");
    }
}
