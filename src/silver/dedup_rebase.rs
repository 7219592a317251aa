//! Dedup across workers at commit time (ADR 0018). With silver split by shard, two workers'
//! batches can each hold one copy of a re-send (it landed on two shards held by two workers):
//! neither batch sees the other, which is not committed yet. So a commit that lands on a head
//! another writer moved first reads the event ids of the data files each such snapshot added.
//! The rows of the batch whose id one of them holds are dropped from the batch's own files —
//! only the files that hold one are read and written again — and counted as dedup drops; the
//! batch is not planned again. The cost follows the other writers' commits and this batch's own
//! files, not the table's age.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use futures::{StreamExt, TryStreamExt};
use iceberg::scan::{ArrowRecordBatchStream, FileScanTask};
use iceberg::spec::DataFile;
use iceberg::table::Table;

use super::dedup::DedupState;
use super::dedup_read::{added_files_ids, row_ids};
use super::seen::Id;
use super::writer::OpenFiles;
use crate::catalog::commit::{RebaseCheck, Resolved, delete_files};
use crate::catalog::tables::DedupDef;
use crate::error::{Error, Result};

/// Snapshot-summary keys of the batch counters a resolution changes (written by `pending.rs`).
pub const ROWS: &str = "floe.rows";
pub const DEDUP_DROPS: &str = "floe.dedup-drops";

/// The ids a commit adds, checked against other writers' snapshots, and what was found.
#[derive(Debug)]
pub struct NoIdTwice {
    def: DedupDef,
    /// The ids of the batch's rows (shared with the dedup state's record of the commit).
    added: Arc<Vec<(Id, i64)>>,
    /// The batch's counters as planned: given again, net of the drops, after a resolution.
    rows: u64,
    dedup_drops: u64,
    state: Mutex<Found>,
    /// The table's dedup state: what the check reads of another writer's snapshot goes into it,
    /// so the next commit does not read that snapshot again to learn it.
    learns: Option<Learns>,
}

/// [`NoIdTwice::learns`], shown by `Debug` only as being there.
struct Learns(Arc<tokio::sync::Mutex<DedupState>>);

impl std::fmt::Debug for Learns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dedup state")
    }
}

#[derive(Debug, Default)]
struct Found {
    /// The ids the commit still adds, as a set: built at the first other writer's snapshot, so a
    /// commit nobody raced (the common case) neither spends the time nor holds a second copy
    /// of its ids (a 900k-row commit: ~36 MB at the moment its files are closed).
    ids: Option<HashSet<Id>>,
    /// Of those, the ids another writer's snapshot holds: dropped by the next `resolve`.
    shared: HashSet<Id>,
    /// Rows dropped by the resolutions so far.
    dropped: u64,
}

impl NoIdTwice {
    /// `rows` and `dedup_drops`: the batch's counters in its summary; `learns`: the dedup state
    /// to give what the check reads.
    pub fn new(
        def: DedupDef,
        added: Arc<Vec<(Id, i64)>>,
        rows: u64,
        dedup_drops: u64,
        learns: Option<Arc<tokio::sync::Mutex<DedupState>>>,
    ) -> Self {
        Self { def, added, rows, dedup_drops, state: Mutex::new(Found::default()), learns: learns.map(Learns) }
    }

    fn found(&self) -> Result<std::sync::MutexGuard<'_, Found>> {
        self.state.lock().map_err(|_| Error::invalid("rebase dedup state poisoned"))
    }
}

#[async_trait::async_trait]
impl RebaseCheck for NoIdTwice {
    async fn check(&self, table: &Table, snapshot_id: i64) -> Result<u64> {
        if self.added.is_empty() || self.found()?.ids.as_ref().is_some_and(HashSet::is_empty) {
            return Ok(0);
        }
        let mut files = 0;
        let theirs = added_files_ids(table, snapshot_id, &self.def, &mut files).await?;
        if let Some(Learns(state)) = &self.learns {
            state.lock().await.learn(snapshot_id, &theirs)?;
        }
        let mut found = self.found()?;
        let Found { ids, shared, .. } = &mut *found;
        let ids = ids.get_or_insert_with(|| self.added.iter().map(|(id, _)| *id).collect());
        let before = shared.len();
        shared.extend(theirs.iter().map(|(id, _)| *id).filter(|id| ids.contains(id)));
        Ok((shared.len() - before) as u64)
    }

    async fn resolve(&self, table: &Table, files: &[DataFile]) -> Result<Resolved> {
        let shared = std::mem::take(&mut self.found()?.shared);
        let mut out = Resolved::default();
        if shared.is_empty() {
            out.files = files.to_vec();
            return Ok(out);
        }
        // only the key column first: which files hold a shared id
        let key_id = table
            .metadata()
            .current_schema()
            .field_id_by_name(&self.def.key)
            .ok_or_else(|| Error::invalid(format!("dedup column {} is missing", self.def.key)))?;
        for f in files {
            let mut holds = false;
            let mut batches = read(table, f, vec![key_id])?;
            while let Some(b) = batches.try_next().await? {
                if row_ids(&b, &self.def.key)?.iter().any(|id| id.is_some_and(|id| shared.contains(&id))) {
                    holds = true;
                    break;
                }
            }
            match holds {
                true => out.replaced.push(f.clone()),
                false => out.files.push(f.clone()),
            }
        }
        let (written, dropped) = rewrite_without(table, &out.replaced, &self.def.key, &shared).await?;
        out.files.extend(written);
        out.dropped = dropped;
        let mut found = self.found()?;
        if let Some(ids) = found.ids.as_mut() {
            ids.retain(|id| !shared.contains(id));
        }
        found.dropped += dropped;
        out.summary = BTreeMap::from([
            (ROWS.to_string(), self.rows.saturating_sub(found.dropped).to_string()),
            (DEDUP_DROPS.to_string(), (self.dedup_drops + found.dropped).to_string()),
        ]);
        Ok(out)
    }
}

/// `files` written again without the rows whose `key` is in `drop`: the new files and the rows
/// dropped. The rows must add up to what the files held.
async fn rewrite_without(
    table: &Table,
    files: &[DataFile],
    key: &str,
    drop: &HashSet<Id>,
) -> Result<(Vec<DataFile>, u64)> {
    if files.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let all: Vec<i32> = table.metadata().current_schema().as_struct().fields().iter().map(|f| f.id).collect();
    let mut out = OpenFiles::new(table)?;
    let mut dropped = 0u64;
    for f in files {
        let mut batches = read(table, f, all.clone())?;
        while let Some(b) = batches.try_next().await? {
            let keep: BooleanArray =
                row_ids(&b, key)?.iter().map(|id| Some(!id.is_some_and(|id| drop.contains(&id)))).collect();
            let kept = filter_record_batch(&b, &keep)?;
            dropped += (b.num_rows() - kept.num_rows()) as u64;
            out.write(std::slice::from_ref(&kept)).await?;
        }
    }
    let (held, kept) = (files.iter().map(DataFile::record_count).sum::<u64>(), out.rows());
    let written = out.close().await?;
    if held != kept + dropped {
        delete_files(table, &written).await;
        return Err(Error::invalid(format!(
            "{}: rewriting a batch's files without {dropped} shared id(s): read {} rows where they hold {held}",
            table.identifier(),
            kept + dropped
        )));
    }
    Ok((written, dropped))
}

/// The rows of one of the commit's own (uncommitted) files, columns `field_ids`, in the table's
/// current schema.
fn read(table: &Table, file: &DataFile, field_ids: Vec<i32>) -> Result<ArrowRecordBatchStream> {
    let task = FileScanTask {
        file_size_in_bytes: file.file_size_in_bytes(),
        start: 0,
        length: file.file_size_in_bytes(),
        record_count: Some(file.record_count()),
        data_file_path: file.file_path().to_string(),
        data_file_format: file.file_format(),
        schema: table.metadata().current_schema().clone(),
        project_field_ids: field_ids,
        predicate: None,
        deletes: Vec::new(),
        partition: None,
        partition_spec: None,
        name_mapping: None,
        case_sensitive: true,
    };
    let tasks = futures::stream::iter([Ok(task)]).boxed();
    Ok(table.reader_builder().build().read(tasks)?.stream())
}
