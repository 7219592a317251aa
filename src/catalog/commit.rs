//! Commits that carry their own progress: each fast-append writes, in its snapshot summary, the
//! position up to which every shard is in the table (`floe.watermark.<shard> = <seq>[.<sub>]`).
//! Data and progress land in one atomic catalog commit, which is what makes silver exactly-once.
//!
//! Summary properties belong to one snapshot, so every floe commit writes the full map, and the
//! watermark of a shard is the maximum over the snapshot ancestry — robust to a commit rebased
//! onto a newer head by someone else.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use iceberg::spec::DataFile;
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, TableIdent};

use crate::error::{Error, Result};
use crate::model::{Position, SequenceNumber, ShardId};

pub const WATERMARK_PREFIX: &str = "floe.watermark.";

/// Per shard, the last position that is in the table.
pub type Watermarks = BTreeMap<ShardId, Position>;

/// Parse a watermark value: `seq` or `seq.sub`.
pub fn parse_position(s: &str) -> Option<Position> {
    let (seq, sub) = match s.split_once('.') {
        Some((a, b)) => (a, b.parse().ok()?),
        None => (s, 0),
    };
    Some(Position::new(SequenceNumber::new(seq).ok()?, sub))
}

/// The table's watermarks: for each shard, the maximum over the current snapshot's ancestry.
pub fn watermarks(table: &Table) -> Watermarks {
    let mut out = Watermarks::new();
    let meta = table.metadata_ref();
    let Some(current) = meta.current_snapshot_id() else { return out };
    for snap in iceberg::util::snapshot::ancestors_of(&meta, current) {
        for (k, v) in &snap.summary().additional_properties {
            let Some(shard) = k.strip_prefix(WATERMARK_PREFIX) else { continue };
            let (Ok(shard), Some(pos)) = (ShardId::new(shard), parse_position(v)) else {
                tracing::warn!(table = %table.identifier(), key = %k, value = %v, "ignoring unparseable watermark");
                continue;
            };
            match out.get(&shard) {
                Some(have) if *have >= pos => {}
                _ => {
                    out.insert(shard, pos);
                }
            }
        }
    }
    out
}

/// One batch's append: its data files, the watermarks it was planned from, and where it ends.
pub struct BatchCommit {
    pub files: Vec<DataFile>,
    /// Per shard in the batch, the watermark the batch was planned after (absent = none).
    pub planned_after: Watermarks,
    /// Per shard in the batch, the last position it holds.
    pub ends_at: Watermarks,
    /// More snapshot-summary properties (batch counters).
    pub summary: BTreeMap<String, String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed { snapshot_id: i64 },
    /// Every shard of the batch was already covered (a retry after a commit whose answer was
    /// lost): nothing was committed and the batch's files were deleted.
    AlreadyCovered,
}

/// Append the batch if and only if the table's watermarks are still those it was planned from.
///
/// iceberg 0.10's `Transaction::commit` reloads the table and re-applies a stale append on the
/// new head, so the catalog's compare-and-swap alone cannot stop a double append: the
/// watermarks are checked here on a freshly loaded table, right before committing.
pub async fn commit_batch(catalog: &Arc<dyn Catalog>, ident: &TableIdent, batch: BatchCommit) -> Result<CommitOutcome> {
    let table = catalog.load_table(ident).await?;
    let current = watermarks(&table);
    let covered = batch.ends_at.iter().all(|(s, end)| current.get(s).is_some_and(|w| w >= end));
    if covered {
        delete_files(&table, &batch.files).await;
        return Ok(CommitOutcome::AlreadyCovered);
    }
    for shard in batch.ends_at.keys() {
        if current.get(shard) != batch.planned_after.get(shard) {
            delete_files(&table, &batch.files).await;
            return Err(Error::CommitConflict {
                table: ident.to_string(),
                message: format!(
                    "shard {shard} moved from {:?} to {:?} while the batch was being written",
                    batch.planned_after.get(shard).map(|p| p.to_string()),
                    current.get(shard).map(|p| p.to_string())
                ),
            });
        }
    }
    let mut merged = current;
    for (shard, end) in batch.ends_at {
        // never move a watermark back: a shard this table already had is kept at its maximum
        if merged.get(&shard).is_none_or(|w| *w < end) {
            merged.insert(shard, end);
        }
    }
    let mut props = summary_map(&merged);
    props.extend(batch.summary);
    let tx = Transaction::new(&table);
    let tx = tx.fast_append().add_data_files(batch.files).set_snapshot_properties(props).apply(tx)?;
    let table = tx.commit(catalog.as_ref()).await?;
    let snapshot_id = table
        .metadata()
        .current_snapshot_id()
        .ok_or_else(|| Error::invalid(format!("{ident}: commit left no current snapshot")))?;
    Ok(CommitOutcome::Committed { snapshot_id })
}

/// An empty append that carries the current watermarks forward (after a schema change, a new
/// snapshot is needed before the new column can be scanned).
pub async fn carry_forward(catalog: &Arc<dyn Catalog>, table: &Table, operation: &str) -> Result<Table> {
    let mut props = summary_map(&watermarks(table));
    props.insert("floe.operation".to_string(), operation.to_string());
    let tx = Transaction::new(table);
    let tx = tx.fast_append().set_snapshot_properties(props).apply(tx)?;
    Ok(tx.commit(catalog.as_ref()).await?)
}

fn summary_map(w: &Watermarks) -> HashMap<String, String> {
    w.iter().map(|(s, p)| (format!("{WATERMARK_PREFIX}{s}"), p.to_string())).collect()
}

/// Remove files a batch wrote but will never commit. Failure only leaves an orphan file, which
/// no reader sees, so it is logged, not raised.
async fn delete_files(table: &Table, files: &[DataFile]) {
    for f in files {
        if let Err(e) = table.file_io().delete(f.file_path()).await {
            tracing::warn!(file = %f.file_path(), error = %e, "could not delete an uncommitted data file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_values_round_trip() {
        let p = parse_position("49650000000000000000000000001.3").unwrap();
        assert_eq!(p.sub, 3);
        assert_eq!(p.to_string(), "49650000000000000000000000001.3");
        assert_eq!(parse_position("17").unwrap().to_string(), "17");
        assert!(parse_position("x").is_none());
        assert!(parse_position("1.x").is_none());
    }
}
