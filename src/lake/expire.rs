//! Snapshot expiry: snapshots older than a threshold, beyond the newest few, are removed from the
//! table's metadata (one pointer swap, retried when the loader committed in between), and then
//! the manifest lists, manifests and data files that only they referenced are deleted.
//!
//! Kept always: the snapshot of every branch and tag, the newest `retain_last` of main, and the
//! newest snapshot carrying floe's progress marker — so the loader's progress survives an expiry
//! that would otherwise leave only another engine's snapshots.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use iceberg::spec::{SnapshotRef, TableMetadata};
use iceberg::table::Table;
use iceberg::{TableIdent, TableUpdate};
use indicatif::ProgressBar;
use serde::Serialize;

use super::reach::{ManifestCache, referenced};
use crate::catalog::FloeCatalog;
use crate::catalog::handle::PointerSwap;
use crate::error::{Error, Result};
use crate::model::PROGRESS_MARKER;

/// Iceberg's own defaults (`history.expire.max-snapshot-age-ms`, `min-snapshots-to-keep`).
pub const DEFAULT_OLDER_THAN: Duration = Duration::from_secs(5 * 24 * 3600);
pub const DEFAULT_RETAIN_LAST: usize = 1;

#[derive(Debug, Clone, Copy)]
pub struct ExpireOptions {
    pub older_than: Duration,
    pub retain_last: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExpireReport {
    pub table: String,
    pub snapshots_before: usize,
    pub snapshots_expired: usize,
    pub manifest_lists_deleted: usize,
    pub manifests_deleted: usize,
    pub data_files_deleted: usize,
    /// Deletes that failed (the files stay as orphans for `floe remove-orphans`).
    pub delete_failures: usize,
    pub dry_run: bool,
}

/// How many times the pointer swap is retried on a table the loader keeps moving.
const ATTEMPTS: usize = 8;

/// The snapshots of `meta` that expire at `now_ms` (see the module docs).
pub fn expirable(meta: &TableMetadata, opts: ExpireOptions, now_ms: i64) -> Vec<i64> {
    let cutoff = now_ms.saturating_sub(i64::try_from(opts.older_than.as_millis()).unwrap_or(i64::MAX));
    let mut keep: HashSet<i64> = ref_heads(meta);
    let mut marked = false;
    let mut at = meta.current_snapshot_id().and_then(|id| meta.snapshot_by_id(id));
    let mut depth = 0;
    while let Some(s) = at {
        if depth < opts.retain_last {
            keep.insert(s.snapshot_id());
        }
        if !marked && s.summary().additional_properties.contains_key(PROGRESS_MARKER) {
            keep.insert(s.snapshot_id());
            marked = true;
        }
        if depth >= opts.retain_last && marked {
            break;
        }
        depth += 1;
        at = s.parent_snapshot_id().and_then(|id| meta.snapshot_by_id(id));
    }
    let mut out: Vec<i64> = meta
        .snapshots()
        .filter(|s| !keep.contains(&s.snapshot_id()) && s.timestamp_ms() < cutoff)
        .map(|s| s.snapshot_id())
        .collect();
    out.sort_unstable();
    out
}

/// The snapshot of every branch and tag. `TableMetadata` does not expose its refs, only a lookup
/// by name, so the names come from its spec serialization (the `refs` object).
fn ref_heads(meta: &TableMetadata) -> HashSet<i64> {
    let refs = serde_json::to_value(meta).ok().and_then(|v| v.get("refs").cloned());
    let names: Vec<String> = match refs {
        Some(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let mut out: HashSet<i64> =
        names.iter().filter_map(|n| meta.snapshot_for_ref(n)).map(|s| s.snapshot_id()).collect();
    out.extend(meta.current_snapshot_id());
    out
}

/// Expire `ident`'s snapshots (see the module docs); `bar` counts manifests read.
pub async fn expire(
    catalog: &FloeCatalog,
    ident: &TableIdent,
    opts: ExpireOptions,
    dry_run: bool,
    bar: &ProgressBar,
) -> Result<ExpireReport> {
    let mut report = ExpireReport { table: ident.to_string(), dry_run, ..Default::default() };
    let mut backoff = crate::retry::backoff(Duration::from_millis(40), Duration::from_secs(4));
    for _ in 0..ATTEMPTS {
        let table = catalog.load_table(ident).await?;
        let meta = table.metadata();
        report.snapshots_before = meta.snapshots().len();
        let expired = expirable(meta, opts, chrono::Utc::now().timestamp_millis());
        report.snapshots_expired = expired.len();
        if expired.is_empty() {
            return Ok(report);
        }
        let base_location = table
            .metadata_location()
            .ok_or_else(|| Error::invalid(format!("{ident}: the loaded table has no metadata location")))?;
        let new_meta =
            meta.clone().into_builder(Some(base_location.to_string())).remove_snapshots(&expired).build()?.metadata;
        if dry_run {
            let doomed = doomed_files(&table, &new_meta, &expired, bar).await?;
            count(&mut report, &doomed);
            return Ok(report);
        }
        let updates = vec![TableUpdate::RemoveSnapshots { snapshot_ids: expired.clone() }];
        match catalog.commit_metadata(&table, &new_meta, updates).await? {
            PointerSwap::Swapped => {
                // the old table's metadata still knows the expired snapshots: read them from it
                let doomed = doomed_files(&table, &new_meta, &expired, bar).await?;
                count(&mut report, &doomed);
                report.delete_failures = delete_all(&table, doomed.into_iter().map(|(p, _)| p)).await;
                return Ok(report);
            }
            PointerSwap::Moved => {
                tracing::debug!(table = %ident, "expiry: the table moved; planning again");
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
    Err(Error::CommitConflict {
        table: ident.to_string(),
        message: format!("the table kept moving: {ATTEMPTS} expiry attempts refused"),
    })
}

/// What a deleted path was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ManifestList,
    Manifest,
    File,
}

/// The files the expired snapshots reference that no kept snapshot does.
async fn doomed_files(
    table: &Table,
    kept_meta: &TableMetadata,
    expired: &[i64],
    bar: &ProgressBar,
) -> Result<Vec<(String, Kind)>> {
    let meta = table.metadata();
    let gone: Vec<&SnapshotRef> = expired.iter().filter_map(|id| meta.snapshot_by_id(*id)).collect();
    let kept: Vec<&SnapshotRef> = kept_meta.snapshots().collect();
    bar.set_length(0);
    let mut cache = ManifestCache::default();
    let keep = referenced(table, kept, true, &mut cache, bar).await?;
    let candidates = referenced(table, gone, false, &mut cache, bar).await?;
    let mut out = Vec::new();
    for (set, kind) in [
        (candidates.manifest_lists, Kind::ManifestList),
        (candidates.manifests, Kind::Manifest),
        (candidates.files, Kind::File),
    ] {
        out.extend(set.into_iter().filter(|p| !keep.contains(p)).map(|p| (p, kind)));
    }
    Ok(out)
}

fn count(report: &mut ExpireReport, doomed: &[(String, Kind)]) {
    let n = |k| doomed.iter().filter(|(_, kind)| *kind == k).count();
    report.manifest_lists_deleted = n(Kind::ManifestList);
    report.manifests_deleted = n(Kind::Manifest);
    report.data_files_deleted = n(Kind::File);
}

/// Delete `paths`, 16 at a time; a failure is logged and counted, not raised (the file is an
/// orphan then, which no reader sees).
pub async fn delete_all(table: &Table, paths: impl Iterator<Item = String>) -> usize {
    let io = table.file_io();
    let results: Vec<bool> = futures::stream::iter(paths)
        .map(|p| async move {
            match io.delete(&p).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(file = %p, error = %e, "could not delete");
                    false
                }
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.iter().filter(|ok| !**ok).count()
}
