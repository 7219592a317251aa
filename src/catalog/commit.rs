//! Commits that carry their own progress: each fast-append writes, in its snapshot summary, the
//! position up to which every shard is in the table (`floe.watermark.<shard> = <seq>[.<sub>]`).
//! Data and progress land in one atomic catalog commit, which is what makes silver exactly-once.
//!
//! Summary properties belong to one snapshot, so every floe commit writes the full map, and the
//! watermark of a shard is the maximum over the snapshot ancestry — robust to a commit rebased
//! onto a newer head by someone else.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use iceberg::spec::DataFile;
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, Namespace, NamespaceIdent, TableIdent};

use crate::error::{Error, Result};
use crate::model::{Position, SequenceNumber, ShardId};

pub const WATERMARK_PREFIX: &str = "floe.watermark.";
/// Snapshot-summary prefix of the lease epoch that wrote a shard's bronze in that snapshot.
pub const LEASE_EPOCH_PREFIX: &str = "floe.lease-epoch.";

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
    Committed {
        snapshot_id: i64,
    },
    /// Every shard of the batch was already covered (a retry after a commit whose answer was
    /// lost): nothing was committed and the batch's files were deleted.
    AlreadyCovered,
}

/// How many times one batch is re-applied on a moved head (another writer's unrelated commit)
/// before the batch is handed back to be planned again.
const COMMIT_ATTEMPTS: u32 = 8;

/// Append the batch if and only if the table's watermarks are still those it was planned from.
///
/// Each attempt loads the table, checks the watermarks on it, and commits *against that very
/// table* ([`PinnedBase`]): the catalog's compare-and-swap (SQL: metadata location; Glue:
/// `VersionId`) then refuses the commit if anyone committed in between. On a refusal the loop
/// reloads, re-reads the watermarks from the snapshot ancestry — work someone else already
/// committed is dropped — and retries with back-off. iceberg 0.10's own `Transaction::commit`
/// would instead re-apply a stale append on the newer head, which can double a batch.
pub async fn commit_batch(catalog: &Arc<dyn Catalog>, ident: &TableIdent, batch: BatchCommit) -> Result<CommitOutcome> {
    let BatchCommit { files, planned_after, ends_at, summary } = batch;
    // Set once an attempt failed without a definite answer (the commit may have landed): from
    // then on the batch's files may be referenced by the table and must not be deleted.
    let mut maybe_committed = false;
    let mut backoff = std::time::Duration::from_millis(50);
    for attempt in 1..=COMMIT_ATTEMPTS {
        let table = catalog.load_table(ident).await?;
        let current = watermarks(&table);
        if ends_at.iter().all(|(s, end)| current.get(s).is_some_and(|w| w >= end)) {
            if !maybe_committed {
                delete_files(&table, &files).await;
            }
            return Ok(CommitOutcome::AlreadyCovered);
        }
        if let Some(shard) = ends_at.keys().find(|s| current.get(*s) != planned_after.get(*s)) {
            if !maybe_committed {
                delete_files(&table, &files).await;
            }
            return Err(Error::CommitConflict {
                table: ident.to_string(),
                message: format!(
                    "shard {shard} moved from {:?} to {:?} while the batch was being written",
                    planned_after.get(shard).map(|p| p.to_string()),
                    current.get(shard).map(|p| p.to_string())
                ),
            });
        }
        let mut merged = current;
        for (shard, end) in &ends_at {
            // never move a watermark back: a shard this table already had is kept at its maximum
            if merged.get(shard).is_none_or(|w| w < end) {
                merged.insert(shard.clone(), end.clone());
            }
        }
        let mut props = summary_map(&merged);
        props.extend(summary.clone());
        let tx = Transaction::new(&table);
        let tx = tx.fast_append().add_data_files(files.clone()).set_snapshot_properties(props).apply(tx)?;
        let pinned = PinnedBase { inner: catalog.as_ref(), base: table, transient: AtomicBool::new(false) };
        let result = tx.commit(&pinned).await;
        match result {
            Ok(table) => {
                let snapshot_id = table
                    .metadata()
                    .current_snapshot_id()
                    .ok_or_else(|| Error::invalid(format!("{ident}: commit left no current snapshot")))?;
                return Ok(CommitOutcome::Committed { snapshot_id });
            }
            Err(e) if e.kind() == iceberg::ErrorKind::CatalogCommitConflicts => {
                crate::telemetry::record_conflict(&ident.to_string());
                tracing::debug!(table = %ident, attempt, error = %e, "commit refused: the table moved; re-checking");
            }
            Err(e) if pinned.transient.load(Ordering::Relaxed) => {
                maybe_committed = true;
                tracing::warn!(table = %ident, attempt, error = %e, "commit failed without a definite answer; re-checking");
            }
            Err(e) => return Err(e.into()),
        }
        let jitter = rand::random::<f64>() * 0.5 + 0.75;
        tokio::time::sleep(backoff.mul_f64(jitter)).await;
        backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
    }
    Err(Error::CommitConflict {
        table: ident.to_string(),
        message: format!("the table kept moving: {COMMIT_ATTEMPTS} commit attempts refused"),
    })
}

/// The catalog as a transaction sees it during one commit attempt: `load_table` answers with the
/// table the caller checked, so the transaction's requirements (main branch at that snapshot)
/// are computed from it, and every error reaches the caller unretried — the retry decision
/// belongs to [`commit_batch`], which re-checks the watermarks first.
struct PinnedBase<'a> {
    inner: &'a dyn Catalog,
    base: Table,
    /// Whether the catalog's error was transient before it was made unretryable for the transaction.
    transient: AtomicBool,
}

impl std::fmt::Debug for PinnedBase<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedBase").field("table", self.base.identifier()).finish()
    }
}

fn not_for_commits() -> iceberg::Error {
    iceberg::Error::new(iceberg::ErrorKind::FeatureUnsupported, "only load_table and update_table are used by a commit")
}

#[async_trait::async_trait]
impl Catalog for PinnedBase<'_> {
    async fn load_table(&self, table: &TableIdent) -> iceberg::Result<Table> {
        if table == self.base.identifier() { Ok(self.base.clone()) } else { self.inner.load_table(table).await }
    }
    async fn update_table(&self, commit: iceberg::TableCommit) -> iceberg::Result<Table> {
        self.inner.update_table(commit).await.map_err(|e| {
            self.transient.store(crate::error::iceberg_is_transient(&e), Ordering::Relaxed);
            e.with_retryable(false)
        })
    }
    async fn list_namespaces(&self, _: Option<&NamespaceIdent>) -> iceberg::Result<Vec<NamespaceIdent>> {
        Err(not_for_commits())
    }
    async fn create_namespace(&self, _: &NamespaceIdent, _: HashMap<String, String>) -> iceberg::Result<Namespace> {
        Err(not_for_commits())
    }
    async fn get_namespace(&self, _: &NamespaceIdent) -> iceberg::Result<Namespace> {
        Err(not_for_commits())
    }
    async fn namespace_exists(&self, _: &NamespaceIdent) -> iceberg::Result<bool> {
        Err(not_for_commits())
    }
    async fn update_namespace(&self, _: &NamespaceIdent, _: HashMap<String, String>) -> iceberg::Result<()> {
        Err(not_for_commits())
    }
    async fn drop_namespace(&self, _: &NamespaceIdent) -> iceberg::Result<()> {
        Err(not_for_commits())
    }
    async fn list_tables(&self, _: &NamespaceIdent) -> iceberg::Result<Vec<TableIdent>> {
        Err(not_for_commits())
    }
    async fn create_table(&self, _: &NamespaceIdent, _: iceberg::TableCreation) -> iceberg::Result<Table> {
        Err(not_for_commits())
    }
    async fn drop_table(&self, _: &TableIdent) -> iceberg::Result<()> {
        Err(not_for_commits())
    }
    async fn purge_table(&self, _: &TableIdent) -> iceberg::Result<()> {
        Err(not_for_commits())
    }
    async fn table_exists(&self, _: &TableIdent) -> iceberg::Result<bool> {
        Err(not_for_commits())
    }
    async fn rename_table(&self, _: &TableIdent, _: &TableIdent) -> iceberg::Result<()> {
        Err(not_for_commits())
    }
    async fn register_table(&self, _: &TableIdent, _: String) -> iceberg::Result<Table> {
        Err(not_for_commits())
    }
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
