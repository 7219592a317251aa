//! A commit being gathered: the rounds of bronze silver has turned into rows since the last
//! commit of a table, written into files that stay open, with the progress they make.
//!
//! Committing every round made a snapshot per ~8 MiB of bronze — tens of thousands a day at the
//! mission's rate, each one more entry in the manifest list and the metadata file, and small data
//! files. A pending commit instead gathers rounds until it is `commit_interval` old or holds
//! `commit_max_bytes` of bronze, and then becomes one [`SilverBatch`]: one snapshot per table.
//! Rounds after the first are planned after the pending progress (the table's, moved on by the
//! rounds already gathered), so nothing is read twice; the dedup state takes the pending rows in
//! as they are written (a failed commit resets it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iceberg::table::Table;
use tokio::sync::Mutex;

use super::batch::{BatchReport, SilverBatch};
use super::dedup::DedupState;
use super::dedup_rebase::{DEDUP_DROPS, NoIdTwice, ROWS};
use super::scope::OpenedScope;
use super::seen::Id;
use super::table_files::TableFiles;
use crate::catalog::commit::{Change, RebaseGuard, TableCommit};
use crate::catalog::progress::progress;
use crate::catalog::setup::ManagedTable;
use crate::error::Result;
use crate::model::{Frontier, LEASE_EPOCH_PREFIX, ShardId, Watermarks};

/// When a pending commit is committed.
#[derive(Debug, Clone, Copy)]
pub struct CommitPolicy {
    /// Age of the pending commit (from its first round).
    pub interval: Duration,
    /// Bronze bytes gathered.
    pub max_bytes: u64,
}

/// What one round adds to a pending commit.
pub struct RoundOutcome {
    pub objects: usize,
    pub bronze_bytes: u64,
    pub ends: Watermarks,
    pub frontier: Frontier,
    pub epochs: BTreeMap<ShardId, u64>,
    pub records_in: u64,
    pub rows: u64,
    pub dedup_drops: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub bad_rows: u64,
    pub new_ids: Vec<(Id, i64)>,
    pub oldest_arrival: Option<i64>,
    pub timing: String,
}

/// The commit being gathered for one table and its bad-rows table.
pub struct PendingCommit {
    /// The table and its files; its schema may evolve during the commit (per-schema columns).
    pub good: TableFiles,
    pub bad: TableFiles,
    /// The progress of each table when the commit was opened (what it is planned after).
    pub wm_good: Watermarks,
    pub wm_bad: Watermarks,
    pub frontier_base: Frontier,
    /// Snapshots read to find the progress (1 when floe committed last; for the benchmarks).
    pub progress_snapshots: usize,
    /// The shards the commit may plan: those in scope when it opened (`scope.rs`).
    pub scope: OpenedScope,
    /// The table's snapshot when the commit was opened (what another writer's commits are
    /// checked from, `dedup_rebase.rs`).
    planned_on: Option<i64>,
    opened: Instant,
    rounds: usize,
    acc: RoundOutcome,
}

impl PendingCommit {
    /// Open a commit on the tables as just loaded.
    pub fn open(good: Table, bad: Table, scope: OpenedScope) -> Result<Self> {
        let (p_good, p_bad) = (progress(&good), progress(&bad));
        Ok(Self {
            scope,
            frontier_base: p_good.frontier.lower_of(&p_bad.frontier),
            progress_snapshots: p_good.snapshots_read.max(p_bad.snapshots_read),
            planned_on: good.metadata().current_snapshot_id(),
            wm_good: p_good.watermarks,
            wm_bad: p_bad.watermarks,
            good: TableFiles::new(good)?,
            bad: TableFiles::new(bad)?,
            opened: Instant::now(),
            rounds: 0,
            acc: RoundOutcome {
                objects: 0,
                bronze_bytes: 0,
                ends: Watermarks::new(),
                frontier: Frontier::new(),
                epochs: BTreeMap::new(),
                records_in: 0,
                rows: 0,
                dedup_drops: 0,
                rejected_by_reason: BTreeMap::new(),
                bad_rows: 0,
                new_ids: Vec::new(),
                oldest_arrival: None,
                timing: String::new(),
            },
        })
    }

    /// The good table's progress with the gathered rounds on top.
    pub fn after_good(&self) -> Watermarks {
        self.wm_good.merged_with(&self.acc.ends)
    }

    /// The bad-rows table's progress with the gathered rounds on top.
    pub fn after_bad(&self) -> Watermarks {
        self.wm_bad.merged_with(&self.acc.ends)
    }

    /// Where bronze was read up to, gathered rounds included.
    pub fn frontier(&self) -> Frontier {
        self.frontier_base.merged_with(&self.acc.frontier)
    }

    /// The shards the gathered rounds hold records of.
    pub fn shards(&self) -> impl Iterator<Item = &ShardId> {
        self.acc.ends.shards()
    }

    pub fn is_empty(&self) -> bool {
        self.rounds == 0
    }

    pub fn is_due(&self, policy: &CommitPolicy) -> bool {
        self.rounds > 0 && (self.opened.elapsed() >= policy.interval || self.acc.bronze_bytes >= policy.max_bytes)
    }

    /// Time left until the commit is due by age.
    pub fn due_in(&self, policy: &CommitPolicy) -> Duration {
        policy.interval.saturating_sub(self.opened.elapsed())
    }

    /// Take in one round (its rows are in the open files already).
    pub fn add(&mut self, r: RoundOutcome) {
        if self.rounds == 0 {
            // the age counts from the first data, not from when the tables were loaded
            self.opened = Instant::now();
        }
        self.rounds += 1;
        let a = &mut self.acc;
        a.objects += r.objects;
        a.bronze_bytes += r.bronze_bytes;
        a.ends = a.ends.merged_with(&r.ends);
        a.frontier = a.frontier.merged_with(&r.frontier);
        for (s, e) in r.epochs {
            let max = a.epochs.entry(s).or_insert(e);
            *max = (*max).max(e);
        }
        a.records_in += r.records_in;
        a.rows += r.rows;
        a.dedup_drops += r.dedup_drops;
        for (k, n) in r.rejected_by_reason {
            *a.rejected_by_reason.entry(k).or_default() += n;
        }
        a.bad_rows += r.bad_rows;
        a.new_ids.extend(r.new_ids);
        a.oldest_arrival = match (a.oldest_arrival, r.oldest_arrival) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        a.timing.push_str(&r.timing);
        a.timing.push_str("; ");
    }

    /// Close the files and turn the gathered rounds into the batch value: the bad-rows table's
    /// commit first, then the table's. `dedup`: the table's dedup state, which takes in the ids
    /// of other writers' snapshots the commit's rebase check reads.
    pub async fn finish(self, m: &ManagedTable, dedup: Option<Arc<Mutex<DedupState>>>) -> Result<SilverBatch> {
        let bad_files = self.bad.close().await?;
        let good_files = self.good.close().await?;
        let a = self.acc;
        let epochs = || a.epochs.iter().map(|(s, e)| (format!("{LEASE_EPOCH_PREFIX}{s}"), e.to_string()));
        let mut bad_summary = BTreeMap::from([("floe.bad-rows".to_string(), a.bad_rows.to_string())]);
        bad_summary.extend(epochs());
        let bad_commit = TableCommit {
            ident: m.bad_ident.clone(),
            change: Change::Append(bad_files),
            planned_after: self.wm_bad.restricted_to(&a.ends),
            ends_at: a.ends.clone(),
            frontier: a.frontier.clone(),
            summary: bad_summary,
            oldest_arrival_micros: None,
            rebase: None,
        };
        let new_ids = Arc::new(a.new_ids);
        let rebase = m.def.dedup.clone().map(|def| RebaseGuard {
            planned_on: self.planned_on,
            check: Arc::new(NoIdTwice::new(def, new_ids.clone(), a.rows, a.dedup_drops, dedup)),
        });
        let mut summary = BTreeMap::from([
            ("floe.records-in".to_string(), a.records_in.to_string()),
            (ROWS.to_string(), a.rows.to_string()),
            (DEDUP_DROPS.to_string(), a.dedup_drops.to_string()),
            ("floe.rejected".to_string(), a.rejected_by_reason.values().sum::<u64>().to_string()),
        ]);
        for (reason, n) in &a.rejected_by_reason {
            summary.insert(format!("floe.rejected.{reason}"), n.to_string());
        }
        summary.extend(epochs());
        let good_commit = TableCommit {
            ident: m.ident.clone(),
            change: Change::Append(good_files),
            planned_after: self.wm_good.restricted_to(&a.ends),
            ends_at: a.ends.clone(),
            frontier: a.frontier.clone(),
            summary,
            oldest_arrival_micros: a.oldest_arrival,
            rebase,
        };
        let report = BatchReport {
            table: m.def.name.clone(),
            objects: a.objects,
            records_in: a.records_in,
            rows: a.rows,
            dedup_drops: a.dedup_drops,
            rejected_by_reason: a.rejected_by_reason,
        };
        Ok(SilverBatch {
            commits: vec![bad_commit, good_commit],
            new_ids,
            report,
            timing: format!("rounds={} {}", self.rounds, a.timing),
        })
    }

    /// Give the commit up (a round failed): close the files and delete them.
    pub async fn abandon(self) {
        self.good.abandon().await;
        self.bad.abandon().await;
    }
}
