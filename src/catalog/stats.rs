//! What a table holds, for `floe status` and the maintenance commands: live data files and how
//! many of them are small, and the totals the `floe.*` snapshot counters add up to.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use iceberg::table::Table;

use crate::error::Result;
use crate::model::{FRONTIER_PREFIX, LEASE_EPOCH_PREFIX, PROGRESS_MARKER, WATERMARK_PREFIX, WORKER_PREFIX};

/// A data file smaller than this counts as small (compaction would help readers).
pub const SMALL_FILE_BYTES: u64 = 16 << 20;

/// Rows, live data files and small files of the current snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Rows as the manifests count them (a summary figure, not a scan).
    pub rows: u64,
    pub data_files: u64,
    /// Live data files under [`SMALL_FILE_BYTES`]: candidates for compaction.
    pub small_files: u64,
}

/// The current snapshot's files, from the scan plan.
pub async fn file_stats(t: &Table) -> Result<FileStats> {
    if t.metadata().current_snapshot().is_none() {
        return Ok(FileStats::default());
    }
    let tasks: Vec<_> = t.scan().build()?.plan_files().await?.try_collect().await?;
    Ok(FileStats {
        rows: tasks.iter().filter_map(|f| f.record_count).sum(),
        data_files: tasks.len() as u64,
        small_files: tasks.iter().filter(|f| f.file_size_in_bytes < SMALL_FILE_BYTES).count() as u64,
    })
}

/// Sums of the `floe.*` counters (records in, rows, dedup drops, rejected by reason) over the
/// snapshot ancestry; progress keys (watermarks, lease epochs) are not counters and are skipped.
pub fn totals(t: &Table) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let meta = t.metadata_ref();
    let Some(id) = meta.current_snapshot_id() else { return out };
    for s in iceberg::util::snapshot::ancestors_of(&meta, id) {
        for (k, v) in &s.summary().additional_properties {
            let progress_key = k.starts_with(WATERMARK_PREFIX)
                || k.starts_with(LEASE_EPOCH_PREFIX)
                || k.starts_with(FRONTIER_PREFIX)
                || k.starts_with(WORKER_PREFIX)
                || k == PROGRESS_MARKER;
            if progress_key || !k.starts_with("floe.") {
                continue;
            }
            if let Ok(n) = v.parse::<u64>() {
                *out.entry(k.trim_start_matches("floe.").to_string()).or_insert(0) += n;
            }
        }
    }
    out
}
