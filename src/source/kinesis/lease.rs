//! Which leases this worker should take: the balancing policy, kept free of I/O so it can be
//! tested on its own (the DynamoDB side is `checkpoint/dynamodb.rs`).
//!
//! Like the KCL: every worker aims at `ceil(readable shards / live workers)` leases. It takes free
//! or expired leases first; when none is left and it still holds fewer than its share, it steals
//! one lease per round from the worker holding the most, if that worker holds more than its
//! share. Shards that ended, or whose parents have not ended yet, are not counted.
//!
//! Unlike the KCL, a worker's first look at a table in which no other worker holds a lease takes
//! only half of the free leases, in an order of its own: workers started together (an ECS
//! service's tasks) then split the stream without stealing, where each steal re-reads what the
//! old holder had read but not yet checkpointed. A worker alone takes the rest at its next look,
//! half a lease duration later (ADR 0023).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::checkpoint::dynamodb::Lease;
use crate::model::ShardId;

/// Judges expiry from this worker's own clock: another worker's lease has expired when its
/// counter has not moved for a whole lease duration since we first saw that value. No clocks
/// are compared across machines.
#[derive(Debug)]
pub struct ExpiryTracker {
    duration: Duration,
    seen: HashMap<ShardId, (u64, Instant)>,
}

impl ExpiryTracker {
    pub fn new(duration: Duration) -> Self {
        Self { duration, seen: HashMap::new() }
    }

    /// Record this scan; returns the owned leases that have expired.
    pub fn observe(&mut self, leases: &[Lease], now: Instant) -> HashSet<ShardId> {
        let mut expired = HashSet::new();
        for l in leases {
            let entry = self.seen.entry(l.shard.clone()).or_insert((l.counter, now));
            if entry.0 != l.counter {
                *entry = (l.counter, now);
            }
            if l.owner.is_some() && now.duration_since(entry.1) >= self.duration {
                expired.insert(l.shard.clone());
            }
        }
        expired
    }
}

/// What to do this round.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Free or expired leases to take.
    pub take: Vec<ShardId>,
    /// A lease to steal from an over-loaded worker.
    pub steal: Option<ShardId>,
}

/// `held` is what this worker holds now (its own view: a lease the table says is ours but we do
/// not hold, say after a restart under the same worker id, is taken again like a free one),
/// including the shards whose tasks still run here. Such a shard whose lease the table gives
/// to another worker (taken over while this worker was frozen) is neither taken nor stolen
/// until its task has stopped: one shard, one task per worker, one epoch per task.
///
/// `first_look`: this worker has not read the table before (see the module doc).
pub fn plan(
    me: &str,
    leases: &[Lease],
    readable: &HashSet<ShardId>,
    expired: &HashSet<ShardId>,
    held: &HashSet<ShardId>,
    first_look: bool,
) -> Plan {
    let candidates: Vec<&Lease> =
        leases.iter().filter(|l| !l.checkpoint.ended && readable.contains(&l.shard)).collect();
    if candidates.is_empty() {
        return Plan::default();
    }
    // Effective owner: None when free, expired, or "ours" on paper only.
    let owner = |l: &Lease| -> Option<String> {
        match &l.owner {
            Some(o) if o == me => held.contains(&l.shard).then(|| o.clone()),
            Some(_) if expired.contains(&l.shard) => None,
            other => other.clone(),
        }
    };
    let mut load: BTreeMap<String, Vec<ShardId>> = BTreeMap::new();
    load.insert(me.to_string(), Vec::new());
    let mut free = Vec::new();
    for l in &candidates {
        match owner(l) {
            Some(o) => load.entry(o).or_default().push(l.shard.clone()),
            // still running here under an old hold: not free until its task has stopped
            None if held.contains(&l.shard) => {}
            None => free.push(l.shard.clone()),
        }
    }
    let alone = load.len() == 1;
    let target = candidates.len().div_ceil(load.len());
    let mine = load.get(me).map_or(0, Vec::len);
    if mine >= target {
        return Plan::default();
    }
    let want = if first_look && alone {
        // Workers starting together each see a table nobody holds yet: taking half, each in
        // its own order, leaves the others their share without a steal.
        free.sort_by_key(|s| (first_look_rank(me, s), s.clone()));
        free.len().div_ceil(2).min(target - mine)
    } else {
        free.sort();
        target - mine
    };
    let take: Vec<ShardId> = free.into_iter().take(want).collect();
    let mut steal = None;
    if mine + take.len() < target {
        // The most loaded other worker, ties broken by name so every worker agrees.
        let victim =
            load.iter().filter(|(o, _)| o.as_str() != me).max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(a.0)));
        if let Some((_, shards)) = victim
            && shards.len() > target
        {
            // (a shard still running here under an old hold is not taken back before it stops)
            steal = shards.iter().filter(|s| !held.contains(s)).max().cloned();
        }
    }
    Plan { take, steal }
}

/// Where `shard` comes in `me`'s first look: a hash of both, so two workers starting together
/// reach for different shards first.
fn first_look_rank(me: &str, shard: &ShardId) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    (me, shard.as_str()).hash(&mut h);
    h.finish()
}

/// Ended leases whose silver a stopped worker left unfinished (ADR 0018) that this worker may
/// take: given back with `silver_pending`, expired, or ours on paper only. Not balanced: there
/// is no reader behind them, and they are given back as soon as silver has them.
pub fn silver_orphans(me: &str, leases: &[Lease], expired: &HashSet<ShardId>, held: &HashSet<ShardId>) -> Vec<ShardId> {
    let mut out: Vec<ShardId> = leases
        .iter()
        .filter(|l| l.checkpoint.ended && !held.contains(&l.shard))
        .filter(|l| match &l.owner {
            None => l.silver_pending,
            Some(o) if o == me => true,
            Some(_) => expired.contains(&l.shard),
        })
        .map(|l| l.shard.clone())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::ShardCheckpoint;

    fn id(s: &str) -> ShardId {
        ShardId::new(s).unwrap()
    }
    fn lease(s: &str, owner: Option<&str>, counter: u64) -> Lease {
        Lease {
            shard: id(s),
            owner: owner.map(str::to_string),
            counter,
            epoch: 1,
            checkpoint: ShardCheckpoint::empty(),
            parents: Vec::new(),
            silver_pending: false,
        }
    }
    fn all(leases: &[Lease]) -> HashSet<ShardId> {
        leases.iter().map(|l| l.shard.clone()).collect()
    }

    #[test]
    fn a_lone_worker_takes_every_free_lease() {
        let ls = [lease("a", None, 0), lease("b", None, 0), lease("c", None, 0)];
        let p = plan("w1", &ls, &all(&ls), &HashSet::new(), &HashSet::new(), false);
        assert_eq!(p.take, vec![id("a"), id("b"), id("c")]);
        assert_eq!(p.steal, None);
    }

    #[test]
    fn workers_starting_together_split_the_free_leases_without_stealing() {
        let shards = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"];
        let mut ls: Vec<Lease> = shards.iter().map(|s| lease(s, None, 0)).collect();
        let none = HashSet::new();
        // a lone worker's first look takes half, its next look the rest
        let a = plan("a", &ls, &all(&ls), &none, &none, true).take;
        assert_eq!(a.len(), 4);
        for l in ls.iter_mut().filter(|l| a.contains(&l.shard)) {
            l.owner = Some("a".into());
        }
        let held_a: HashSet<ShardId> = a.iter().cloned().collect();
        let rest = plan("a", &ls, &all(&ls), &none, &held_a, false).take;
        assert_eq!(rest.len(), 4, "alone, the next look takes the rest");
        // b's first look right after a's: a holds half, so b takes the other half, no steal
        let b = plan("b", &ls, &all(&ls), &none, &none, true);
        assert_eq!(b.take.len(), 4);
        assert!(b.take.iter().all(|s| !a.contains(s)) && b.steal.is_none(), "{b:?}");
        // a first look in a table others already hold is an ordinary look: here, a steal
        for l in ls.iter_mut().filter(|l| b.take.contains(&l.shard)) {
            l.owner = Some("b".into());
        }
        let c = plan("c", &ls, &all(&ls), &none, &none, true);
        assert!(c.take.is_empty() && c.steal.is_some(), "{c:?}");
        // two first looks at once reach for different shards first (each in its own order)
        let fresh: Vec<Lease> = shards.iter().map(|s| lease(s, None, 0)).collect();
        let (x, y) = (
            plan("a", &fresh, &all(&fresh), &none, &none, true).take,
            plan("b", &fresh, &all(&fresh), &none, &none, true).take,
        );
        assert_ne!(x, y, "each worker has its own order");
        // an odd count: the first look takes the larger half
        let three = [lease("a", None, 0), lease("b", None, 0), lease("c", None, 0)];
        assert_eq!(plan("w", &three, &all(&three), &none, &none, true).take.len(), 2);
    }

    #[test]
    fn a_new_worker_steals_one_per_round_until_balanced() {
        let mut ls = vec![
            lease("a", Some("w1"), 5),
            lease("b", Some("w1"), 5),
            lease("c", Some("w1"), 5),
            lease("d", Some("w1"), 5),
        ];
        let p = plan("w2", &ls, &all(&ls), &HashSet::new(), &HashSet::new(), false);
        assert_eq!(p, Plan { take: vec![], steal: Some(id("d")) });
        ls[3].owner = Some("w2".into());
        let p = plan("w2", &ls, &all(&ls), &HashSet::new(), &HashSet::from([id("d")]), false);
        assert_eq!(p.steal, Some(id("c")));
        ls[2].owner = Some("w2".into());
        let held = HashSet::from([id("c"), id("d")]);
        assert_eq!(plan("w2", &ls, &all(&ls), &HashSet::new(), &held, false), Plan::default());
        // and the first worker, now at its share, does not steal back
        let held1 = HashSet::from([id("a"), id("b")]);
        assert_eq!(plan("w1", &ls, &all(&ls), &HashSet::new(), &held1, false), Plan::default());
    }

    #[test]
    fn an_odd_count_settles_without_flapping() {
        let ls = [lease("a", Some("w1"), 1), lease("b", Some("w1"), 1), lease("c", Some("w2"), 1)];
        assert_eq!(plan("w2", &ls, &all(&ls), &HashSet::new(), &HashSet::from([id("c")]), false), Plan::default());
        assert_eq!(
            plan("w1", &ls, &all(&ls), &HashSet::new(), &HashSet::from([id("a"), id("b")]), false),
            Plan::default()
        );
    }

    #[test]
    fn expired_leases_are_taken_and_ended_or_unreadable_ones_ignored() {
        let mut ended = lease("e", None, 0);
        ended.checkpoint.ended = true;
        let ls = [lease("a", Some("dead"), 9), lease("b", Some("dead"), 9), ended, lease("child", None, 0)];
        let readable = HashSet::from([id("a"), id("b"), id("e")]);
        let expired = HashSet::from([id("a"), id("b")]);
        let p = plan("w1", &ls, &readable, &expired, &HashSet::new(), false);
        assert_eq!(p.take, vec![id("a"), id("b")]);
    }

    #[test]
    fn ended_leases_left_with_silver_pending_are_taken_and_finished_ones_left_alone() {
        let ended = |s: &str, owner: Option<&str>, pending: bool| {
            let mut l = lease(s, owner, 1);
            l.checkpoint.ended = true;
            l.silver_pending = pending;
            l
        };
        let ls = [
            ended("done", None, false),
            ended("pending", None, true),
            ended("dead-owner", Some("w2"), false),
            ended("live-owner", Some("w2"), false),
            ended("mine-on-paper", Some("w1"), false),
            ended("held", Some("w1"), false),
            lease("open", None, 1),
        ];
        let expired = HashSet::from([id("dead-owner")]);
        let got = silver_orphans("w1", &ls, &expired, &HashSet::from([id("held")]));
        assert_eq!(got, vec![id("dead-owner"), id("mine-on-paper"), id("pending")]);
    }

    #[test]
    fn a_shard_still_running_here_is_not_taken_or_stolen_until_its_task_stops() {
        // w1 was frozen; w2 took "d" meanwhile and holds four. w1's task for "d" still runs.
        let ls = [
            lease("a", Some("w2"), 5),
            lease("b", Some("w2"), 5),
            lease("c", Some("w2"), 5),
            lease("d", Some("w2"), 5),
        ];
        let running = HashSet::from([id("d")]);
        let p = plan("w1", &ls, &all(&ls), &HashSet::new(), &running, false);
        assert_eq!(p.steal, Some(id("c")), "another shard is stolen, not the one running here");
        // and not taken as expired either
        let expired = HashSet::from([id("d")]);
        assert_eq!(plan("w1", &ls, &all(&ls), &expired, &running, false).take, Vec::<ShardId>::new());
        // once its task has stopped, it is fair game again
        assert_eq!(plan("w1", &ls, &all(&ls), &HashSet::new(), &HashSet::new(), false).steal, Some(id("d")));
    }

    #[test]
    fn expiry_is_judged_by_an_unmoving_counter() {
        let t0 = Instant::now();
        let mut tr = ExpiryTracker::new(Duration::from_secs(10));
        let ls = [lease("a", Some("w"), 3), lease("b", None, 1)];
        assert!(tr.observe(&ls, t0).is_empty());
        assert!(tr.observe(&ls, t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(tr.observe(&ls, t0 + Duration::from_secs(10)), HashSet::from([id("a")]));
        let renewed = [lease("a", Some("w"), 4), lease("b", None, 1)];
        assert!(tr.observe(&renewed, t0 + Duration::from_secs(11)).is_empty());
    }
}
