//! When a shard's open batch becomes an object: on a record count, a byte size, or an age,
//! whichever comes first. Records are added a whole source read at a time, so the records of
//! one Kinesis record (KPL sub-records) never straddle two objects.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::model::SequenceNumber;
use crate::source::Record;

#[derive(Debug, Clone, Copy)]
pub struct FlushPolicy {
    pub max_records: usize,
    pub max_bytes: u64,
    pub max_age: Duration,
}

#[derive(Debug, Default)]
pub struct Batcher {
    records: Vec<Record>,
    bytes: u64,
    opened: Option<Instant>,
}

impl Batcher {
    pub fn push(&mut self, records: Vec<Record>, now: Instant) {
        if records.is_empty() {
            return;
        }
        self.opened.get_or_insert(now);
        self.bytes += records.iter().map(|r| r.data.len() as u64).sum::<u64>();
        self.records.extend(records);
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Full by count or size.
    pub fn is_full(&self, p: &FlushPolicy) -> bool {
        self.records.len() >= p.max_records || self.bytes >= p.max_bytes
    }

    /// Open for longer than the policy's age.
    pub fn is_due(&self, p: &FlushPolicy, now: Instant) -> bool {
        self.opened.is_some_and(|t| now.duration_since(t) >= p.max_age)
    }

    /// When the open batch becomes due, if one is open.
    pub fn deadline(&self, p: &FlushPolicy) -> Option<Instant> {
        self.opened.map(|t| t + p.max_age)
    }

    /// Bytes of record data held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Sequence number of the newest record held.
    pub fn last_seq(&self) -> Option<&SequenceNumber> {
        self.records.last().map(|r| &r.position.seq)
    }

    /// Hand over the records up to and including sequence number `last` (all its sub-records)
    /// and keep the rest as a batch opened now.
    pub fn take_through(&mut self, last: &SequenceNumber) -> Vec<Record> {
        let cut = self.records.partition_point(|r| &r.position.seq <= last);
        let rest = self.records.split_off(cut);
        let head = std::mem::replace(&mut self.records, rest);
        self.bytes = self.records.iter().map(|r| r.data.len() as u64).sum();
        self.opened = if self.records.is_empty() { None } else { Some(Instant::now()) };
        head
    }

    /// Hand over the records and start a new batch.
    pub fn take(&mut self) -> Vec<Record> {
        self.bytes = 0;
        self.opened = None;
        std::mem::take(&mut self.records)
    }
}

/// A batch is not ended early by the process-wide budget before it holds this much: past the
/// budget every shard still makes objects of a useful size.
const MIN_EARLY_FLUSH: u64 = 1 << 20;

/// The record bytes every shard's open batch in this process holds together
/// (`bronze.buffer_memory`). Each shard's batch may grow to `bronze.flush_bytes`; with many
/// shards on one worker that is shards × 16 MiB. Past the budget, a shard that receives records
/// ends its batch early (from 1 MiB on), so what bronze holds follows the budget, not the number
/// of shards a worker holds.
#[derive(Debug, Clone)]
pub struct BufferBudget {
    held: Arc<AtomicU64>,
    limit: u64,
}

impl BufferBudget {
    pub fn new(limit: u64) -> Self {
        Self { held: Arc::new(AtomicU64::new(0)), limit }
    }

    /// One shard's part of the budget.
    pub fn share(&self) -> BufferShare {
        BufferShare { budget: self.clone(), mine: 0 }
    }
}

/// What one shard's open batch counts against its [`BufferBudget`]; given back when dropped.
#[derive(Debug)]
pub struct BufferShare {
    budget: BufferBudget,
    mine: u64,
}

impl BufferShare {
    /// The shard's batch now holds `bytes`.
    pub fn set(&mut self, bytes: u64) {
        if bytes >= self.mine {
            self.budget.held.fetch_add(bytes - self.mine, Ordering::Relaxed);
        } else {
            self.budget.held.fetch_sub(self.mine - bytes, Ordering::Relaxed);
        }
        self.mine = bytes;
    }

    /// The process is past its budget and this shard's batch is big enough to end early.
    pub fn should_flush(&self) -> bool {
        self.mine >= MIN_EARLY_FLUSH && self.budget.held.load(Ordering::Relaxed) > self.budget.limit
    }
}

impl Drop for BufferShare {
    fn drop(&mut self) {
        self.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Position, SequenceNumber};

    fn recs(n: usize, size: usize) -> Vec<Record> {
        (0..n)
            .map(|i| Record {
                data: bytes::Bytes::from(vec![b'x'; size]),
                position: Position::new(SequenceNumber::from_u64(i as u64), 0),
                partition_key: String::new(),
                arrival_ts_micros: 0,
                defect: None,
            })
            .collect()
    }

    #[test]
    fn past_the_process_budget_a_shard_ends_its_batch_early_but_not_tiny() {
        let budget = BufferBudget::new(3 << 20);
        let (mut a, mut b) = (budget.share(), budget.share());
        a.set(2 << 20);
        assert!(!a.should_flush(), "within the budget");
        b.set(512 << 10);
        assert!(!a.should_flush() && !b.should_flush());
        b.set(3 << 19);
        assert!(a.should_flush(), "past the budget, 2 MiB is worth an object");
        assert!(b.should_flush(), "1.5 MiB too");
        a.set(0);
        assert!(!b.should_flush(), "the other shard flushed: back within the budget");
        drop(b);
        assert_eq!(budget.held.load(Ordering::Relaxed), 0, "a stopped shard gives its part back");
        let mut c = budget.share();
        c.set(4 << 20);
        c.set(MIN_EARLY_FLUSH - 1);
        assert!(!c.should_flush(), "never below 1 MiB");
    }

    #[test]
    fn flushes_on_count_size_and_age() {
        let p = FlushPolicy { max_records: 10, max_bytes: 1000, max_age: Duration::from_secs(5) };
        let t0 = Instant::now();
        let mut b = Batcher::default();
        assert!(!b.is_due(&p, t0 + Duration::from_secs(60)), "an empty batch is never due");
        b.push(recs(9, 1), t0);
        assert!(!b.is_full(&p));
        b.push(recs(1, 1), t0);
        assert!(b.is_full(&p));
        assert_eq!(b.take().len(), 10);
        b.push(recs(2, 600), t0);
        assert!(b.is_full(&p), "size");
        b.take();
        b.push(recs(1, 1), t0);
        assert!(!b.is_due(&p, t0 + Duration::from_secs(4)));
        assert!(b.is_due(&p, t0 + Duration::from_secs(5)));
    }
}
