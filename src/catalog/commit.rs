//! Commits that carry their own progress: each commit writes, in its snapshot summary, the
//! position up to which every shard is in the table (`floe.watermark.<shard> = <seq>[.<sub>]`).
//! Data and progress land in one atomic catalog commit, which is what makes silver exactly-once.
//!
//! Summary properties belong to one snapshot, so every floe commit writes the full map (merged
//! with the one on the head it commits onto) and the progress marker: the progress is read off
//! the newest marked snapshot (`progress.rs`), not off the whole ancestry.
//!
//! The [`Committer`] turns [`TableCommit`] values — what silver (and, next, backfill and
//! compaction) end in — into catalog commits: watermark re-check on the freshly loaded table,
//! the catalog's compare-and-swap, conflict retry with back-off. What a commit changes is a
//! [`Change`]; a new commit kind is a new variant and its attempt in [`Committer::attempt`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use iceberg::TableIdent;
use iceberg::spec::{DataFile, Operation};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};

use super::handle::{FloeCatalog, PointerSwap};
use super::pinned::PinnedBase;
use super::progress::{Progress, progress, progress_properties};
use super::rebase::{Rebase, collides};
pub use super::rebase::{RebaseCheck, RebaseGuard, Resolved};
use super::rewrite::{FileChange, NotStaged};
use crate::error::{Error, Result};
use crate::model::{Frontier, PROGRESS_MARKER, WORKER_PREFIX, Watermarks};

/// What a commit does to the table's data.
#[derive(Debug, Clone)]
pub enum Change {
    /// Add these data files (Iceberg fast-append). Empty: a snapshot that only moves progress.
    Append(Vec<DataFile>),
    /// Remove the live files at these paths and add these, in one snapshot built by floe
    /// ([`super::rewrite`]): `Operation::Replace` for compaction (the same rows),
    /// `Operation::Overwrite` for erasure and backfill. Refused for good if another commit
    /// removed one of the files first; rebased onto any other concurrent commit.
    Rewrite { remove: HashSet<String>, add: Vec<DataFile>, operation: Operation },
}

impl Change {
    /// Files this commit wrote itself: deleted again if the commit is abandoned.
    fn written_files(&self) -> &[DataFile] {
        match self {
            Change::Append(files) => files,
            Change::Rewrite { add, .. } => add,
        }
    }
}

/// One commit to one table, with the progress it was planned from and the progress it makes.
#[derive(Debug, Clone)]
pub struct TableCommit {
    pub ident: TableIdent,
    pub change: Change,
    /// Per shard in the commit, the watermark it was planned after (absent = none).
    pub planned_after: Watermarks,
    /// Per shard in the commit, the last position it holds.
    pub ends_at: Watermarks,
    /// Per shard in the commit, the hour partition of the newest bronze object it read.
    pub frontier: Frontier,
    /// More snapshot-summary properties (batch counters).
    pub summary: BTreeMap<String, String>,
    /// Arrival time of the oldest record the commit carries, for the freshness histogram.
    pub oldest_arrival_micros: Option<i64>,
    /// Checked against each snapshot another writer added since the commit was planned.
    pub rebase: Option<RebaseGuard>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed {
        snapshot_id: i64,
        /// Rows dropped at commit time because another writer committed them first (the
        /// [`RebaseGuard`]'s resolution); 0 without one.
        rebase_drops: u64,
    },
    /// Every shard of the commit was already covered (a retry after a commit whose answer was
    /// lost): nothing was committed and the commit's files were deleted.
    AlreadyCovered,
}

/// How many times one commit is re-applied on a moved head (another writer's unrelated commit)
/// before it is handed back to be planned again.
const COMMIT_ATTEMPTS: usize = 8;

/// Snapshot summary key: the id of the commit that made the snapshot (one per [`Committer::commit`]).
const COMMIT_ID: &str = "floe.commit-id";

/// Snapshots looked through, from the head back, for a commit whose answer was lost.
const FIND_DEPTH: usize = 64;

/// The snapshot commit `commit_id` made, if it is among the newest [`FIND_DEPTH`] of the head's
/// ancestry (an answer is lost seconds before the re-check, not days).
fn find_commit(table: &Table, commit_id: &str) -> Option<i64> {
    let meta = table.metadata();
    let mut at = meta.current_snapshot_id();
    for _ in 0..FIND_DEPTH {
        let snapshot = meta.snapshot_by_id(at?)?;
        if snapshot.summary().additional_properties.get(COMMIT_ID).is_some_and(|id| id == commit_id) {
            return Some(snapshot.snapshot_id());
        }
        at = snapshot.parent_snapshot_id();
    }
    None
}

/// How one attempt ended, when it did not commit.
enum Refused {
    /// The catalog's compare-and-swap refused: the table moved since it was loaded.
    Moved,
    /// No definite answer: the commit may have landed.
    Unknown(iceberg::Error),
    /// A file the commit removes is no longer live (a rewrite only): planned on a stale table.
    Gone(String),
}

/// Turns commit values into catalog commits (see the module docs).
#[derive(Debug, Clone)]
pub struct Committer {
    catalog: FloeCatalog,
    /// With leases: this worker's id, recorded per shard a commit moves (`floe status`).
    worker: Option<String>,
}

impl Committer {
    pub fn new(catalog: FloeCatalog) -> Self {
        Self { catalog, worker: None }
    }

    /// Record `worker` as the last committer of each shard its commits move.
    pub fn with_worker(self, worker: &str) -> Self {
        Self { worker: Some(worker.to_string()), ..self }
    }

    pub fn catalog(&self) -> &FloeCatalog {
        &self.catalog
    }

    /// Commit each in order, each only once the one before it landed (or was already covered).
    /// `after_each(i)` runs after the i-th commit (the crash tests hook in there).
    pub async fn commit_in_order(
        &self,
        commits: Vec<TableCommit>,
        mut after_each: impl FnMut(usize),
    ) -> Result<Vec<CommitOutcome>> {
        let mut out = Vec::with_capacity(commits.len());
        for (i, c) in commits.into_iter().enumerate() {
            out.push(self.commit(c).await?);
            after_each(i);
        }
        Ok(out)
    }

    /// Commit if and only if the table's watermarks are still those the commit was planned from.
    ///
    /// Each attempt loads the table, checks the watermarks on it, and commits *against that very
    /// table*: the catalog's compare-and-swap (SQL: metadata location; Glue: `VersionId`; REST:
    /// the snapshot requirement) then refuses the commit if anyone committed in between. On a
    /// refusal the loop reloads, re-reads the watermarks from the snapshot ancestry — work someone
    /// else already committed is dropped — and retries with back-off. iceberg 0.10's own
    /// `Transaction::commit` would instead re-apply a stale append on the newer head, which can
    /// double a batch.
    pub async fn commit(&self, commit: TableCommit) -> Result<CommitOutcome> {
        let started = Instant::now();
        let TableCommit {
            ident,
            mut change,
            planned_after,
            ends_at,
            frontier,
            mut summary,
            oldest_arrival_micros,
            rebase,
        } = commit;
        // rows dropped so far because another writer committed them first
        let mut rebase_drops = 0u64;
        // other writers' snapshots found to pass the rebase check (not read again on a later attempt)
        let mut checked: HashSet<i64> = HashSet::new();
        // Set once an attempt failed without a definite answer (the commit may have landed): from
        // then on the commit's files may be referenced by the table and must not be deleted.
        let mut maybe_committed = false;
        // Snapshots of rewrite attempts that may have landed: found on the table, the commit is done.
        let mut unsure_snapshots: Vec<i64> = Vec::new();
        // 40 ms doubling to 4 s, plus up to as much again of jitter
        let mut backoff = crate::retry::backoff(Duration::from_millis(40), Duration::from_secs(4));
        // in every attempt's summary: an attempt that landed unseen is recognised by it
        let commit_id = uuid::Uuid::new_v4().to_string();
        // compare-and-swap refusals so far: a commit that lands after some was rebased
        let mut refusals = 0u64;
        for attempt in 1..=COMMIT_ATTEMPTS {
            let table = self.catalog.load_table(&ident).await?;
            if let Some(&snapshot_id) =
                unsure_snapshots.iter().find(|&&id| table.metadata().snapshot_by_id(id).is_some())
            {
                crate::telemetry::record_commit(ident.name(), started.elapsed(), oldest_arrival_micros);
                return Ok(CommitOutcome::Committed { snapshot_id, rebase_drops });
            }
            let now = progress(&table);
            let current = &now.watermarks;
            // An earlier attempt landed after all: it is this commit, not a cover. Looked for
            // after any refusal, not only after an unanswered attempt: the SDK retries a call
            // whose answer was lost by itself, and Glue refuses the retry (its `VersionId` was
            // moved — by this commit), so an applied commit can come back as a plain conflict.
            if attempt > 1
                && let Some(snapshot_id) = find_commit(&table, &commit_id)
            {
                crate::telemetry::record_commit(ident.name(), started.elapsed(), oldest_arrival_micros);
                return Ok(CommitOutcome::Committed { snapshot_id, rebase_drops });
            }
            // a commit without progress (a compaction) is never "already covered"
            if !ends_at.is_empty() && current.covers(&ends_at) {
                if !maybe_committed {
                    delete_files(&table, change.written_files()).await;
                }
                crate::telemetry::record_commit(ident.name(), started.elapsed(), oldest_arrival_micros);
                return Ok(CommitOutcome::AlreadyCovered);
            }
            if let Some(shard) = ends_at.shards().find(|s| current.get(s) != planned_after.get(s)) {
                if !maybe_committed {
                    delete_files(&table, change.written_files()).await;
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
            if let Some(guard) = &rebase {
                match collides(&table, guard, &mut checked).await? {
                    Rebase::Clear => {}
                    Rebase::Shared(rows) => {
                        let Change::Append(files) = &change else {
                            return Err(Error::invalid(format!("{ident}: only an append is resolved on a rebase")));
                        };
                        let resolved = guard.check.resolve(&table, files).await?;
                        tracing::info!(
                            table = %ident, shared = rows, dropped = resolved.dropped,
                            files_rewritten = resolved.replaced.len(),
                            "another writer committed some of this batch's event ids first; dropped them from the batch's own files"
                        );
                        if !maybe_committed {
                            delete_files(&table, &resolved.replaced).await;
                        }
                        rebase_drops += resolved.dropped;
                        summary.extend(resolved.summary);
                        change = Change::Append(resolved.files);
                    }
                    Rebase::Lost => {
                        if !maybe_committed {
                            delete_files(&table, change.written_files()).await;
                        }
                        return Err(Error::CommitConflict {
                            table: ident.to_string(),
                            message: "the snapshot the batch was planned on is no longer in the table's recent history"
                                .into(),
                        });
                    }
                }
            }
            // never move a watermark back: a shard this table already had is kept at its maximum
            let mut props = progress_summary(&now, &ends_at, &frontier);
            props.extend(worker_summary(&ends_at, self.worker.as_deref()));
            props.extend(summary.clone());
            props.insert(COMMIT_ID.to_string(), commit_id.clone());
            match self.attempt(table, &change, props, &mut unsure_snapshots).await? {
                Ok(snapshot_id) => {
                    crate::telemetry::record_commit(ident.name(), started.elapsed(), oldest_arrival_micros);
                    if refusals > 0 {
                        crate::telemetry::record_rebase(ident.name(), refusals);
                    }
                    if rebase_drops > 0 {
                        crate::telemetry::record_commit_dedup_drops(ident.name(), rebase_drops);
                    }
                    return Ok(CommitOutcome::Committed { snapshot_id, rebase_drops });
                }
                Err(Refused::Gone(path)) => {
                    if !maybe_committed {
                        let table = self.catalog.load_table(&ident).await?;
                        delete_files(&table, change.written_files()).await;
                    }
                    return Err(Error::CommitConflict {
                        table: ident.to_string(),
                        message: format!("{path} was removed or rewritten by another commit; plan again"),
                    });
                }
                Err(Refused::Moved) => {
                    refusals += 1;
                    crate::telemetry::record_conflict(&ident.to_string());
                    tracing::debug!(table = %ident, attempt, "commit refused: the table moved; re-checking");
                }
                Err(Refused::Unknown(e)) => {
                    maybe_committed = true;
                    tracing::warn!(table = %ident, attempt, error = %e, "commit failed without a definite answer; re-checking");
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
        Err(Error::CommitConflict {
            table: ident.to_string(),
            message: format!("the table kept moving: {COMMIT_ATTEMPTS} commit attempts refused"),
        })
    }

    /// One attempt of `change` on `base` with summary `props`: the new snapshot's id, a refusal
    /// to re-check, or an error that ends the commit. A rewrite whose pointer swap got no
    /// definite answer adds its snapshot id to `unsure`.
    async fn attempt(
        &self,
        base: Table,
        change: &Change,
        props: HashMap<String, String>,
        unsure: &mut Vec<i64>,
    ) -> Result<std::result::Result<i64, Refused>> {
        match change {
            Change::Append(files) => {
                if let Some(policy) = super::manifest_merge::merge_due(&base).await? {
                    let no_removal = HashSet::new();
                    let merge = FileChange {
                        remove: &no_removal,
                        add: files,
                        operation: Operation::Append,
                        only_small: Some(policy),
                    };
                    return self.attempt_staged(base, merge, props, unsure).await;
                }
                let tx = Transaction::new(&base);
                let mirror = progress_properties(&props);
                let tx = tx.fast_append().add_data_files(files.clone()).set_snapshot_properties(props).apply(tx)?;
                let tx = mirror.into_iter().fold(tx.update_table_properties(), |u, (k, v)| u.set(k, v)).apply(tx)?;
                let pinned = PinnedBase::new(self.catalog.iceberg().as_ref(), base);
                match tx.commit(&pinned).await {
                    Ok(table) => table.metadata().current_snapshot_id().map(Ok).ok_or_else(|| {
                        Error::invalid(format!("{}: commit left no current snapshot", table.identifier()))
                    }),
                    Err(e) if e.kind() == iceberg::ErrorKind::CatalogCommitConflicts => Ok(Err(Refused::Moved)),
                    Err(e) if pinned.was_transient() => Ok(Err(Refused::Unknown(e))),
                    Err(e) => Err(e.into()),
                }
            }
            Change::Rewrite { remove, add, operation } => {
                let file_change = FileChange { remove, add, operation: operation.clone(), only_small: None };
                self.attempt_staged(base, file_change, props, unsure).await
            }
        }
    }

    /// An attempt whose snapshot floe builds itself ([`super::rewrite`]), committed with the
    /// catalog's compare-and-swap of the metadata pointer.
    async fn attempt_staged(
        &self,
        base: Table,
        file_change: FileChange<'_>,
        props: HashMap<String, String>,
        unsure: &mut Vec<i64>,
    ) -> Result<std::result::Result<i64, Refused>> {
        let staged = match super::rewrite::stage(&base, file_change, props).await? {
            Ok(staged) => staged,
            Err(NotStaged::Gone(path)) => return Ok(Err(Refused::Gone(path))),
        };
        match self.catalog.commit_metadata(&base, &staged.metadata, staged.updates).await {
            Ok(PointerSwap::Swapped) => Ok(Ok(staged.snapshot_id)),
            // the manifests staged for it stay as orphans for `floe remove-orphans`
            Ok(PointerSwap::Moved) => Ok(Err(Refused::Moved)),
            Err(Error::Iceberg(e)) if crate::error::iceberg_is_transient(&e) => {
                unsure.push(staged.snapshot_id);
                Ok(Err(Refused::Unknown(e)))
            }
            Err(e) => Err(e),
        }
    }
}

/// An empty append that carries the current watermarks forward (after a schema change, a new
/// snapshot is needed before the new column can be scanned).
pub async fn carry_forward(catalog: &FloeCatalog, table: &Table, operation: &str) -> Result<Table> {
    let mut props = progress_summary(&progress(table), &Watermarks::new(), &Frontier::new());
    props.insert("floe.operation".to_string(), operation.to_string());
    let tx = Transaction::new(table);
    let mirror = progress_properties(&props);
    let tx = tx.fast_append().set_snapshot_properties(props).apply(tx)?;
    let tx = mirror.into_iter().fold(tx.update_table_properties(), |u, (k, v)| u.set(k, v)).apply(tx)?;
    Ok(tx.commit(catalog.iceberg().as_ref()).await?)
}

/// The progress properties of a commit onto a head whose progress is `now`: the full maps,
/// merged (a shard this table already had is kept at its maximum), and the marker.
fn progress_summary(now: &Progress, ends_at: &Watermarks, frontier: &Frontier) -> HashMap<String, String> {
    let mut props: HashMap<String, String> = now.watermarks.merged_with(ends_at).to_summary().collect();
    props.extend(now.frontier.merged_with(frontier).to_summary());
    props.extend(now.workers.iter().map(|(s, w)| (format!("{WORKER_PREFIX}{s}"), w.clone())));
    props.insert(PROGRESS_MARKER.to_string(), "1".to_string());
    props
}

/// This worker as the last committer of each shard the commit moves (none without a worker id;
/// the head's entries are carried by [`progress_summary`]).
fn worker_summary(ends_at: &Watermarks, worker: Option<&str>) -> HashMap<String, String> {
    let Some(w) = worker else { return HashMap::new() };
    ends_at.shards().map(|s| (format!("{WORKER_PREFIX}{s}"), w.to_string())).collect()
}

/// Remove files a commit wrote but will never commit. Failure only leaves an orphan file, which
/// no reader sees, so it is logged, not raised.
pub async fn delete_files(table: &Table, files: &[DataFile]) {
    for f in files {
        if let Err(e) = table.file_io().delete(f.file_path()).await {
            tracing::warn!(file = %f.file_path(), error = %e, "could not delete an uncommitted data file");
        }
    }
}
