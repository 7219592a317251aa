//! How far a process's silver has committed each shard, table by table (ADR 0018): what the
//! lease coordinator asks before it gives an ended shard's lease back. Shared between silver
//! (which publishes) and the Kinesis source (which asks), so it is plain data here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{SequenceNumber, ShardId, Watermarks};

/// How far this process's silver has each shard in every table it loads: per table, the lower
/// of the table's and its bad-rows table's watermarks, as last opened or committed.
#[derive(Debug)]
pub struct SilverReach {
    tables: usize,
    by_table: Mutex<HashMap<String, Watermarks>>,
}

impl SilverReach {
    /// For a silver loop over `tables` tables.
    pub fn new(tables: usize) -> Arc<Self> {
        Arc::new(Self { tables, by_table: Mutex::new(HashMap::new()) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Watermarks>> {
        // whole-value inserts only: a poisoned lock still holds a consistent map
        self.by_table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `table` holds at least `watermarks` (merged: a reach never moves back).
    pub fn publish(&self, table: &str, watermarks: &Watermarks) {
        let mut map = self.lock();
        let merged = map.get(table).map_or_else(|| watermarks.clone(), |w| w.merged_with(watermarks));
        map.insert(table.to_string(), merged);
    }

    /// Whether every table has the ended shard up to its last checkpointed record. A shard that
    /// ended without a record has nothing to wait for.
    /// `last`: the shard's last checkpointed sequence number.
    pub fn has_finished(&self, shard: &ShardId, last: Option<&str>) -> bool {
        let Some(last) = last else { return true };
        let Ok(last) = SequenceNumber::new(last) else { return false };
        let map = self.lock();
        map.len() >= self.tables && map.values().all(|w| w.get(shard).is_some_and(|p| p.seq >= last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Position;

    fn at(shard: &str, seq: u64) -> Watermarks {
        [(ShardId::new(shard).unwrap(), Position::new(SequenceNumber::from_u64(seq), 0))].into_iter().collect()
    }

    #[test]
    fn a_shard_is_finished_once_every_table_has_its_last_record() {
        let reach = SilverReach::new(2);
        let a = ShardId::new("a").unwrap();
        assert!(reach.has_finished(&a, None), "an empty shard has nothing to wait for");
        reach.publish("events", &at("a", 90));
        assert!(!reach.has_finished(&a, Some("90")), "the second table has not reported");
        reach.publish("other", &at("a", 80));
        assert!(!reach.has_finished(&a, Some("90")));
        reach.publish("other", &at("a", 95));
        assert!(reach.has_finished(&a, Some("90")));
        // an older view (a table loaded before a commit showed up) does not move it back
        reach.publish("other", &at("a", 10));
        assert!(reach.has_finished(&a, Some("90")));
        assert!(!reach.has_finished(&ShardId::new("b").unwrap(), Some("1")));
    }
}
