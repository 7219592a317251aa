//! Reading one shard: by GetRecords polling ([`super::polling`]) or through an enhanced
//! fan-out subscription ([`super::fanout`]), as `ReadOptions::fan_out` says. Both hand over
//! through [`super::handover`].

use super::handover::{ShardOutcome, ShardRead};
use crate::error::Result;

/// Read one shard as `read` says; dropping its `tx` (returning) tells the writer to flush.
pub async fn read_kinesis_shard(read: ShardRead) -> Result<ShardOutcome> {
    match read.opts.fan_out.clone() {
        Some(arn) => super::fanout::subscribe_shard(&arn, read).await,
        None => super::polling::poll_shard(read).await,
    }
}
