//! Which bronze objects the next silver batch reads: per shard, the objects that end past the
//! watermark, in sequence order, taken round-robin across shards up to the batch budget.
//!
//! A batch always ends at object boundaries, and an object never splits the sub-records of one
//! Kinesis record, so an object whose last sequence number equals the watermark is fully in.

use std::collections::{BTreeMap, VecDeque};

use crate::bronze::store::BronzeObject;
use crate::model::{ShardId, Watermarks};

#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub max_objects: usize,
    pub max_bytes: u64,
}

/// Objects for the next batch, grouped by shard and in sequence order within each shard.
/// Empty when nothing is past the watermarks.
pub fn plan(objects: Vec<BronzeObject>, after: &Watermarks, budget: Budget) -> BTreeMap<ShardId, Vec<BronzeObject>> {
    let mut pending: BTreeMap<ShardId, Vec<BronzeObject>> = BTreeMap::new();
    for o in objects {
        let past = after.get(&o.key.shard).is_none_or(|w| o.key.last > w.seq);
        if past {
            pending.entry(o.key.shard.clone()).or_default().push(o);
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
    loop {
        let mut took = false;
        for (shard, q) in queues.iter_mut() {
            if n >= budget.max_objects || bytes >= budget.max_bytes {
                return out;
            }
            if let Some(o) = q.pop_front() {
                n += 1;
                bytes += o.size;
                out.entry(shard.clone()).or_default().push(o);
                took = true;
            }
        }
        if !took {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bronze::layout::BronzeKey;
    use crate::config::BronzeFormat;
    use crate::model::{Position, SequenceNumber};

    fn obj(shard: &str, first: u64, last: u64) -> BronzeObject {
        let key = BronzeKey::new(
            "s",
            ShardId::new(shard).unwrap(),
            SequenceNumber::from_u64(first),
            SequenceNumber::from_u64(last),
            0,
            BronzeFormat::Parquet,
        );
        BronzeObject { location: key.path().into(), key, size: 10 }
    }

    #[test]
    fn takes_objects_past_the_watermark_round_robin_within_budget() {
        let objects = vec![obj("a", 20, 29), obj("a", 0, 9), obj("a", 10, 19), obj("b", 0, 5), obj("b", 6, 7)];
        let mut wm = Watermarks::new();
        wm.set(ShardId::new("a").unwrap(), Position::new(SequenceNumber::from_u64(9), 0));
        let p = plan(objects.clone(), &wm, Budget { max_objects: 3, max_bytes: 1 << 30 });
        let a: Vec<u64> = p[&ShardId::new("a").unwrap()].iter().map(|o| o.key.first.to_u64().unwrap()).collect();
        let b: Vec<u64> = p[&ShardId::new("b").unwrap()].iter().map(|o| o.key.first.to_u64().unwrap()).collect();
        assert_eq!(a, vec![10, 20]);
        assert_eq!(b, vec![0]);
        let mut all = wm.clone();
        all.set(ShardId::new("a").unwrap(), Position::new(SequenceNumber::from_u64(29), 0));
        all.set(ShardId::new("b").unwrap(), Position::new(SequenceNumber::from_u64(7), 0));
        assert!(plan(objects, &all, Budget { max_objects: 3, max_bytes: 1 << 30 }).is_empty());
    }

    #[test]
    fn longer_retry_object_is_read_before_the_shorter_one() {
        let p = plan(
            vec![obj("a", 0, 5), obj("a", 0, 9)],
            &Watermarks::new(),
            Budget { max_objects: 9, max_bytes: 1 << 30 },
        );
        let lasts: Vec<u64> = p[&ShardId::new("a").unwrap()].iter().map(|o| o.key.last.to_u64().unwrap()).collect();
        assert_eq!(lasts, vec![9, 5]);
    }
}
