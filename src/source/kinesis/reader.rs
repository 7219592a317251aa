//! Reading one shard: by GetRecords polling ([`super::polling`]) or through an enhanced
//! fan-out subscription ([`super::fanout`]), as `ReadOptions::fan_out` says. Both hand over
//! through [`super::handover`].

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::api::{KinesisApi, StartAt};
use super::handover::{ReadOptions, ShardOutcome};
use crate::error::Result;
use crate::model::{Position, ShardId};
use crate::source::ReadBatch;

/// Read `shard` from `start`, skipping records at or before `resume_after` (the checkpoint),
/// and send each read to `tx`. Dropping `tx` (returning) tells the writer to flush.
pub async fn read_kinesis_shard(
    api: KinesisApi,
    shard: ShardId,
    start: StartAt,
    resume_after: Option<Position>,
    opts: ReadOptions,
    tx: mpsc::Sender<ReadBatch>,
    cancel: CancellationToken,
) -> Result<ShardOutcome> {
    match opts.fan_out.clone() {
        Some(arn) => super::fanout::subscribe_shard(api, &arn, shard, start, resume_after, &opts, tx, cancel).await,
        None => super::polling::poll_shard(api, shard, start, resume_after, opts, tx, cancel).await,
    }
}
