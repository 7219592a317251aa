//! Compaction: small data files of a partition are bin-packed into files near the target size
//! and swapped in by one `replace` commit ([`Change::Rewrite`]), which carries the table's progress
//! forward like every floe commit. The rows do not change, so the loader's dedup state skips the
//! snapshot, and a loader commit landing meanwhile is rebased onto (or under) it.
//!
//! Reading goes through Iceberg's own Arrow reader (schema evolution and delete files applied),
//! writing through silver's writer, so the new files are what a loader commit would have written.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use iceberg::scan::FileScanTask;
use iceberg::spec::{ManifestContentType, Operation};
use iceberg::table::Table;
use indicatif::ProgressBar;
use serde::Serialize;

use crate::catalog::Committer;
use crate::catalog::commit::{Change, CommitOutcome, TableCommit};
use crate::error::{Error, Result};
use crate::model::{Frontier, Watermarks};
use crate::silver::writer::OpenFiles;

/// What to compact.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// Size the new files aim at.
    pub target_file_size: u64,
    /// Files smaller than this are rewritten (Spark's `min-file-size-bytes`: 3/4 of the target).
    pub small_below: u64,
    /// A partition is compacted only when it has at least this many small files.
    pub min_files: usize,
    /// Only partitions whose path (`event_date=2026-12-01`) contains this.
    pub partition: Option<String>,
}

impl CompactOptions {
    pub fn with_target(target_file_size: u64) -> Self {
        Self { target_file_size, small_below: target_file_size / 4 * 3, min_files: 2, partition: None }
    }
}

/// One new file's worth of small files of one partition.
#[derive(Debug, Clone)]
pub struct Bin {
    pub partition: String,
    pub files: Vec<FileScanTask>,
}

impl Bin {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.file_size_in_bytes).sum()
    }
}

/// The bins of one table, planned on one snapshot.
#[derive(Debug, Clone, Default)]
pub struct CompactPlan {
    pub snapshot_id: Option<i64>,
    pub live_files: usize,
    pub bins: Vec<Bin>,
}

impl CompactPlan {
    pub fn input_files(&self) -> usize {
        self.bins.iter().map(|b| b.files.len()).sum()
    }
    pub fn input_bytes(&self) -> u64 {
        self.bins.iter().map(Bin::bytes).sum()
    }
    pub fn partitions(&self) -> usize {
        self.bins.iter().map(|b| b.partition.as_str()).collect::<HashSet<_>>().len()
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Serialize)]
pub struct CompactReport {
    pub table: String,
    pub partitions: usize,
    pub files_before: usize,
    pub files_removed: usize,
    pub files_added: usize,
    pub rows: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub seconds: f64,
    /// The replace snapshot; `None` when there was nothing to compact (or `--dry-run`).
    pub snapshot_id: Option<i64>,
}

/// Plan the bins of `table`'s current snapshot.
pub async fn plan(table: &Table, opts: &CompactOptions) -> Result<CompactPlan> {
    let meta = table.metadata();
    let Some(snapshot_id) = meta.current_snapshot_id() else { return Ok(CompactPlan::default()) };
    let tasks: Vec<FileScanTask> = table.scan().select_all().build()?.plan_files().await?.try_collect().await?;
    let live_files = tasks.len();
    let partitions = partition_paths(table).await?;
    // partition path → its small files
    let mut small: BTreeMap<String, Vec<FileScanTask>> = BTreeMap::new();
    for task in tasks {
        if task.file_size_in_bytes >= opts.small_below {
            continue;
        }
        let path = partitions.get(&task.data_file_path).cloned().unwrap_or_else(|| "unpartitioned".to_string());
        small.entry(path).or_default().push(task);
    }
    let mut bins = Vec::new();
    for (partition, mut files) in small {
        if files.len() < opts.min_files {
            continue;
        }
        if let Some(want) = &opts.partition
            && !partition.contains(want.as_str())
        {
            continue;
        }
        // first fit over the files largest first; a bin of one file would only copy it
        files.sort_by_key(|f| std::cmp::Reverse(f.file_size_in_bytes));
        let mut open: Vec<(u64, Vec<FileScanTask>)> = Vec::new();
        for f in files {
            match open.iter_mut().find(|(size, _)| size + f.file_size_in_bytes <= opts.target_file_size) {
                Some((size, members)) => {
                    *size += f.file_size_in_bytes;
                    members.push(f);
                }
                None => open.push((f.file_size_in_bytes, vec![f])),
            }
        }
        bins.extend(
            open.into_iter()
                .filter(|(_, members)| members.len() > 1)
                .map(|(_, files)| Bin { partition: partition.clone(), files }),
        );
    }
    Ok(CompactPlan { snapshot_id: Some(snapshot_id), live_files, bins })
}

/// The partition path (`spec0/collector_tstamp_day=2026-12-01`) of every live data file of the
/// current snapshot, from its manifests (the scan plan's tasks do not carry partitions).
async fn partition_paths(table: &Table) -> Result<HashMap<String, String>> {
    let meta = table.metadata();
    let mut out = HashMap::new();
    let Some(snapshot) = meta.current_snapshot() else { return Ok(out) };
    let schema = meta.current_schema().clone();
    let list = table.manifest_list_reader(snapshot).load().await?;
    for mf in list.entries().iter().filter(|m| m.content == ManifestContentType::Data) {
        let spec = meta.partition_spec_by_id(mf.partition_spec_id);
        let manifest = mf.load_manifest(table.file_io()).await?;
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            let file = entry.data_file();
            let path = match &spec {
                Some(spec) if !spec.fields().is_empty() && spec.partition_type(&schema).is_ok() => {
                    format!("spec{}/{}", spec.spec_id(), spec.partition_to_path(file.partition(), schema.clone()))
                }
                _ => "unpartitioned".to_string(),
            };
            out.insert(file.file_path().to_string(), path);
        }
    }
    Ok(out)
}

/// Rewrite the plan's bins and commit them in one replace snapshot. `bar` counts input bytes.
pub async fn compact(
    committer: &Committer,
    table: &Table,
    plan: &CompactPlan,
    opts: &CompactOptions,
    bar: &ProgressBar,
) -> Result<CompactReport> {
    let started = Instant::now();
    let mut report = CompactReport {
        table: table.identifier().to_string(),
        partitions: plan.partitions(),
        files_before: plan.live_files,
        files_removed: 0,
        files_added: 0,
        rows: 0,
        bytes_read: 0,
        bytes_written: 0,
        seconds: 0.0,
        snapshot_id: None,
    };
    if plan.bins.is_empty() {
        return Ok(report);
    }
    let target = usize::try_from(opts.target_file_size).unwrap_or(usize::MAX);
    let mut added = Vec::new();
    let mut remove = HashSet::new();
    for bin in &plan.bins {
        let written = match rewrite_bin(table, bin, target).await {
            Ok(w) => w,
            Err(e) => {
                crate::catalog::commit::delete_files(table, &added).await;
                return Err(e);
            }
        };
        report.rows += written.1;
        added.extend(written.0);
        remove.extend(bin.files.iter().map(|f| f.data_file_path.clone()));
        report.bytes_read += bin.bytes();
        bar.inc(bin.bytes());
    }
    report.files_removed = remove.len();
    report.files_added = added.len();
    report.bytes_written = added.iter().map(|f| f.file_size_in_bytes()).sum();
    let summary = BTreeMap::from([
        ("floe.operation".to_string(), "compact".to_string()),
        ("floe.compacted-files".to_string(), remove.len().to_string()),
    ]);
    let commit = TableCommit {
        ident: table.identifier().clone(),
        change: Change::Rewrite { remove, add: added, operation: Operation::Replace },
        planned_after: Watermarks::new(),
        ends_at: Watermarks::new(),
        frontier: Frontier::new(),
        summary,
        oldest_arrival_micros: None,
        rebase: None,
    };
    crate::crashpoint::hit(crate::crashpoint::COMPACT_BEFORE_COMMIT);
    match committer.commit(commit).await? {
        CommitOutcome::Committed { snapshot_id, .. } => report.snapshot_id = Some(snapshot_id),
        CommitOutcome::AlreadyCovered => {
            return Err(Error::invalid(format!("{}: a compaction cannot be already covered", report.table)));
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Read the bin's files and write them again as files of about `target` bytes: the new files
/// and the rows they hold. The rows must add up to what the manifests say the inputs hold.
async fn rewrite_bin(table: &Table, bin: &Bin, target: usize) -> Result<(Vec<iceberg::spec::DataFile>, u64)> {
    let mut out = OpenFiles::with_target(table, target)?;
    let tasks = futures::stream::iter(bin.files.clone().into_iter().map(Ok)).boxed();
    let mut batches = table.reader_builder().build().read(tasks)?.stream();
    while let Some(batch) = batches.try_next().await? {
        out.write(std::slice::from_ref(&batch)).await?;
    }
    let rows = out.rows();
    let expected: Option<u64> = bin.files.iter().map(|f| f.record_count).sum();
    let has_deletes = bin.files.iter().any(|f| !f.deletes.is_empty());
    if let Some(expected) = expected
        && !has_deletes
        && expected != rows
    {
        let files = out.close().await?;
        crate::catalog::commit::delete_files(table, &files).await;
        return Err(Error::invalid(format!(
            "{}: compacting {}: read {rows} rows where the manifests hold {expected}; nothing committed",
            table.identifier(),
            bin.partition
        )));
    }
    Ok((out.close().await?, rows))
}
