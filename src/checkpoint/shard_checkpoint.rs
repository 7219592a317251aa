//! What the checkpoint store keeps for one shard.

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
