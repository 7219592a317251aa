//! One task per shard turns the reads of that shard into bronze objects and checkpoints.
//!
//! Order of durability: the object is written (and fsynced locally) first, the checkpoint after.
//! A crash between the two leaves an object whose records will be read again and written again
//! under the same key (same first sequence number and arrival date): overwritten, not doubled.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::batcher::{Batcher, FlushPolicy};
use super::encode;
use super::layout::BronzeKey;
use super::store::BronzeStore;
use crate::checkpoint::ShardCheckpoint;
use crate::checkpoint::local::LocalCheckpoints;
use crate::config::BronzeFormat;
use crate::error::Result;
use crate::model::ShardId;
use crate::source::ReadBatch;
use crate::telemetry::Counters;

pub struct ShardWriter {
    pub stream: String,
    pub shard: ShardId,
    pub store: BronzeStore,
    pub checkpoints: Arc<LocalCheckpoints>,
    pub policy: FlushPolicy,
    pub format: BronzeFormat,
    pub zstd_level: i32,
    pub counters: Arc<Counters>,
}

impl ShardWriter {
    /// Consume reads until the shard ends or the reader goes away (shutdown); flush what is open
    /// either way, so a clean stop leaves nothing to re-read.
    pub async fn run(self, mut rx: mpsc::Receiver<ReadBatch>) -> Result<()> {
        let mut batcher = Batcher::default();
        loop {
            let deadline = batcher.deadline(&self.policy);
            let msg = match deadline {
                Some(d) => tokio::select! {
                    m = rx.recv() => Some(m),
                    _ = tokio::time::sleep_until(d.into()) => None,
                },
                None => Some(rx.recv().await),
            };
            match msg {
                // age-based flush
                None => self.flush(&mut batcher, false).await?,
                Some(None) => return self.flush(&mut batcher, false).await,
                Some(Some(read)) => {
                    self.counters.add_read(self.shard.as_str(), read.records.len() as u64, read.bytes_read);
                    let ended = read.end_of_shard;
                    batcher.push(read.records, Instant::now());
                    if ended {
                        return self.flush(&mut batcher, true).await;
                    }
                    if batcher.is_full(&self.policy) || batcher.is_due(&self.policy, Instant::now()) {
                        self.flush(&mut batcher, false).await?;
                    }
                }
            }
        }
    }

    async fn flush(&self, batcher: &mut Batcher, ended: bool) -> Result<()> {
        let records = batcher.take();
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            if ended {
                let mut cp = self.checkpoints.get(&self.shard).await.unwrap_or(ShardCheckpoint {
                    sequence_number: None,
                    sub_sequence: 0,
                    ended: false,
                    last_object: None,
                    updated_at: None,
                });
                cp.ended = true;
                cp.updated_at = Some(now_rfc3339());
                self.checkpoints.save(&self.shard, cp).await?;
            }
            return Ok(());
        };
        let key = BronzeKey::new(
            &self.stream,
            self.shard.clone(),
            first.position.seq.clone(),
            last.position.seq.clone(),
            first.arrival_ts_micros,
            self.format,
        );
        let last_pos = last.position.clone();
        let n = records.len() as u64;
        let (format, level, shard) = (self.format, self.zstd_level, self.shard.clone());
        let ingest = chrono::Utc::now().timestamp_micros();
        let bytes = tokio::task::spawn_blocking(move || {
            let batch = encode::to_batch(&shard, &records, ingest)?;
            encode::encode(&batch, format, level)
        })
        .await
        .map_err(|e| crate::error::Error::invalid(format!("bronze encoder task failed: {e}")))??;
        let size = bytes.len() as u64;
        let location = self.store.put(&key, bytes).await?;
        crate::crashpoint::hit(crate::crashpoint::BRONZE_AFTER_PUT);
        self.checkpoints
            .save(
                &self.shard,
                ShardCheckpoint {
                    sequence_number: Some(last_pos.seq.to_string()),
                    sub_sequence: last_pos.sub,
                    ended,
                    last_object: Some(location.to_string()),
                    updated_at: Some(now_rfc3339()),
                },
            )
            .await?;
        self.counters.add_bronze_object(self.shard.as_str(), n, size);
        tracing::debug!(shard = %self.shard, object = %location, records = n, bytes = size, "bronze object written");
        Ok(())
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
