//! Replay: a window of a Kinesis shard read again (from `AT_TIMESTAMP`) into bronze, writing only
//! the records no bronze object holds yet — under the ordinary keys
//! (`…/shard=S/{first}-{last}`), so a replay of a complete window writes nothing, and a replay
//! run again after a crash finds the objects it wrote and goes on past them. No checkpoint of its
//! own is needed: bronze is the record of what is done.
//!
//! A replay only covers what the loader has passed: a shard's records up to its live checkpoint
//! (all of the shard once the checkpoint says it ended). What lies beyond is the running loader's
//! to write; replaying it too would leave two overlapping objects. The objects a replay writes
//! sit below silver's watermarks, so the loader will not read them: `floe replay` hands them to
//! [`super::backfill`], whose dedup against the committed ids keeps what silver holds already
//! from doubling.

use std::sync::Arc;

use indicatif::ProgressBar;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::bronze::encode;
use crate::bronze::layout::BronzeKey;
use crate::bronze::store::{BronzeObject, BronzeStore};
use crate::config::BronzeFormat;
use crate::error::Result;
use crate::model::{Position, SequenceNumber, ShardId};
use crate::source::{ReadBatch, Record};

/// The sequence ranges of a shard's bronze objects, in order of their first record.
#[derive(Debug, Default)]
pub struct Covered(Vec<(SequenceNumber, SequenceNumber)>);

impl Covered {
    /// The ranges of `shard`'s objects among `objects`.
    pub fn of(objects: &[BronzeObject], shard: &ShardId) -> Self {
        let mut ranges: Vec<_> = objects
            .iter()
            .filter(|o| &o.key.shard == shard)
            .map(|o| (o.key.first.clone(), o.key.last.clone()))
            .collect();
        ranges.sort();
        Covered(ranges)
    }

    /// An object holds sequence number `seq` (with all of its KPL sub-records: an object never
    /// splits them).
    pub fn contains(&self, seq: &SequenceNumber) -> bool {
        // objects do not overlap: only the last one starting at or before `seq` can hold it
        let after = self.0.partition_point(|(first, _)| first <= seq);
        after > 0 && seq <= &self.0[after - 1].1
    }
}

/// Where one shard's replay ends.
#[derive(Debug, Clone)]
pub struct Window {
    pub from_micros: i64,
    /// Records that arrived at or after this are not replayed (`--to-timestamp`).
    pub to_micros: Option<i64>,
    /// The loader's checkpoint: records past it are the loader's. `None` once the shard ended.
    pub limit: Option<Position>,
}

impl Window {
    fn stop(&self, r: &Record) -> Option<Stop> {
        if self.to_micros.is_some_and(|to| r.arrival_ts_micros >= to) {
            return Some(Stop::ToTimestamp);
        }
        if self.limit.as_ref().is_some_and(|l| r.position > *l) {
            return Some(Stop::Checkpoint);
        }
        None
    }
}

/// Why a shard's replay stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    /// The next record arrived at or after `--to-timestamp`.
    ToTimestamp,
    /// The next record is past the loader's checkpoint.
    Checkpoint,
    /// The shard's end or its tip.
    EndOfShard,
    /// Interrupted (Ctrl-C, SIGTERM): what was written stays, a re-run goes on from there.
    Interrupted,
    /// The loader has not read this shard yet; nothing to replay.
    NotReadYet,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShardReplay {
    pub shard: String,
    /// Records read from the stream inside the window.
    pub records_read: u64,
    /// Of those, the ones a bronze object already held.
    pub already_in_bronze: u64,
    /// Of those, the ones written now (or, with `--dry-run`, that would be).
    pub records_written: u64,
    pub objects_written: Vec<String>,
    pub bytes_written: u64,
    pub stopped: Stop,
    /// Seconds of stream time read past the window's start (for the progress bar).
    #[serde(skip)]
    pub seconds_replayed: u64,
}

impl ShardReplay {
    pub fn new(shard: &ShardId, stopped: Stop) -> Self {
        Self {
            shard: shard.to_string(),
            records_read: 0,
            already_in_bronze: 0,
            records_written: 0,
            objects_written: Vec::new(),
            bytes_written: 0,
            stopped,
            seconds_replayed: 0,
        }
    }
}

/// Turns one shard's re-read into bronze objects for the gaps between the objects already there.
pub struct GapWriter {
    pub stream: String,
    pub shard: ShardId,
    pub store: BronzeStore,
    pub format: BronzeFormat,
    pub zstd_level: i32,
    /// A gap object is cut at this many records or bytes (bronze's own flush sizes).
    pub max_records: usize,
    pub max_bytes: u64,
    pub covered: Covered,
    pub window: Window,
    pub dry_run: bool,
    /// Advanced by the seconds of stream time replayed.
    pub bar: Arc<ProgressBar>,
}

impl GapWriter {
    /// Consume the reads until the window ends (then dropping `rx` stops the reader) or the reader
    /// stops. What is open is written either way: every object is whole and stands on its own.
    pub async fn run(self, mut rx: mpsc::Receiver<ReadBatch>, interrupted: impl Fn() -> bool) -> Result<ShardReplay> {
        let mut report = ShardReplay::new(&self.shard, Stop::EndOfShard);
        let mut gap: Vec<Record> = Vec::new();
        let mut gap_bytes = 0u64;
        let mut seconds_done = 0u64;
        'reads: while let Some(read) = rx.recv().await {
            for r in read.records {
                if let Some(stop) = self.window.stop(&r) {
                    report.stopped = stop;
                    break 'reads;
                }
                report.records_read += 1;
                let seconds = ((r.arrival_ts_micros - self.window.from_micros).max(0) / 1_000_000) as u64;
                if seconds > seconds_done {
                    self.bar.inc(seconds - seconds_done);
                    seconds_done = seconds;
                }
                if self.covered.contains(&r.position.seq) {
                    report.already_in_bronze += 1;
                    self.flush(std::mem::take(&mut gap), &mut report).await?;
                    gap_bytes = 0;
                    continue;
                }
                // cut only between Kinesis records, never inside one aggregate's sub-records
                let full = gap.len() >= self.max_records || gap_bytes >= self.max_bytes;
                if full && gap.last().is_some_and(|l| l.position.seq != r.position.seq) {
                    self.flush(std::mem::take(&mut gap), &mut report).await?;
                    gap_bytes = 0;
                }
                gap_bytes += r.data.len() as u64;
                gap.push(r);
            }
        }
        if report.stopped == Stop::EndOfShard && interrupted() {
            report.stopped = Stop::Interrupted;
        }
        self.flush(gap, &mut report).await?;
        report.seconds_replayed = seconds_done;
        Ok(report)
    }

    async fn flush(&self, records: Vec<Record>, report: &mut ShardReplay) -> Result<()> {
        let (Some(first), Some(last)) = (records.first(), records.last()) else { return Ok(()) };
        let key = BronzeKey::spanning(&self.stream, &self.shard, first, last, self.format);
        report.records_written += records.len() as u64;
        if self.dry_run {
            report.objects_written.push(key.path());
            return Ok(());
        }
        let bytes = encode::encode_records(&self.shard, records, self.format, self.zstd_level, None).await?;
        report.bytes_written += bytes.len() as u64;
        let location = self.store.put(&key, bytes, None).await?;
        tracing::info!(shard = %self.shard, object = %location, "replayed a gap into bronze");
        report.objects_written.push(location.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(n: u64) -> SequenceNumber {
        SequenceNumber::from_u64(n)
    }

    #[test]
    fn covered_is_inclusive_at_both_ends_and_nothing_between_objects() {
        let c = Covered(vec![(seq(10), seq(20)), (seq(30), seq(30)), (seq(40), seq(55))]);
        for n in [10, 15, 20, 30, 40, 55] {
            assert!(c.contains(&seq(n)), "{n}");
        }
        for n in [1, 9, 21, 29, 31, 39, 56, 1000] {
            assert!(!c.contains(&seq(n)), "{n}");
        }
        assert!(!Covered::default().contains(&seq(1)));
    }

    #[test]
    fn the_window_stops_at_the_to_timestamp_and_past_the_checkpoint() {
        let rec = |n: u64, sub: u64, at: i64| Record {
            data: bytes::Bytes::from_static(b"{}"),
            position: Position::new(seq(n), sub),
            partition_key: String::new(),
            arrival_ts_micros: at,
            defect: None,
        };
        let w = Window { from_micros: 0, to_micros: Some(100), limit: Some(Position::new(seq(50), 1)) };
        assert_eq!(w.stop(&rec(10, 0, 99)), None);
        assert_eq!(w.stop(&rec(10, 0, 100)), Some(Stop::ToTimestamp));
        assert_eq!(w.stop(&rec(50, 1, 5)), None, "the checkpoint itself is the loader's past");
        assert_eq!(w.stop(&rec(50, 2, 5)), Some(Stop::Checkpoint), "a later sub-record of the same aggregate");
        let ended = Window { from_micros: 0, to_micros: None, limit: None };
        assert_eq!(ended.stop(&rec(u64::MAX, 9, i64::MAX)), None);
    }
}
