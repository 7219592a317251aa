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

impl SilverScope {
    pub fn covers(&self, shard: &ShardId) -> bool {
        match self {
            SilverScope::All => true,
            SilverScope::Leased(t) => t.silver_ready(shard),
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
