//! Polling reader of one shard: GetShardIterator, then GetRecords paced to the per-shard
//! limits (5 calls/s, 2 MB/s), each page handed over by [`super::handover::hand_over`] until
//! SHARD_END, shutdown, or (with `stop_when_caught_up`) the tip.

use std::time::{Duration, Instant};

use super::api::{FailureKind, Page, StartAt};
use super::handover::{Backoff, Next, ShardOutcome, ShardRead, hand_over};
use crate::error::Result;

/// Kinesis allows 5 GetRecords calls per second per shard.
const MIN_CALL_GAP: Duration = Duration::from_millis(200);
/// and 2 MB/s read per shard: after a read of n bytes, the next waits n / 2 MB/s.
const READ_BYTES_PER_SEC: f64 = 2.0 * 1024.0 * 1024.0;
/// A shard found empty at its tip again and again is asked less often: the wait after an
/// empty read grows by one poll interval per empty read at the tip, up to this many intervals
/// (5 s at the default 1 s), and falls back to one interval at the first record. A quiet shard
/// then costs a fifth of the calls; a record that arrives on it waits at most that long.
const IDLE_WAIT_MAX_INTERVALS: u32 = 5;
/// Read `shard` from `start`, skipping records at or before `resume_after` (the checkpoint),
/// and send each read to `tx`. Dropping `tx` (returning) tells the writer to flush.
pub async fn poll_shard(read: ShardRead) -> Result<ShardOutcome> {
    let ShardRead { api, shard, start, resume_after, opts, tx, cancel } = read;
    let mut last = resume_after;
    let mut backoff = Backoff::default();
    let mut iterator = loop {
        match api.shard_iterator(&shard, &start).await {
            Ok(it) => break it,
            Err(e) => backoff.wait_or_fail(&shard, e, &cancel).await?,
        }
        if cancel.is_cancelled() {
            return Ok(ShardOutcome::Stopped);
        }
    };
    let mut next_call = Instant::now();
    // empty reads at the tip in a row
    let mut idle_reads: u32 = 0;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Ok(ShardOutcome::Stopped),
            _ = tokio::time::sleep_until(next_call.into()) => {}
        }
        let page: Page = match api.get_records(&iterator, opts.limit).await {
            Ok(p) => p,
            Err(e) if e.kind == FailureKind::ExpiredIterator => {
                tracing::info!(shard = %shard, "shard iterator expired; getting a fresh one");
                let from = match &last {
                    Some(p) => StartAt::AtSequence(p.seq.clone()),
                    None => start.clone(),
                };
                iterator = match api.shard_iterator(&shard, &from).await {
                    Ok(it) => it,
                    Err(e) => {
                        backoff.wait_or_fail(&shard, e, &cancel).await?;
                        continue;
                    }
                };
                continue;
            }
            Err(e) => {
                backoff.wait_or_fail(&shard, e, &cancel).await?;
                continue;
            }
        };
        backoff.reset();
        if !page.records.is_empty() {
            crate::crashpoint::hit(crate::crashpoint::SOURCE_AFTER_GET_RECORDS);
        }
        let bytes: u64 = page.records.iter().map(|r| r.data.len() as u64).sum();
        let at_tip = page.millis_behind_latest == Some(0);
        next_call = Instant::now() + MIN_CALL_GAP.max(Duration::from_secs_f64(bytes as f64 / READ_BYTES_PER_SEC));
        let handed = hand_over(&shard, page, &mut last, opts.stop_when_caught_up, &tx, &opts.activity).await;
        match handed.next {
            Next::Ended => return Ok(ShardOutcome::Ended),
            Next::CaughtUp => return Ok(ShardOutcome::CaughtUp),
            Next::Stopped => return Ok(ShardOutcome::Stopped),
            Next::From(it) => iterator = it,
        }
        idle_reads = next_idle_reads(idle_reads, handed.empty, at_tip);
        if handed.empty {
            next_call = next_call.max(Instant::now() + opts.poll_interval * idle_reads);
        }
    }
}

/// The empty-reads-at-the-tip count after a read, which is also how many poll intervals to
/// wait before the next one when it was empty (see [`IDLE_WAIT_MAX_INTERVALS`]).
fn next_idle_reads(before: u32, empty: bool, at_tip: bool) -> u32 {
    match (empty, at_tip) {
        (false, _) => 0,
        // an empty page behind the tip (a gap in the shard): one interval, as before
        (true, false) => 1,
        (true, true) => (before + 1).min(IDLE_WAIT_MAX_INTERVALS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_empty_at_its_tip_is_asked_less_often_until_a_record_arrives() {
        let mut n = 0;
        let mut waits = Vec::new();
        for _ in 0..7 {
            n = next_idle_reads(n, true, true);
            waits.push(n);
        }
        assert_eq!(waits, vec![1, 2, 3, 4, 5, 5, 5]);
        assert_eq!(next_idle_reads(n, false, true), 0, "a record: back to the normal pace");
        assert_eq!(next_idle_reads(n, true, false), 1, "empty behind the tip: one interval");
    }
}
