//! The spool source in the supervision loop: every file is a shard, read from just after its
//! checkpointed byte offset; at most [`MAX_ACTIVE_SHARDS`] at once.

use std::collections::HashSet;

use super::pipelines::Pipelines;
use super::supervise::{Round, ShardSource};
use crate::error::{Error, Result};
use crate::model::ShardId;
use crate::source::files;

/// Shards read at the same time; each holds at most one open bronze batch in memory.
pub const MAX_ACTIVE_SHARDS: usize = 8;

pub struct SpoolSource {
    pub pipelines: Pipelines,
}

impl ShardSource for SpoolSource {
    type Outcome = ();

    async fn round(&mut self, running: &HashSet<ShardId>) -> Result<Round<()>> {
        let p = &self.pipelines;
        let shards = files::list_shards(&p.cfg.source.spool_dir)?;
        let mut round = Round { start: Vec::new(), drained_when_none_running: true };
        let mut starting = 0;
        for (shard, path) in shards {
            if running.contains(&shard) {
                round.drained_when_none_running = false;
                continue;
            }
            let cp = p.checkpoints.get(&shard).await;
            if cp.as_ref().is_some_and(|c| c.ended) {
                continue;
            }
            round.drained_when_none_running = false;
            if running.len() + starting >= MAX_ACTIVE_SHARDS {
                continue;
            }
            let after = match cp.and_then(|c| c.sequence_number) {
                Some(s) => Some(s.parse::<u64>().map_err(|_| {
                    Error::invalid(format!("checkpoint of spool shard {shard} is not a byte offset: {s:?}"))
                })?),
                None => None,
            };
            starting += 1;
            round.start.push((shard.clone(), p.spool(shard, path, after)));
        }
        Ok(round)
    }

    async fn finished(&mut self, _shard: ShardId, res: Result<()>) -> Result<()> {
        res
    }
}
