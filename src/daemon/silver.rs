//! The silver loop: for each table, load it and its bad-rows table through the catalog, let the
//! silver job turn the bronze past their watermarks into a batch value, and have the committer
//! commit it. Passing failures (a commit conflict, a catalog that does not answer) are waited
//! out with back-off; anything else stops the loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::catalog::Committer;
use crate::catalog::commit::CommitOutcome;
use crate::error::{Error, Result};
use crate::silver::batch::BatchReport;
use crate::silver::job::SilverJob;
use crate::telemetry::Counters;

/// How the loop ends.
pub struct LoopControl {
    pub cancel: CancellationToken,
    /// Becomes true when the sources are drained (with `--until-idle`, silver then stops once
    /// it has caught up).
    pub sources_idle: watch::Receiver<bool>,
    pub until_idle: bool,
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
}

impl SilverLoop {
    /// Run batches until cancelled (or, with `until_idle`, until the sources are drained and
    /// nothing is left past the watermarks).
    pub async fn run(&self, mut ctl: LoopControl) -> Result<()> {
        let mut backoff = batch_backoff();
        loop {
            if ctl.cancel.is_cancelled() {
                return Ok(());
            }
            let idle_before = *ctl.sources_idle.borrow_and_update();
            match self.run_once().await {
                Ok(reports) if !reports.is_empty() => {
                    backoff = batch_backoff();
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
                    let wait = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "silver batch failed; retrying");
                    tokio::select! {
                        _ = ctl.cancel.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One batch per table, committed; empty when every table has caught up.
    pub async fn run_once(&self) -> Result<Vec<BatchReport>> {
        let mut out = Vec::new();
        let catalog = self.committer.catalog();
        for t in &self.job.tables {
            let good = catalog.load_table(&t.managed.ident).await?;
            let bad = catalog.load_table(&t.managed.bad_ident).await?;
            let Some(batch) = self.job.next_batch(t, &good, &bad).await? else { continue };
            let n = batch.commits.len();
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
            let r = batch.report;
            // The table's commit (the last) carries the batch's accounting.
            if let Some(CommitOutcome::Committed { snapshot_id }) = outcomes.last() {
                if let Some(state) = &t.dedup {
                    state.lock().await.record_commit(*snapshot_id, &batch.new_ids);
                }
                self.counters.add_silver_batch(&r.table, r.records_in, r.rows, r.dedup_drops, &r.rejected_by_reason);
                tracing::info!(
                    table = %r.table, snapshot_id, objects = r.objects, records_in = r.records_in,
                    rows = r.rows, dedup_drops = r.dedup_drops,
                    rejected = r.rejected_by_reason.values().sum::<u64>(), "silver batch committed"
                );
                tracing::debug!(table = %r.table, phases = %batch.timing, "silver batch timing");
            }
            out.push(r);
        }
        Ok(out)
    }
}
