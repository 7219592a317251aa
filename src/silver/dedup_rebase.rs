//! Dedup across workers at commit time (ADR 0018). With silver split by shard, two workers'
//! batches can each hold one copy of a re-send (it landed on two shards held by two workers):
//! neither batch sees the other, which is not committed yet. So a commit that lands on a head
//! another writer moved first reads the event ids of the data files each such snapshot added,
//! and is planned again if one of them is an id it adds: the next round's dedup state, brought
//! up to the head, then drops the copy. The cost follows the other writers' commits, not the
//! table's age.

use std::collections::HashSet;

use iceberg::table::Table;

use super::dedup_read::added_files_ids;
use super::seen::Id;
use crate::catalog::commit::RebaseCheck;
use crate::catalog::tables::DedupDef;
use crate::error::Result;

/// The ids a commit adds, checked against another writer's snapshot.
#[derive(Debug)]
pub struct NoIdTwice {
    def: DedupDef,
    ids: HashSet<Id>,
}

impl NoIdTwice {
    pub fn new(def: DedupDef, ids: impl IntoIterator<Item = Id>) -> Self {
        Self { def, ids: ids.into_iter().collect() }
    }
}

#[async_trait::async_trait]
impl RebaseCheck for NoIdTwice {
    async fn check(&self, table: &Table, snapshot_id: i64) -> Result<Option<String>> {
        if self.ids.is_empty() {
            return Ok(None);
        }
        let mut files = 0;
        let theirs = added_files_ids(table, snapshot_id, &self.def, &mut files).await?;
        let shared = theirs.iter().filter(|(id, _)| self.ids.contains(id)).count();
        Ok((shared > 0).then(|| {
            format!("snapshot {snapshot_id} of another writer added {shared} event id(s) this batch adds; deduplicating again")
        }))
    }
}
