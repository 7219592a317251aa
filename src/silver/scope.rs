//! Which shards this worker's silver works on, and how far it has committed them (ADR 0018).
//!
//! With DynamoDB leases, silver follows bronze: a worker's silver reads only the bronze of the
//! shards whose lease it holds, so no bronze range is decoded by two workers, and the work of a
//! shard moves with its lease — the new holder starts from the table's watermark, which the
//! commit re-check keeps exactly-once. A lease stolen from a live worker is read by the new
//! holder's silver only after a lease duration: time for the old holder to see the loss and
//! commit what it had gathered of the shard, so the range is not decoded twice. A shard that ended keeps its lease until this worker's
//! silver has committed it to its end ([`crate::model::SilverReach::has_finished`]); the lease coordinator
//! asks before it gives an ended lease back.
//!
//! A commit plans only the shards that were in scope when it opened ([`OpenedScope`]): it
//! plans after the watermarks it read then, and a shard that joins later (a lease handed over
//! by a worker that committed it meanwhile) would be planned from a stale watermark, so the
//! whole commit would fail its re-check. Such a shard waits for the next commit, which opens
//! on the freshly loaded table.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::checkpoint::dynamodb::LeaseTable;
use crate::model::ShardId;

/// The shards a worker's silver plans over.
#[derive(Clone, Default)]
pub enum SilverScope {
    /// Every shard in bronze: one worker alone (local checkpoints), or a silver-only process.
    #[default]
    All,
    /// The shards whose lease this worker holds (a stolen one after the hand-over wait).
    Leased(Arc<LeaseTable>),
}

/// The shards a commit may plan: those in scope when it was opened, at the lease epoch they
/// had then (a shard lost and taken back meanwhile may have been committed by another worker).
#[derive(Clone, Debug, Default)]
pub enum OpenedScope {
    /// Nothing beyond the scope as it is now: without leases, or a look with no commit open.
    #[default]
    All,
    /// The shards silver was ready for when the commit opened, with their lease epochs.
    Held(BTreeMap<ShardId, u64>),
}

impl SilverScope {
    /// What a commit opened now may plan over.
    pub fn open(&self) -> OpenedScope {
        match self {
            SilverScope::All => OpenedScope::All,
            SilverScope::Leased(t) => OpenedScope::Held(t.silver_ready_epochs()),
        }
    }

    /// Whether a commit opened with `opened` may plan `shard` now: in scope now and then, at
    /// the same lease epoch.
    pub fn covers_since(&self, opened: &OpenedScope, shard: &ShardId) -> bool {
        match (self, opened) {
            (SilverScope::All, _) => true,
            (SilverScope::Leased(t), OpenedScope::All) => t.silver_ready(shard),
            (SilverScope::Leased(t), OpenedScope::Held(then)) => {
                t.silver_ready_epoch(shard).is_some_and(|e| then.get(shard) == Some(&e))
            }
        }
    }

    /// Whether `shard` is no longer this worker's (its lease went elsewhere).
    pub fn lost(&self, shard: &ShardId) -> bool {
        match self {
            SilverScope::All => false,
            SilverScope::Leased(t) => !t.holds(shard),
        }
    }
}
