//! One shard's pipeline: its reader and its bronze writer, joined by a bounded channel (the
//! back-pressure between them).

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::supervise::ShardTask;
use crate::bronze::batcher::{BufferBudget, FlushPolicy};
use crate::bronze::store::BronzeStore;
use crate::bronze::writer::ShardWriter;
use crate::checkpoint::Checkpoints;
use crate::config::Config;
use crate::model::{Position, ShardId};
use crate::source::files;
use crate::source::kinesis::api::{KinesisApi, StartAt};
use crate::source::kinesis::handover::{ReadOptions, ShardOutcome, ShardRead};
use crate::source::kinesis::reader::read_kinesis_shard;
use crate::telemetry::Counters;

/// Reads buffered between a reader and its writer.
const CHANNEL_DEPTH: usize = 4;

/// What every shard pipeline of this process shares.
#[derive(Clone)]
pub struct Pipelines {
    pub cfg: Config,
    pub store: BronzeStore,
    pub checkpoints: Checkpoints,
    pub counters: Arc<Counters>,
    pub cancel: CancellationToken,
    pub until_idle: bool,
    /// `bronze.buffer_memory`, shared by every shard's writer.
    pub budget: BufferBudget,
}

impl Pipelines {
    fn writer(&self, shard: &ShardId) -> ShardWriter {
        let b = &self.cfg.bronze;
        ShardWriter {
            stream: self.cfg.source.stream.clone(),
            shard: shard.clone(),
            store: self.store.clone(),
            checkpoints: self.checkpoints.clone(),
            policy: FlushPolicy { max_records: b.flush_records, max_bytes: b.flush_bytes, max_age: b.flush_interval },
            budget: self.budget.clone(),
            format: b.format,
            zstd_level: b.zstd_level,
            counters: self.counters.clone(),
        }
    }

    /// A spool file from just after byte offset `after`.
    pub fn spool(&self, shard: ShardId, path: PathBuf, after: Option<u64>) -> ShardTask<()> {
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let writer = self.writer(&shard);
        let reader = files::read_spool_file(shard, path, after, self.cfg.source.read_records, tx, self.cancel.clone());
        Box::pin(async move {
            let (r, w) = tokio::join!(reader, writer.run(rx));
            r.and(w)
        })
    }

    /// A Kinesis shard from `start`, dropping what is at or before `resume`; `cancel` stops only
    /// this shard (a lost lease).
    pub fn kinesis(
        &self,
        api: KinesisApi,
        opts: ReadOptions,
        shard: ShardId,
        start: StartAt,
        resume: Option<Position>,
        cancel: CancellationToken,
    ) -> ShardTask<ShardOutcome> {
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let writer = self.writer(&shard);
        let reader = read_kinesis_shard(ShardRead { api, shard, start, resume_after: resume, opts, tx, cancel });
        Box::pin(async move {
            let (r, w) = tokio::join!(reader, writer.run(rx));
            w.and(r)
        })
    }
}
