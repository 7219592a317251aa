//! Which shards this worker reads, round by round: alone (local checkpoints: every readable
//! shard), or with DynamoDB leases shared by several workers (make sure every listed shard has
//! a lease, read the table, take what the balancing policy in [`super::lease`] says, renew what
//! is held, give back what ended). One place for everything a worker does with leases.
//!
//! When this worker also runs silver, its silver follows its leases (ADR 0018), so an ended
//! shard's lease is kept until silver has committed the shard to its end, and an ended lease
//! given back before that (`silver_pending`) is taken again by a worker running silver.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

use super::api::ShardInfo;
use super::handover::ShardOutcome;
use super::lease::{self, ExpiryTracker};
use super::shards::ready_to_read;
use crate::checkpoint::dynamodb::LeaseTable;
use crate::checkpoint::{Checkpoints, ShardCheckpoint};
use crate::error::{Error, Result};
use crate::model::ShardId;
use crate::model::SilverReach;

/// What one poll decided.
#[derive(Default)]
pub struct Round {
    /// Shards whose end is checkpointed.
    pub ended: HashSet<ShardId>,
    /// Shards another live worker holds (not ours to wait for with --until-idle).
    pub elsewhere: HashSet<ShardId>,
    /// Shards to start reading now, with their checkpoints.
    pub claim: Vec<(ShardInfo, Option<ShardCheckpoint>)>,
    /// The lease table names a shard the given shard list does not: the list is stale (another
    /// worker saw a reshard first), so the caller lists the shards again.
    pub unlisted: bool,
}

/// Shards running in this worker, each with the token that stops it (a lost lease stops one).
#[derive(Clone, Default)]
pub struct ShardTokens(Arc<Mutex<HashMap<ShardId, CancellationToken>>>);

impl ShardTokens {
    fn lock(&self) -> MutexGuard<'_, HashMap<ShardId, CancellationToken>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn insert(&self, shard: ShardId, token: CancellationToken) {
        self.lock().insert(shard, token);
    }
    pub fn remove(&self, shard: &ShardId) {
        self.lock().remove(shard);
    }
    fn cancel(&self, shard: &ShardId) {
        if let Some(t) = self.lock().get(shard) {
            t.cancel();
        }
    }
}

/// The worker's side of shard assignment.
pub enum Coordinator {
    /// One worker alone, with local checkpoints: every readable shard not running is ours.
    Alone(Checkpoints),
    Leased(LeaseCoordinator),
}

impl Coordinator {
    /// `silver`: how far this process's silver has the shards, when it runs silver.
    pub fn new(checkpoints: &Checkpoints, silver: Option<Arc<SilverReach>>) -> Self {
        match checkpoints {
            Checkpoints::Leased(t) => Coordinator::Leased(LeaseCoordinator::new(t.clone(), silver)),
            c @ Checkpoints::Local(_) => Coordinator::Alone(c.clone()),
        }
    }

    /// The lease table, when several workers share the stream.
    pub fn leases(&self) -> Option<&Arc<LeaseTable>> {
        match self {
            Coordinator::Alone(_) => None,
            Coordinator::Leased(l) => Some(&l.table),
        }
    }

    /// Decide this poll's round. `Ok(None)` when the lease table could not be read this time
    /// (the next poll tries again; running shards keep running). With leases, the table is read
    /// only every half lease duration or when `refresh` says something changed (a shard task
    /// ended, the shard list changed): between those, a round claims nothing and repeats what
    /// the last read found, so a waiting worker does not scan the table every poll.
    pub async fn round(
        &mut self,
        shards: &[ShardInfo],
        active: &HashSet<ShardId>,
        caught_up: &HashSet<ShardId>,
        refresh: bool,
    ) -> Result<Option<Round>> {
        match self {
            Coordinator::Alone(checkpoints) => {
                let mut round = Round::default();
                for s in shards {
                    if checkpoints.get(&s.id).await.is_some_and(|c| c.ended) {
                        round.ended.insert(s.id.clone());
                    }
                }
                let busy: HashSet<ShardId> = active.union(caught_up).cloned().collect();
                for s in ready_to_read(shards, &round.ended, &busy) {
                    round.claim.push((s.clone(), checkpoints.get(&s.id).await));
                }
                Ok(Some(round))
            }
            Coordinator::Leased(l) => {
                if !refresh && let Some(kept) = l.between_scans() {
                    return Ok(Some(kept));
                }
                let round = l.round(shards, active, caught_up).await?;
                if let Some(r) = &round {
                    l.last = Some(Box::new(LastScan {
                        at: std::time::Instant::now(),
                        ended: r.ended.clone(),
                        elsewhere: r.elsewhere.clone(),
                    }));
                }
                Ok(round)
            }
        }
    }

    /// A shard task ended: give an ended shard's lease back; a lost lease or a passing fault ends
    /// only that shard (it is taken and read again from its checkpoint); anything else stops floe.
    pub async fn finished(&self, shard: &ShardId, res: Result<ShardOutcome>) -> Result<Option<ShardOutcome>> {
        let leases = self.leases();
        match res {
            Ok(outcome) => {
                if outcome == ShardOutcome::Ended
                    && let Coordinator::Leased(l) = self
                {
                    l.give_back_ended(shard).await;
                }
                Ok(Some(outcome))
            }
            Err(e @ Error::LeaseLost { .. }) => {
                tracing::warn!(shard = %shard, error = %e, "stopped writing the shard: its lease was taken over");
                Ok(None)
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(shard = %shard, error = %e, "shard stopped on a passing fault; it will be read again from its checkpoint");
                if let Some(t) = leases
                    && let Err(e) = t.release(shard).await
                {
                    tracing::warn!(shard = %shard, error = %e, "could not release the lease");
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Whatever the exit: hand the leases back, so other workers need not wait for expiry.
    pub async fn release_all(&self) {
        let Coordinator::Leased(l) = self else { return };
        for shard in l.table.held() {
            let res = match l.table.checkpoint(&shard).filter(|c| c.ended) {
                Some(end) => {
                    let pending =
                        l.silver.as_ref().is_some_and(|r| !r.has_finished(&shard, end.sequence_number.as_deref()));
                    l.table.release_ended(&shard, pending).await
                }
                None => l.table.release(&shard).await,
            };
            if let Err(e) = res {
                tracing::warn!(shard = %shard, error = %e, "could not release the lease; it will expire");
            }
        }
    }
}

/// What the last read of the lease table found, repeated by the rounds until the next read.
struct LastScan {
    at: std::time::Instant,
    ended: HashSet<ShardId>,
    elsewhere: HashSet<ShardId>,
}

/// Leases shared by several workers.
pub struct LeaseCoordinator {
    table: Arc<LeaseTable>,
    tracker: ExpiryTracker,
    /// Shards known to have a lease row.
    ensured: HashSet<ShardId>,
    /// This process's silver, when it runs silver: ended leases wait for it.
    silver: Option<Arc<SilverReach>>,
    /// When the table was last read, with the ended shards and those held elsewhere it showed
    /// (boxed: it would make every `Coordinator` as large as this variant).
    last: Option<Box<LastScan>>,
    /// Whether a round has planned from the table yet: the first look takes only half of the
    /// free leases when nobody holds any (`lease::plan`).
    looked: bool,
}

impl LeaseCoordinator {
    pub fn new(table: Arc<LeaseTable>, silver: Option<Arc<SilverReach>>) -> Self {
        let tracker = ExpiryTracker::new(table.lease_duration());
        Self { table, tracker, ensured: HashSet::new(), silver, last: None, looked: false }
    }

    /// How often the lease table is read when nothing asks for it sooner: half a lease
    /// duration, so an expired lease is seen at most 1.5 durations after its last renewal
    /// (KCL takes leases every two failover times).
    fn scan_every(&self) -> std::time::Duration {
        self.table.lease_duration() / 2
    }

    /// The round between two reads of the table: nothing claimed, what the last read found.
    fn between_scans(&self) -> Option<Round> {
        let last = self.last.as_deref()?;
        (last.at.elapsed() < self.scan_every()).then(|| Round {
            ended: last.ended.clone(),
            elsewhere: last.elsewhere.clone(),
            ..Round::default()
        })
    }

    /// An ended shard's lease goes back at once unless this worker's silver has yet to commit
    /// the shard to its end; then it is kept (and renewed) until [`Self::settle_ended`] sees it done.
    async fn give_back_ended(&self, shard: &ShardId) {
        if !self.release_if_finished(shard).await {
            tracing::info!(shard = %shard, "shard ended; its lease is kept until silver has committed all of it");
        }
    }

    /// Give back the ended leases whose shards silver has now committed to their end.
    async fn settle_ended(&self) {
        for shard in self.table.held() {
            if self.table.checkpoint(&shard).is_some_and(|c| c.ended) && self.release_if_finished(&shard).await {
                tracing::info!(shard = %shard, "silver has committed the ended shard; its lease is released");
            }
        }
    }

    /// Release the held, ended `shard`'s lease if this process runs no silver or its silver
    /// has committed the shard to its end. `false` when the lease is kept.
    async fn release_if_finished(&self, shard: &ShardId) -> bool {
        let Some(end) = self.table.checkpoint(shard) else { return true };
        if self.silver.as_ref().is_some_and(|r| !r.has_finished(shard, end.sequence_number.as_deref())) {
            return false;
        }
        if let Err(e) = self.table.release_ended(shard, false).await {
            tracing::warn!(shard = %shard, error = %e, "could not release the lease of an ended shard");
        }
        true
    }

    async fn round(
        &mut self,
        shards: &[ShardInfo],
        active: &HashSet<ShardId>,
        caught_up: &HashSet<ShardId>,
    ) -> Result<Option<Round>> {
        let soft = |e: Error, what: &str| -> Result<Option<Round>> {
            if e.is_retryable() {
                tracing::warn!(error = %e, "{what} failed; retrying at the next poll");
                Ok(None)
            } else {
                Err(e)
            }
        };
        let t = &self.table;
        let new: Vec<&ShardInfo> = shards.iter().filter(|s| !self.ensured.contains(&s.id)).collect();
        for s in new {
            let parents: Vec<ShardId> = s.parents().cloned().collect();
            match t.ensure(&s.id, &parents).await {
                Ok(()) => {
                    self.ensured.insert(s.id.clone());
                }
                Err(e) => return soft(e, "adding a lease"),
            }
        }
        let table = match t.scan().await {
            Ok(l) => l,
            Err(e) => return soft(e, "reading the lease table"),
        };
        let mut round = Round {
            ended: table.iter().filter(|l| l.checkpoint.ended).map(|l| l.shard.clone()).collect(),
            // (an ended shard may be past the stream's retention and listed no more)
            unlisted: table.iter().any(|l| !l.checkpoint.ended && !shards.iter().any(|s| s.id == l.shard)),
            ..Round::default()
        };
        let expired = self.tracker.observe(&table, std::time::Instant::now());
        let held: HashSet<ShardId> = t.held().into_iter().chain(active.iter().cloned()).collect();
        // A shard this worker read to the tip (--until-idle) still counts as one of its leases:
        // left out, the worker would look under-loaded and steal from the others, who would
        // steal back (a ping-pong that re-reads the same ranges until the run ends).
        let readable: HashSet<ShardId> = ready_to_read(shards, &round.ended, &HashSet::new())
            .into_iter()
            .map(|s| s.id.clone())
            .filter(|id| !caught_up.contains(id) || held.contains(id))
            .collect();
        let me = t.worker_id();
        round.elsewhere = table
            .iter()
            .filter(|l| l.owner.as_deref().is_some_and(|o| o != me) && !expired.contains(&l.shard))
            .map(|l| l.shard.clone())
            .collect();
        let plan = lease::plan(me, &table, &readable, &expired, &held, !self.looked);
        self.looked = true;
        // ended shards whose silver a stopped worker left unfinished: no reader, silver only
        let adopt: Vec<ShardId> = match &self.silver {
            Some(_) => lease::silver_orphans(me, &table, &expired, &held),
            None => Vec::new(),
        };
        for shard in &adopt {
            let Some(lease) = table.iter().find(|l| &l.shard == shard) else { continue };
            match t.take(lease, false).await {
                Ok(true) => {
                    tracing::info!(shard = %shard, previous_owner = ?lease.owner, "ended lease taken to finish its silver");
                    crate::telemetry::record_lease_taken(shard.as_str());
                }
                Ok(false) => tracing::debug!(shard = %shard, "another worker took the ended lease first"),
                Err(e) => return soft(e, "taking a lease").map(|_| Some(round)),
            }
        }
        self.settle_ended().await;
        for shard in plan.take.iter().chain(plan.steal.iter()) {
            let (Some(lease), Some(info)) =
                (table.iter().find(|l| &l.shard == shard), shards.iter().find(|s| &s.id == shard))
            else {
                continue;
            };
            let was = lease.owner.clone();
            let stolen = plan.steal.as_ref() == Some(shard);
            match t.take(lease, stolen).await {
                Ok(true) => {
                    tracing::info!(shard = %shard, previous_owner = ?was, stolen, "lease taken");
                    crate::telemetry::record_lease_taken(shard.as_str());
                    round.elsewhere.remove(shard);
                    round.claim.push((info.clone(), t.checkpoint(shard)));
                }
                Ok(false) => tracing::debug!(shard = %shard, "another worker took the lease first"),
                Err(e) => return soft(e, "taking a lease").map(|_| Some(round)),
            }
        }
        Ok(Some(round))
    }
}

/// Renew every held lease each third of the lease duration; a lease found lost stops its shard.
pub async fn renew_leases(t: Arc<LeaseTable>, tokens: ShardTokens, stop: CancellationToken) {
    let every = t.lease_duration() / 3;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        for (shard, e) in t.renew_all().await {
            tracing::warn!(shard = %shard, error = %e, "lease lost; stopping the shard");
            tokens.cancel(&shard);
        }
    }
}
