//! Which bronze objects the next silver batch reads, and which hours of bronze to list to find
//! them.
//!
//! **Listing.** Bronze keys are partitioned by the hour the first record of an object arrived
//! (`dt=…/hr=…`). Within a shard, records arrive in sequence order, so every object past a
//! shard's watermark is in the hour of the newest object the table has read of that shard (its
//! frontier, carried in every commit) or later. A batch therefore lists only from the earliest
//! frontier of the active shards, less a margin for arrival clocks that are not monotonic: the
//! cost of finding work follows the hours not yet read, not the age of the stream.
//!
//! **Completeness.** An object may only be read when the listing is complete for its shard —
//! otherwise an unlisted earlier object would be passed over by the watermark and lost. A shard
//! is complete when the listing started at or before its frontier less the margin; a shard the
//! table has no frontier for (a shard created by a reshard) when it started at or before the
//! earliest active frontier less the margin (children arrive after their parents, which are
//! active shards); with no frontier at all (a new table, or one written before the frontier
//! existed) only a full listing is complete. A shard with objects but an incomplete listing is
//! *blocked*: the job lists again from early enough for it (`widened`).
//!
//! **Planning.** Per complete shard, the objects that end past the watermark, in sequence order,
//! taken round-robin across shards up to the batch budget. A batch always ends at object
//! boundaries, and an object never splits the sub-records of one Kinesis record, so an object
//! whose last sequence number equals the watermark is fully in.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::bronze::store::BronzeObject;
use crate::model::{Frontier, Hour, ShardId, Watermarks};

/// Hours listed before a frontier: room for arrival timestamps that step back across an hour.
pub const MARGIN_HOURS: i64 = 1;

#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub max_objects: usize,
    pub max_bytes: u64,
}

/// A batch's objects, grouped by shard and in sequence order within each shard, and the shards
/// that have objects the listing was not complete for.
#[derive(Debug, Default)]
pub struct Plan {
    pub objects: BTreeMap<ShardId, Vec<BronzeObject>>,
    pub blocked: BTreeSet<ShardId>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// The earliest frontier of the shards that are still active — within `horizon_hours` of the
/// newest — or `None` when the table has no frontier.
fn earliest_active(frontier: &Frontier, horizon_hours: i64) -> Option<Hour> {
    let newest = frontier.iter().map(|(_, h)| *h).max()?;
    frontier.iter().map(|(_, h)| *h).filter(|h| h.0 >= newest.0 - horizon_hours).min()
}

/// Where a batch's listing starts: `None` lists everything.
pub fn listing_start(frontier: &Frontier, horizon_hours: i64) -> Option<Hour> {
    earliest_active(frontier, horizon_hours).map(|h| h.minus(MARGIN_HOURS))
}

/// Where a listing must start for every shard of `blocked` to be complete (`None`: everything).
pub fn widened(blocked: &BTreeSet<ShardId>, frontier: &Frontier, horizon_hours: i64) -> Option<Hour> {
    let mut start: Option<Hour> = None;
    for s in blocked {
        let bound = frontier.get(s).or_else(|| earliest_active(frontier, horizon_hours))?;
        let h = bound.minus(MARGIN_HOURS);
        start = Some(start.map_or(h, |x| x.min(h)));
    }
    start
}

fn complete(shard: &ShardId, frontier: &Frontier, listed_from: Option<Hour>, horizon_hours: i64) -> bool {
    let Some(from) = listed_from else { return true };
    let bound = frontier.get(shard).or_else(|| earliest_active(frontier, horizon_hours));
    bound.is_some_and(|b| from <= b.minus(MARGIN_HOURS))
}

/// The next batch from the objects of a listing that started at `listed_from` (see the module
/// docs). Empty when nothing is past the watermarks.
pub fn plan(
    objects: Vec<BronzeObject>,
    after: &Watermarks,
    frontier: &Frontier,
    listed_from: Option<Hour>,
    horizon_hours: i64,
    budget: Budget,
) -> Plan {
    let mut pending: BTreeMap<ShardId, Vec<BronzeObject>> = BTreeMap::new();
    let mut blocked = BTreeSet::new();
    for o in objects {
        let past = after.get(&o.key.shard).is_none_or(|w| o.key.last > w.seq);
        if !past {
            continue;
        }
        if complete(&o.key.shard, frontier, listed_from, horizon_hours) {
            pending.entry(o.key.shard.clone()).or_default().push(o);
        } else {
            blocked.insert(o.key.shard.clone());
        }
    }
    let mut queues: Vec<(ShardId, VecDeque<BronzeObject>)> = pending
        .into_iter()
        .map(|(s, mut v)| {
            // A retried flush can leave a shorter object with the same first sequence number:
            // read the longer one first, the cursor then skips what the shorter one repeats.
            v.sort_by(|a, b| a.key.first.cmp(&b.key.first).then(b.key.last.cmp(&a.key.last)));
            (s, v.into())
        })
        .collect();
    let mut out: BTreeMap<ShardId, Vec<BronzeObject>> = BTreeMap::new();
    let (mut n, mut bytes) = (0usize, 0u64);
    'fill: loop {
        let mut took = false;
        for (shard, q) in queues.iter_mut() {
            if n >= budget.max_objects || bytes >= budget.max_bytes {
                break 'fill;
            }
            if let Some(o) = q.pop_front() {
                n += 1;
                bytes += o.size;
                out.entry(shard.clone()).or_default().push(o);
                took = true;
            }
        }
        if !took {
            break;
        }
    }
    Plan { objects: out, blocked }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bronze::layout::BronzeKey;
    use crate::config::BronzeFormat;
    use crate::model::{Position, SequenceNumber};

    const H: i64 = 3_600_000_000;

    fn obj(shard: &str, first: u64, last: u64) -> BronzeObject {
        obj_at(shard, first, last, 0)
    }

    fn obj_at(shard: &str, first: u64, last: u64, hour: i64) -> BronzeObject {
        let key = BronzeKey::new(
            "s",
            ShardId::new(shard).unwrap(),
            SequenceNumber::from_u64(first),
            SequenceNumber::from_u64(last),
            hour * H,
            BronzeFormat::Parquet,
        );
        BronzeObject { location: key.path().into(), key, size: 10 }
    }

    fn full(objects: Vec<BronzeObject>, wm: &Watermarks, budget: Budget) -> BTreeMap<ShardId, Vec<BronzeObject>> {
        plan(objects, wm, &Frontier::new(), None, 48, budget).objects
    }

    fn shard(s: &str) -> ShardId {
        ShardId::new(s).unwrap()
    }

    #[test]
    fn lists_from_the_earliest_active_frontier_and_reads_only_complete_shards() {
        let mut f = Frontier::new();
        f.advance(&shard("a"), Hour(100));
        f.advance(&shard("b"), Hour(103));
        f.advance(&shard("closed"), Hour(10));
        // the closed shard, quiet for far longer than the horizon, does not hold the listing back
        let from = listing_start(&f, 48);
        assert_eq!(from, Some(Hour(99)));
        let objects = vec![
            obj_at("a", 10, 19, 100),
            obj_at("b", 5, 6, 103),
            obj_at("new", 0, 3, 101),
            obj_at("closed", 50, 60, 120),
        ];
        let p = plan(objects, &Watermarks::new(), &f, from, 48, Budget { max_objects: 9, max_bytes: 1 << 30 });
        let shards: Vec<&str> = p.objects.keys().map(|s| s.as_str()).collect();
        // a new shard's objects come after its parents: complete from the earliest active frontier
        assert_eq!(shards, vec!["a", "b", "new"]);
        // the closed shard woke up: its frontier is older than the listing, so it waits for a wider one
        assert_eq!(p.blocked.iter().map(|s| s.as_str()).collect::<Vec<_>>(), vec!["closed"]);
        assert_eq!(widened(&p.blocked, &f, 48), Some(Hour(9)));
        // without any frontier only a full listing is complete
        let none = plan(
            vec![obj_at("a", 0, 1, 5)],
            &Watermarks::new(),
            &Frontier::new(),
            Some(Hour(0)),
            48,
            Budget { max_objects: 9, max_bytes: 1 << 30 },
        );
        assert!(none.objects.is_empty());
        assert_eq!(widened(&none.blocked, &Frontier::new(), 48), None);
    }

    #[test]
    fn takes_objects_past_the_watermark_round_robin_within_budget() {
        let objects = vec![obj("a", 20, 29), obj("a", 0, 9), obj("a", 10, 19), obj("b", 0, 5), obj("b", 6, 7)];
        let mut wm = Watermarks::new();
        wm.set(ShardId::new("a").unwrap(), Position::new(SequenceNumber::from_u64(9), 0));
        let p = full(objects.clone(), &wm, Budget { max_objects: 3, max_bytes: 1 << 30 });
        let a: Vec<u64> = p[&ShardId::new("a").unwrap()].iter().map(|o| o.key.first.to_u64().unwrap()).collect();
        let b: Vec<u64> = p[&ShardId::new("b").unwrap()].iter().map(|o| o.key.first.to_u64().unwrap()).collect();
        assert_eq!(a, vec![10, 20]);
        assert_eq!(b, vec![0]);
        let mut all = wm.clone();
        all.set(ShardId::new("a").unwrap(), Position::new(SequenceNumber::from_u64(29), 0));
        all.set(ShardId::new("b").unwrap(), Position::new(SequenceNumber::from_u64(7), 0));
        assert!(full(objects, &all, Budget { max_objects: 3, max_bytes: 1 << 30 }).is_empty());
    }

    #[test]
    fn longer_retry_object_is_read_before_the_shorter_one() {
        let p = full(
            vec![obj("a", 0, 5), obj("a", 0, 9)],
            &Watermarks::new(),
            Budget { max_objects: 9, max_bytes: 1 << 30 },
        );
        let lasts: Vec<u64> = p[&ShardId::new("a").unwrap()].iter().map(|o| o.key.last.to_u64().unwrap()).collect();
        assert_eq!(lasts, vec![9, 5]);
    }
}
