//! What a silver batch ends in: a value, not a commit. The catalog side ([`crate::catalog::Committer`])
//! turns it into snapshots.

use std::collections::BTreeMap;

use super::seen::Id;
use crate::catalog::commit::TableCommit;

/// What one batch did, for the log, the counters and the terminal summary.
#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    pub table: String,
    pub objects: usize,
    pub records_in: u64,
    pub rows: u64,
    pub dedup_drops: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
}

/// One table's batch, ready to commit.
#[derive(Debug)]
pub struct SilverBatch {
    /// In commit order: the bad-rows table first, then the table. If the process dies between
    /// the two, the retry finds the bad table past this batch and writes only the table's rows
    /// (each table only receives records past its own watermark).
    pub commits: Vec<TableCommit>,
    /// The dedup keys (held form) and times of the rows the table's commit adds, for the dedup
    /// state once it has landed (shared with the commit's check against other writers).
    pub new_ids: std::sync::Arc<Vec<(Id, i64)>>,
    pub report: BatchReport,
    /// Wall time of each step, for the debug log.
    pub timing: String,
}
