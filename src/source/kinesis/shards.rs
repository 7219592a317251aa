//! Which shards may be read now. After a split or a merge, a child shard holds records that
//! follow its parents' records for the same keys, so a child is read only once every parent has
//! reached SHARD_END *and* that end was checkpointed (all of the parent is in durable bronze).
//! A parent no longer listed (past the stream's retention) cannot hold back its children.

use std::collections::HashSet;

use super::api::ShardInfo;
use crate::model::ShardId;

/// Shards that are neither ended nor running and whose listed parents have all ended.
pub fn ready_to_read<'a>(
    shards: &'a [ShardInfo],
    ended: &HashSet<ShardId>,
    running: &HashSet<ShardId>,
) -> Vec<&'a ShardInfo> {
    let listed: HashSet<&ShardId> = shards.iter().map(|s| &s.id).collect();
    shards
        .iter()
        .filter(|s| !ended.contains(&s.id) && !running.contains(&s.id))
        .filter(|s| s.parents().all(|p| ended.contains(p) || !listed.contains(p)))
        .collect()
}

/// Whether `shard` has a parent still listed (a child of a reshard: read from its start).
pub fn has_listed_parent(shard: &ShardInfo, shards: &[ShardInfo]) -> bool {
    shard.parents().any(|p| shards.iter().any(|s| &s.id == p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ShardId {
        ShardId::new(s).unwrap()
    }
    fn shard(s: &str, parent: Option<&str>, adjacent: Option<&str>) -> ShardInfo {
        ShardInfo { id: id(s), parent: parent.map(id), adjacent_parent: adjacent.map(id) }
    }
    fn names(v: Vec<&ShardInfo>) -> Vec<&str> {
        v.into_iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn split_children_wait_for_their_parent() {
        let shards = [shard("a", None, None), shard("b", Some("a"), None), shard("c", Some("a"), None)];
        let none = HashSet::new();
        assert_eq!(names(ready_to_read(&shards, &none, &none)), vec!["a"]);
        let running = HashSet::from([id("a")]);
        assert!(ready_to_read(&shards, &none, &running).is_empty());
        let ended = HashSet::from([id("a")]);
        assert_eq!(names(ready_to_read(&shards, &ended, &none)), vec!["b", "c"]);
    }

    #[test]
    fn a_merged_child_waits_for_both_parents() {
        let shards = [shard("a", None, None), shard("b", None, None), shard("m", Some("a"), Some("b"))];
        let only_a = HashSet::from([id("a")]);
        assert_eq!(names(ready_to_read(&shards, &only_a, &HashSet::new())), vec!["b"]);
        let both = HashSet::from([id("a"), id("b")]);
        assert_eq!(names(ready_to_read(&shards, &both, &HashSet::new())), vec!["m"]);
    }

    #[test]
    fn a_parent_past_retention_does_not_block() {
        let shards = [shard("b", Some("gone"), None)];
        assert_eq!(names(ready_to_read(&shards, &HashSet::new(), &HashSet::new())), vec!["b"]);
        assert!(!has_listed_parent(&shards[0], &shards));
    }
}
