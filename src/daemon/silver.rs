//! The silver loop: for each table, a commit is opened on the table and its bad-rows table as
//! loaded through the catalog; the silver job adds rounds of bronze to it until it is due (its
//! age or size, `silver.commit_interval` / `silver.commit_max_bytes`), and the committer commits
//! it. When the sources are drained (`--until-idle`) or a stop is requested, what is gathered is
//! committed at once. Passing failures (a commit conflict, a catalog that does not answer) are
//! waited out with back-off — the gathered rounds are given up and read again; anything else
//! stops the loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::compaction::AutoCompact;
use crate::catalog::Committer;
use crate::catalog::commit::CommitOutcome;
use crate::error::{Error, Result};
use crate::model::SilverReach;
use crate::silver::batch::BatchReport;
use crate::silver::job::{SilverJob, TableJob};
use crate::silver::pending::{CommitPolicy, PendingCommit};
use crate::telemetry::Counters;

/// How the loop ends.
pub struct LoopControl {
    pub cancel: CancellationToken,
    /// Becomes true when the sources are drained (with `--until-idle`, silver then stops once
    /// it has caught up).
    pub sources_idle: watch::Receiver<bool>,
    pub until_idle: bool,
    /// How long to wait before looking for bronze again when there was none.
    pub interval: Duration,
}

/// Retries of a failing batch: 200 ms doubling up to 20 s (plus jitter), for as long as it keeps failing.
fn batch_backoff() -> crate::retry::Backoff {
    crate::retry::backoff(Duration::from_millis(200), Duration::from_secs(20))
}

pub struct SilverLoop {
    pub job: SilverJob,
    pub committer: Committer,
    pub counters: Arc<Counters>,
    pub policy: CommitPolicy,
    /// Compaction between commits (`None`: off).
    pub compaction: Option<AutoCompact>,
    /// With leases: how far this loop has each shard, for the lease coordinator (ADR 0018).
    pub reach: Option<Arc<SilverReach>>,
}

/// What one step of one table did.
enum Step {
    /// A round was added to the pending commit.
    Round,
    /// Nothing to read.
    Idle,
}

impl SilverLoop {
    /// Run until cancelled (or, with `until_idle`, until the sources are drained and nothing is
    /// left past the watermarks).
    pub async fn run(&self, mut ctl: LoopControl) -> Result<()> {
        let mut backoff = batch_backoff();
        let mut pending: Vec<Option<PendingCommit>> = self.job.tables.iter().map(|_| None).collect();
        loop {
            let stopping = ctl.cancel.is_cancelled();
            let idle_before = *ctl.sources_idle.borrow_and_update();
            let mut progressed = false;
            // a commit made because the sources are drained (a stop returns before it is read)
            let mut drained_commit = false;
            let mut failure = None;
            for (t, slot) in self.job.tables.iter().zip(pending.iter_mut()) {
                let step = if stopping { Ok(Step::Idle) } else { self.step(t, slot).await };
                let outcome = match step {
                    Ok(step) => {
                        progressed |= matches!(step, Step::Round);
                        // drained or stopping: commit what is gathered now rather than wait
                        let flush = matches!(step, Step::Idle) && (stopping || (ctl.until_idle && idle_before));
                        // a shard whose lease went elsewhere: commit what is gathered of it now,
                        // before its new holder's silver reaches the same range
                        let handed_over = |p: &PendingCommit| p.shards().any(|s| self.job.scope.lost(s));
                        let due = slot
                            .as_ref()
                            .is_some_and(|p| p.is_due(&self.policy) || ((flush || handed_over(p)) && !p.is_empty()));
                        if due {
                            drained_commit |= flush;
                            self.commit(t, slot).await.map(|_| ())
                        } else {
                            Ok(())
                        }
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = outcome {
                    if let Some(p) = slot.take() {
                        p.abandon().await;
                    }
                    if let Some(state) = &t.dedup {
                        state.lock().await.reset();
                    }
                    failure = Some(e);
                    break;
                }
                // an idle table's empty commit is dropped: the next round loads the tables afresh
                if slot.as_ref().is_some_and(PendingCommit::is_empty) {
                    *slot = None;
                }
            }
            // between commits: no table of this loop has rows gathered that a compaction could
            // be planned under
            if let Some(auto) = &self.compaction
                && failure.is_none()
                && !stopping
            {
                let idle: Vec<usize> = (0..pending.len()).filter(|&i| pending[i].is_none()).collect();
                for i in idle {
                    let m = &self.job.tables[i].managed;
                    auto.maybe(&self.committer, i, [&m.ident, &m.bad_ident]).await;
                }
            }
            match failure {
                Some(e) if e.is_retryable() => {
                    if let Error::CommitConflict { table, .. } = &e {
                        crate::telemetry::record_conflict(table);
                        crate::telemetry::record_batch_conflict(table);
                    }
                    let wait = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "silver batch failed; retrying");
                    tokio::select! {
                        _ = ctl.cancel.cancelled() => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                    continue;
                }
                Some(e) => return Err(e),
                None => {}
            }
            if stopping {
                return Ok(());
            }
            if progressed {
                backoff = batch_backoff();
                continue;
            }
            // A commit only plans the shards it opened with (`silver/scope.rs`): shards whose
            // lease came over while it was open are looked at by a fresh commit before ending.
            if drained_commit {
                continue;
            }
            let all_committed = pending.iter().all(Option::is_none);
            if ctl.until_idle && idle_before && all_committed {
                return Ok(());
            }
            // nothing new: wait for bronze, the sources to drain, a stop, or the next commit due
            let wait = pending
                .iter()
                .flatten()
                .map(|p| p.due_in(&self.policy))
                .min()
                .map_or(ctl.interval, |d| d.min(ctl.interval));
            tokio::select! {
                _ = ctl.cancel.cancelled() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = ctl.sources_idle.changed() => {}
            }
        }
    }

    /// One round of `t` into its pending commit (opened on the freshly loaded tables if none;
    /// not even loaded while a listing shows nothing new since they last showed nothing).
    async fn step(&self, t: &TableJob, slot: &mut Option<PendingCommit>) -> Result<Step> {
        if slot.is_none() {
            if !self.job.has_work(t).await? {
                return Ok(Step::Idle);
            }
            // the scope before the tables: see `SilverJob::open`
            let scope = self.job.scope.open();
            let catalog = self.committer.catalog();
            let good = catalog.load_table(&t.managed.ident).await?;
            let bad = catalog.load_table(&t.managed.bad_ident).await?;
            let started = std::time::Instant::now();
            let opened = self.job.open(good, bad, scope)?;
            if let Some(reach) = &self.reach {
                reach.publish(&t.managed.def.name, &opened.after_good().lower_of(&opened.after_bad()));
            }
            tracing::debug!(
                table = %t.managed.def.name,
                progress_us = started.elapsed().as_micros() as u64,
                progress_snapshots = opened.progress_snapshots,
                "commit opened: progress read"
            );
            *slot = Some(opened);
        }
        let Some(pending) = slot.as_mut() else { return Ok(Step::Idle) };
        Ok(if self.job.next_round(t, pending).await? { Step::Round } else { Step::Idle })
    }

    /// Commit `t`'s pending commit: the bad-rows table's snapshot, then the table's.
    async fn commit(&self, t: &TableJob, slot: &mut Option<PendingCommit>) -> Result<Option<BatchReport>> {
        let Some(pending) = slot.take() else { return Ok(None) };
        let batch = pending.finish(&t.managed, t.dedup.clone()).await?;
        let ends = batch.commits.last().map(|c| c.ends_at.clone()).unwrap_or_default();
        crate::crashpoint::hit(crate::crashpoint::SILVER_BEFORE_COMMIT);
        crate::crashpoint::pause(crate::crashpoint::SILVER_BEFORE_COMMIT);
        let n = batch.commits.len();
        let started = std::time::Instant::now();
        let outcomes = self
            .committer
            .commit_in_order(batch.commits, |i| {
                crate::crashpoint::hit(if i + 1 == n {
                    crate::crashpoint::SILVER_AFTER_COMMIT
                } else {
                    crate::crashpoint::SILVER_AFTER_BAD_COMMIT
                })
            })
            .await?;
        let mut r = batch.report;
        if let Some(reach) = &self.reach {
            reach.publish(&t.managed.def.name, &ends);
        }
        // The table's commit (the last) carries the batch's accounting.
        match outcomes.last() {
            Some(CommitOutcome::Committed { snapshot_id, rebase_drops }) => {
                // rows another writer committed first were dropped from the batch's files
                r.rows = r.rows.saturating_sub(*rebase_drops);
                r.dedup_drops += rebase_drops;
                if let Some(state) = &t.dedup {
                    let mut state = state.lock().await;
                    if let Err(e) = state.record_commit(*snapshot_id, &batch.new_ids) {
                        // the commit landed; the next batch reloads what the state could not keep
                        tracing::warn!(table = %r.table, error = %e, "dedup state could not take the commit in; reloading it");
                        state.reset();
                    }
                }
                self.counters.add_silver_batch(&r.table, r.records_in, r.rows, r.dedup_drops, &r.rejected_by_reason);
                tracing::info!(
                    table = %r.table, snapshot_id, objects = r.objects, records_in = r.records_in,
                    rows = r.rows, dedup_drops = r.dedup_drops,
                    rejected = r.rejected_by_reason.values().sum::<u64>(),
                    commit_ms = started.elapsed().as_millis() as u64, "silver batch committed"
                );
                tracing::debug!(table = %r.table, phases = %batch.timing, "silver batch timing");
            }
            _ => {
                // nothing of ours landed: the rows held as pending are not in the table
                if let Some(state) = &t.dedup {
                    state.lock().await.reset();
                }
            }
        }
        Ok(Some(r))
    }
}
