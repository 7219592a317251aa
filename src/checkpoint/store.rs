//! The checkpoint store a shard writer uses, whichever `checkpoint.type` names.

use std::sync::Arc;

use super::dynamodb::LeaseTable;
use super::local::LocalCheckpoints;
use super::shard_checkpoint::ShardCheckpoint;
use crate::error::Result;
use crate::model::ShardId;

/// The checkpoint store a shard writer uses. With leases, every write is fenced: it succeeds only
/// while this worker holds the shard's lease at the epoch it took.
#[derive(Clone)]
pub enum Checkpoints {
    Local(Arc<LocalCheckpoints>),
    Leased(Arc<LeaseTable>),
}

impl Checkpoints {
    pub async fn get(&self, shard: &ShardId) -> Option<ShardCheckpoint> {
        match self {
            Checkpoints::Local(l) => l.get(shard).await,
            Checkpoints::Leased(t) => t.checkpoint(shard),
        }
    }

    /// Make `cp` durable for `shard`; with leases, [`crate::error::Error::LeaseLost`] if the
    /// lease was taken over.
    pub async fn save(&self, shard: &ShardId, cp: ShardCheckpoint) -> Result<()> {
        match self {
            Checkpoints::Local(l) => l.save(shard, cp).await,
            Checkpoints::Leased(t) => t.save(shard, cp).await,
        }
    }

    /// Called before a bronze object is written: with leases, proves the lease is still held
    /// and returns its epoch (stamped on the object); `None` for local checkpoints.
    pub async fn fence(&self, shard: &ShardId) -> Result<Option<u64>> {
        match self {
            Checkpoints::Local(_) => Ok(None),
            Checkpoints::Leased(t) => t.fence(shard).await.map(Some),
        }
    }
}
