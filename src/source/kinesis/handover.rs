//! What polling and enhanced fan-out share once a page of records has arrived: handing its
//! new user records to the bronze writer (KPL split, records at or before the checkpoint
//! dropped, SHARD_END passed on), the read options, how a shard's read ends, and the back-off
//! for failed calls. A leaf: it imports neither reader.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::api::{ApiError, FailureKind, KinesisApi, Page, RawRecord, StartAt};
use super::kpl;
use crate::error::{Error, Result};
use crate::model::{ConsumerArn, Position, ShardId};
use crate::source::activity::ShardActivity;
use crate::source::{Defect, ReadBatch, Record};

/// 125 ms doubling to 5 s, plus up to as much again of jitter (at most 10 s).
const BACKOFF_START: Duration = Duration::from_millis(125);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Transient failures in a row before the shard's task gives up (and the daemon with it).
const MAX_TRANSIENT_IN_A_ROW: u32 = 30;

#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// GetRecords limit (at most 10,000).
    pub limit: i32,
    /// Wait between empty reads.
    pub poll_interval: Duration,
    /// Return once a read comes back empty with MillisBehindLatest = 0 (`run --until-idle`).
    pub stop_when_caught_up: bool,
    /// Enhanced fan-out through this registered consumer instead of polling.
    pub fan_out: Option<ConsumerArn>,
    /// Told of every answer from the stream (for `/readyz`).
    pub activity: ShardActivity,
}

/// One shard to read: from `start`, dropping records at or before `resume_after` (the
/// checkpoint), each read sent to `tx`; `cancel` stops this shard alone (a lost lease).
pub struct ShardRead {
    pub api: KinesisApi,
    pub shard: ShardId,
    pub start: StartAt,
    pub resume_after: Option<Position>,
    pub opts: ReadOptions,
    pub tx: mpsc::Sender<ReadBatch>,
    pub cancel: CancellationToken,
}

/// What a finished shard task reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardOutcome {
    /// SHARD_END reached and handed to the writer.
    Ended,
    /// Caught up with the tip (only with `stop_when_caught_up`).
    CaughtUp,
    /// Shutdown requested.
    Stopped,
}

/// What reading does after a page was handed over.
pub enum Next {
    /// Go on from this iterator (polling) or continuation sequence number (fan-out).
    From(String),
    Ended,
    CaughtUp,
    /// The writer is gone (shutdown).
    Stopped,
}

pub struct Handed {
    pub next: Next,
    /// No new user record in the page.
    pub empty: bool,
}

/// Hand a page's new user records (and SHARD_END, which the writer checkpoints) to the writer;
/// `last` moves to the last record handed over. Shared by polling and enhanced fan-out, so both
/// drop, split and end shards the same way.
pub async fn hand_over(
    shard: &ShardId,
    page: Page,
    last: &mut Option<Position>,
    stop_when_caught_up: bool,
    tx: &mpsc::Sender<ReadBatch>,
    activity: &ShardActivity,
) -> Handed {
    activity.answered(shard);
    if let Some(ms) = page.millis_behind_latest {
        crate::telemetry::record_millis_behind(shard.as_str(), ms);
    }
    let bytes_read: u64 = page.records.iter().map(|r| r.data.len() as u64).sum();
    let records = user_records(&page.records, last.as_ref());
    if let Some(r) = records.last() {
        *last = Some(r.position.clone());
    }
    let empty = records.is_empty();
    let ended = page.next.is_none();
    let caught_up = empty && page.millis_behind_latest == Some(0);
    if !empty || ended {
        let batch = ReadBatch { shard: shard.clone(), records, end_of_shard: ended, bytes_read };
        if tx.send(batch).await.is_err() {
            return Handed { next: Next::Stopped, empty };
        }
    }
    let next = match page.next {
        None => Next::Ended,
        Some(_) if caught_up && stop_when_caught_up => Next::CaughtUp,
        Some(n) => Next::From(n),
    };
    Handed { next, empty }
}

/// Kinesis records → user records: KPL aggregates are split (sub-sequence = index); a corrupt
/// aggregate is passed on whole, for silver to reject as `corrupt_kpl_aggregate`. Records at
/// or before `after` (already durable) are dropped.
pub fn user_records(raw: &[RawRecord], after: Option<&Position>) -> Vec<Record> {
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        let whole = |r: &RawRecord, defect: Option<Defect>| Record {
            data: r.data.clone(),
            position: Position::new(r.sequence_number.clone(), 0),
            partition_key: r.partition_key.clone(),
            arrival_ts_micros: r.arrival_ts_micros,
            defect,
        };
        let split = if kpl::looks_aggregated(&r.data) { kpl::deaggregate(&r.data) } else { Ok(None) };
        match split {
            Ok(Some(users)) => out.extend(users.into_iter().map(|u| Record {
                data: u.data,
                position: Position::new(r.sequence_number.clone(), u.sub_sequence),
                partition_key: u.partition_key,
                arrival_ts_micros: r.arrival_ts_micros,
                defect: None,
            })),
            Ok(None) => out.push(whole(r, None)),
            Err(e) => {
                tracing::warn!(sequence_number = %r.sequence_number, error = %e, "corrupt KPL aggregate kept whole");
                out.push(whole(r, Some(Defect::CorruptKplAggregate)));
            }
        }
    }
    if let Some(after) = after {
        out.retain(|rec| rec.position > *after);
    }
    out
}

/// Back-off for throttling and transient failures ([`crate::retry`]'s policy), and the count of
/// transient failures in a row after which the shard gives up.
pub struct Backoff {
    delays: crate::retry::Backoff,
    transient_in_a_row: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { delays: crate::retry::backoff(BACKOFF_START, BACKOFF_MAX), transient_in_a_row: 0 }
    }
}

impl Backoff {
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Sleep before the next try, or return the error if it is fatal or keeps coming back.
    pub async fn wait_or_fail(&mut self, shard: &ShardId, e: ApiError, cancel: &CancellationToken) -> Result<()> {
        match e.kind {
            FailureKind::Fatal => return Err(Error::Source(format!("shard {shard}: {e}"))),
            FailureKind::Transient | FailureKind::ExpiredIterator => {
                self.transient_in_a_row += 1;
                if self.transient_in_a_row > MAX_TRANSIENT_IN_A_ROW {
                    return Err(Error::Source(format!(
                        "shard {shard}: {e} ({} failures in a row)",
                        self.transient_in_a_row
                    )));
                }
            }
            FailureKind::Throttled => crate::telemetry::record_throttled(shard.as_str()),
        }
        let jittered = self.delays.next_delay();
        tracing::debug!(shard = %shard, error = %e, wait_ms = jittered.as_millis() as u64, "backing off");
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = tokio::time::sleep(jittered) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SequenceNumber;
    use bytes::Bytes;

    fn raw(seq: &str, data: &[u8]) -> RawRecord {
        RawRecord {
            sequence_number: SequenceNumber::new(seq).unwrap(),
            partition_key: "pk".into(),
            data: Bytes::copy_from_slice(data),
            arrival_ts_micros: 1,
        }
    }

    #[test]
    fn records_at_or_before_the_checkpoint_are_dropped() {
        let recs = [raw("49650000000000000000000000001", b"a"), raw("49650000000000000000000000002", b"b")];
        let after = Position::new(SequenceNumber::new("49650000000000000000000000001").unwrap(), 0);
        let out = user_records(&recs, Some(&after));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.as_ref(), b"b");
    }

    #[test]
    fn a_corrupt_aggregate_is_kept_whole() {
        let mut data = kpl::MAGIC.to_vec();
        data.extend_from_slice(&[1, 2, 3]);
        data.extend_from_slice(&[0u8; 16]);
        let out = user_records(&[raw("7", &data)], None);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].position.sub, 0);
        assert_eq!(out[0].data.as_ref(), &data[..]);
        assert_eq!(out[0].defect, Some(Defect::CorruptKplAggregate), "carried to silver as data");
    }
}
