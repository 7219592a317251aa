//! Where a Kinesis shard starts reading.

use crate::checkpoint::ShardCheckpoint;
use crate::config::StartPosition;
use crate::error::{Error, Result};
use crate::model::{Position, SequenceNumber};
use crate::source::kinesis::api::{ShardInfo, StartAt};
use crate::source::kinesis::shards::has_listed_parent;

/// Where to start reading `s`: at (not after) its checkpoint — a KPL aggregate may continue past
/// its checkpointed sub-record, and the reader drops what is already durable; a reshard's
/// child from its beginning; anything else from `source.start_position`. The second value is
/// the position at or before which records are dropped.
pub fn start_for(
    s: &ShardInfo,
    cp: Option<ShardCheckpoint>,
    shards: &[ShardInfo],
    position: &StartPosition,
) -> Result<(StartAt, Option<Position>)> {
    Ok(match cp.and_then(|c| c.sequence_number.map(|q| (q, c.sub_sequence))) {
        Some((seq, sub)) => {
            let seq =
                SequenceNumber::new(seq).map_err(|e| Error::invalid(format!("checkpoint of shard {}: {e}", s.id)))?;
            (StartAt::AtSequence(seq.clone()), Some(Position::new(seq, sub)))
        }
        None if has_listed_parent(s, shards) => (StartAt::TrimHorizon, None),
        None => (start_at(position), None),
    })
}

fn start_at(p: &StartPosition) -> StartAt {
    match p {
        StartPosition::TrimHorizon => StartAt::TrimHorizon,
        StartPosition::Latest => StartAt::Latest,
        StartPosition::AtTimestamp(ms) => StartAt::Timestamp(*ms),
    }
}
