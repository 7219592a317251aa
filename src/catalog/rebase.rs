//! A commit landing on a head other writers moved since it was planned: the snapshots they added
//! are checked against the commit (silver: no event id twice, ADR 0018) and a collision is
//! resolved in the commit's own files before it is tried. The [`Committer`](super::Committer)
//! calls this on every attempt; what a check reads is up to its owner.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use iceberg::spec::{DataFile, Operation};
use iceberg::table::Table;

use crate::error::Result;

/// What a commit must not collide with when it lands on a head other writers moved.
#[derive(Debug, Clone)]
pub struct RebaseGuard {
    /// The snapshot the commit was planned on (`None`: the empty table).
    pub planned_on: Option<i64>,
    pub check: Arc<dyn RebaseCheck>,
}

/// A check of one snapshot another writer added after a commit was planned, and its resolution
/// (silver: the commit adds none of the event ids that snapshot added — two workers' batches
/// each holding one copy of a re-send would otherwise both land; ADR 0018).
#[async_trait::async_trait]
pub trait RebaseCheck: Send + Sync + std::fmt::Debug {
    /// How many of the commit's rows snapshot `snapshot_id` (another writer's) already holds;
    /// remembered for [`resolve`](Self::resolve).
    async fn check(&self, table: &Table, snapshot_id: i64) -> Result<u64>;
    /// The commit's own uncommitted `files`, rewritten without the rows [`check`](Self::check)
    /// found: only the files holding one are read and written again.
    async fn resolve(&self, table: &Table, files: &[DataFile]) -> Result<Resolved>;
}

/// A commit's files after a [`RebaseCheck::resolve`].
#[derive(Debug, Default)]
pub struct Resolved {
    /// What the commit adds now: the untouched files and the rewritten ones.
    pub files: Vec<DataFile>,
    /// Files of the commit no longer in it (deleted, being uncommitted).
    pub replaced: Vec<DataFile>,
    /// Rows dropped by this resolution.
    pub dropped: u64,
    /// Snapshot-summary properties that change with it (the batch counters).
    pub summary: BTreeMap<String, String>,
}

/// Snapshots followed back from the head to the one a commit was planned on.
const REBASE_DEPTH: usize = 1000;

/// What the snapshots other writers added since a commit was planned hold of it.
pub(super) enum Rebase {
    /// None of its rows (a compaction's replace holds the same rows: not checked).
    Clear,
    /// This many of its rows: the commit is resolved before it is tried.
    Shared(u64),
    /// The planned-on snapshot is no longer in the head's recent ancestry: plan again.
    Lost,
}

/// Run `guard`'s check on each snapshot added since the commit was planned and not checked yet.
pub(super) async fn collides(table: &Table, guard: &RebaseGuard, checked: &mut HashSet<i64>) -> Result<Rebase> {
    let meta = table.metadata();
    let mut at = meta.current_snapshot_id();
    let mut since = Vec::new();
    for _ in 0..REBASE_DEPTH {
        if at == guard.planned_on {
            let mut shared = 0;
            for id in since.into_iter().rev() {
                shared += guard.check.check(table, id).await?;
                checked.insert(id);
            }
            return Ok(if shared == 0 { Rebase::Clear } else { Rebase::Shared(shared) });
        }
        let Some(snapshot) = at.and_then(|id| meta.snapshot_by_id(id)) else { break };
        if !checked.contains(&snapshot.snapshot_id()) && snapshot.summary().operation != Operation::Replace {
            since.push(snapshot.snapshot_id());
        }
        at = snapshot.parent_snapshot_id();
    }
    Ok(Rebase::Lost)
}
