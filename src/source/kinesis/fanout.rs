//! Enhanced fan-out consumer of one shard (`source.consumer = "efo"`): SubscribeToShard pushes
//! the shard's records over an event stream with a dedicated 2 MB/s per consumer, instead of
//! polling the shared 2 MB/s with GetRecords.
//!
//! The service ends every subscription after 5 minutes; the next one starts after the last
//! continuation sequence number that was handed over, so nothing is skipped, and a record seen
//! twice is dropped by position like any re-read. A last event without a continuation is
//! SHARD_END. Records, KPL splitting, checkpoints and leases are the polling consumer's
//! ([`super::handover::hand_over`]).

use std::time::{Duration, Instant};

use super::api::{ApiError, FailureKind, StartAt};
use super::handover::{Backoff, Next, ShardOutcome, ShardRead, hand_over};
use crate::error::Result;
use crate::model::{ConsumerArn, SequenceNumber, ShardId};

/// Kinesis allows one SubscribeToShard per second per shard and consumer.
const MIN_SUBSCRIBE_GAP: Duration = Duration::from_secs(1);
/// Kinesis sends an event at least every few seconds on a live subscription, even with no
/// records; this long without one means the connection is dead: subscribe again.
const SILENT_LIMIT: Duration = Duration::from_secs(30);

/// Read `shard` through the registered consumer `consumer_arn`, from `start`, dropping records
/// at or before `resume_after`, and send each event's new records to `tx`.
pub async fn subscribe_shard(consumer_arn: &ConsumerArn, read: ShardRead) -> Result<ShardOutcome> {
    let ShardRead { api, shard, start, resume_after, opts, tx, cancel } = read;
    let mut last = resume_after;
    let mut from = start;
    let mut backoff = Backoff::default();
    let mut last_subscribe: Option<Instant> = None;
    loop {
        if let Some(t) = last_subscribe {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(ShardOutcome::Stopped),
                _ = tokio::time::sleep_until((t + MIN_SUBSCRIBE_GAP).into()) => {}
            }
        }
        last_subscribe = Some(Instant::now());
        let subscribed = tokio::select! {
            _ = cancel.cancelled() => return Ok(ShardOutcome::Stopped),
            s = api.subscribe(consumer_arn, &shard, &from) => s,
        };
        let mut sub = match subscribed {
            Ok(s) => s,
            Err(e) => {
                backoff.wait_or_fail(&shard, e, &cancel).await?;
                continue;
            }
        };
        crate::telemetry::record_subscription(shard.as_str());
        tracing::debug!(shard = %shard, from = ?from, "subscribed");
        loop {
            let event = tokio::select! {
                _ = cancel.cancelled() => return Ok(ShardOutcome::Stopped),
                e = tokio::time::timeout(SILENT_LIMIT, sub.next()) => e,
            };
            let page = match event {
                Ok(Ok(Some(page))) => page,
                Ok(Ok(None)) => break, // the service ended the subscription: renew it
                Ok(Err(e)) => {
                    backoff.wait_or_fail(&shard, e, &cancel).await?;
                    break;
                }
                Err(_) => {
                    let e = ApiError {
                        op: "SubscribeToShard event",
                        kind: FailureKind::Transient,
                        message: format!("no event for {SILENT_LIMIT:?}"),
                    };
                    backoff.wait_or_fail(&shard, e, &cancel).await?;
                    break;
                }
            };
            backoff.reset();
            match hand_over(&shard, page, &mut last, opts.stop_when_caught_up, &tx, &opts.activity).await.next {
                Next::Ended => return Ok(ShardOutcome::Ended),
                Next::CaughtUp => return Ok(ShardOutcome::CaughtUp),
                Next::Stopped => return Ok(ShardOutcome::Stopped),
                Next::From(continuation) => from = after(&shard, &continuation)?,
            }
        }
    }
}

/// Where the next subscription starts: after the continuation, which covers every record of
/// the events handed over so far (the KPL sub-records of one Kinesis record arrive together).
fn after(shard: &ShardId, continuation: &str) -> Result<StartAt> {
    let seq = SequenceNumber::new(continuation).map_err(|e| {
        crate::error::Error::Source(format!(
            "shard {shard}: unusable continuation sequence number {continuation:?}: {e}"
        ))
    })?;
    Ok(StartAt::AfterSequence(seq))
}
