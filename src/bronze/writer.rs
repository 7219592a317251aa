//! One task per shard turns the reads of that shard into bronze objects and checkpoints.
//!
//! Order of durability: the object is written (and fsynced locally) first, the checkpoint after.
//! A crash between the two leaves an object whose records will be read again and written again
//! under the same key (same first sequence number and arrival date): overwritten, not doubled.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::batcher::{Batcher, BufferBudget, FlushPolicy};
use super::encode;
use super::layout::BronzeKey;
use super::store::BronzeStore;
use crate::checkpoint::{Checkpoints, ShardCheckpoint};
use crate::config::BronzeFormat;
use crate::error::Result;
use crate::model::{SequenceNumber, ShardId};
use crate::source::{ReadBatch, Record};
use crate::telemetry::Counters;

pub struct ShardWriter {
    pub stream: String,
    pub shard: ShardId,
    pub store: BronzeStore,
    pub checkpoints: Checkpoints,
    pub policy: FlushPolicy,
    /// The process-wide bound on what the open batches of all shards hold.
    pub budget: BufferBudget,
    pub format: BronzeFormat,
    pub zstd_level: i32,
    pub counters: Arc<Counters>,
}

impl ShardWriter {
    /// Consume reads until the shard ends or the reader goes away (shutdown); flush what is open
    /// either way, so a clean stop leaves nothing to re-read.
    ///
    /// The first object after a start may repeat one that a previous run wrote but did not
    /// checkpoint (crash, or a lease taken over between write and checkpoint). When such an
    /// object exists, this run's first object ends at exactly its last record — same key, same
    /// records: the retry overwrites it instead of leaving two overlapping objects.
    pub async fn run(self, mut rx: mpsc::Receiver<ReadBatch>) -> Result<()> {
        let mut batcher = Batcher::default();
        let mut share = self.budget.share();
        let mut probed = false;
        let mut cut_at: Option<SequenceNumber> = None;
        loop {
            // While a cut is pending, size and age do not end the batch: the cut does.
            let deadline = if cut_at.is_some() { None } else { batcher.deadline(&self.policy) };
            let msg = match deadline {
                Some(d) => tokio::select! {
                    m = rx.recv() => Some(m),
                    _ = tokio::time::sleep_until(d.into()) => None,
                },
                None => Some(rx.recv().await),
            };
            match msg {
                // age-based flush
                None => {
                    share.set(0);
                    self.flush(batcher.take(), false).await?
                }
                Some(None) if cut_at.is_some() => {
                    // Stopping before the cut: writing a shorter object would overlap the one
                    // already there. Nothing here is checkpointed; the next run reads it again.
                    tracing::info!(shard = %self.shard, "stopping before re-writing an unacknowledged object; it will be read again");
                    return Ok(());
                }
                Some(None) => return self.flush(batcher.take(), false).await,
                Some(Some(read)) => {
                    self.counters.add_read(self.shard.as_str(), read.records.len() as u64, read.bytes_read);
                    let ended = read.end_of_shard;
                    if !probed && let Some(first) = read.records.first() {
                        probed = true;
                        let probe = self.key(first, first);
                        cut_at = self.store.existing_end(&probe).await?;
                        if let Some(end) = &cut_at {
                            tracing::info!(shard = %self.shard, first = %first.position.seq, last = %end, "an object from an earlier run starts here; re-writing it with the same range");
                        }
                    }
                    batcher.push(read.records, Instant::now());
                    share.set(batcher.bytes());
                    if let Some(end) = cut_at.clone() {
                        if batcher.last_seq().is_some_and(|l| l >= &end) {
                            cut_at = None;
                            let head = batcher.take_through(&end);
                            share.set(batcher.bytes());
                            self.flush(head, false).await?;
                        } else if !ended {
                            continue;
                        } else {
                            cut_at = None;
                        }
                    }
                    if ended {
                        return self.flush(batcher.take(), true).await;
                    }
                    if batcher.is_full(&self.policy)
                        || batcher.is_due(&self.policy, Instant::now())
                        || share.should_flush()
                    {
                        share.set(0);
                        self.flush(batcher.take(), false).await?;
                    }
                }
            }
        }
    }

    fn key(&self, first: &Record, last: &Record) -> BronzeKey {
        BronzeKey::spanning(&self.stream, &self.shard, first, last, self.format)
    }

    async fn flush(&self, records: Vec<Record>, ended: bool) -> Result<()> {
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            if ended {
                let mut cp = self.checkpoints.get(&self.shard).await.unwrap_or_else(ShardCheckpoint::empty);
                cp.ended = true;
                cp.updated_at = Some(now_rfc3339());
                self.checkpoints.save(&self.shard, cp).await?;
            }
            return Ok(());
        };
        let key = self.key(first, last);
        let last_pos = last.position.clone();
        let n = records.len() as u64;
        // With leases: a worker whose lease was taken over writes nothing more (fenced); the
        // epoch goes into the object (Parquet footer, S3 metadata), so every object says which
        // lease wrote it.
        let epoch = self.checkpoints.fence(&self.shard).await?;
        crate::crashpoint::pause(crate::crashpoint::BRONZE_AFTER_FENCE);
        let bytes = encode::encode_records(&self.shard, records, self.format, self.zstd_level, epoch).await?;
        let size = bytes.len() as u64;
        let put = self.store.put(&key, bytes, epoch);
        let location = crate::crashpoint::during(crate::crashpoint::BRONZE_DURING_PUT, put).await?;
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
