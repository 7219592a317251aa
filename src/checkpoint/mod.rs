//! Durable shard positions. A checkpoint says "every record of this shard up to and including
//! this position is in a durable bronze object"; a consumer resumes *after* it.
//!
//! - [`local`]: one JSON file, for the embedded default (one worker per stream).
//! - [`dynamodb`]: a lease table shared by several workers; a checkpoint is written only by the
//!   shard's lease holder.

pub mod dynamodb;
mod dynamodb_item;
pub mod local;

use std::sync::Arc;

use crate::error::Result;
use crate::model::ShardId;

use serde::{Deserialize, Serialize};

/// What the checkpoint store keeps for one shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCheckpoint {
    /// Last sequence number made durable (decimal string); `None` for a shard that ended empty.
    pub sequence_number: Option<String>,
    /// KPL sub-sequence of that record (0 when not aggregated).
    #[serde(default)]
    pub sub_sequence: u64,
    /// The shard has ended (spool file fully read; Kinesis SHARD_END) and all of it is durable.
    #[serde(default)]
    pub ended: bool,
    /// The bronze object that made this position durable.
    #[serde(default)]
    pub last_object: Option<String>,
    /// When it was written (RFC 3339).
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl ShardCheckpoint {
    /// Nothing durable yet.
    pub fn empty() -> Self {
        Self { sequence_number: None, sub_sequence: 0, ended: false, last_object: None, updated_at: None }
    }
}

/// The checkpoint store a shard writer uses. With leases, every write is fenced: it succeeds only
/// while this worker holds the shard's lease at the epoch it took.
#[derive(Clone)]
pub enum Checkpoints {
    Local(Arc<local::LocalCheckpoints>),
    Leased(Arc<dynamodb::LeaseTable>),
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
