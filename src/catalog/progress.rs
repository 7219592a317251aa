//! Reading a table's progress back from its snapshots.
//!
//! Every floe commit writes the full watermark map (and the bronze frontier) with the
//! [`PROGRESS_MARKER`], so the progress is in the newest marked snapshot: reading it costs one
//! snapshot, not a walk over the ancestry, however old the table. Snapshots another engine wrote
//! on top (a compaction, an append) carry no marker and are stepped over. Snapshots written before
//! the marker existed carry a map each: without a marked snapshot the whole ancestry is read and
//! the maximum per shard taken, as floe did then. Every floe commit also copies its progress into
//! the table properties: when another engine's expiry left no marked snapshot, that copy is read.

use std::collections::{BTreeMap, HashMap};

use iceberg::spec::TableMetadataRef;
use iceberg::table::Table;

use crate::model::{FRONTIER_PREFIX, Frontier, PROGRESS_MARKER, WATERMARK_PREFIX, WORKER_PREFIX, Watermarks};

/// A table's progress: how far each shard is in it, and where in bronze that was.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub watermarks: Watermarks,
    pub frontier: Frontier,
    /// Per shard, the worker whose silver last committed it (with leases; ADR 0018).
    pub workers: BTreeMap<String, String>,
    /// Snapshots read to find it (1 on a table floe committed last).
    pub snapshots_read: usize,
}

/// The worker entries of `props` not already in `into` (the newest snapshot's entry wins).
fn absorb_workers(into: &mut BTreeMap<String, String>, props: &HashMap<String, String>) {
    for (k, v) in props {
        if let Some(shard) = k.strip_prefix(WORKER_PREFIX) {
            into.entry(shard.to_string()).or_insert_with(|| v.clone());
        }
    }
}

/// The table's progress (see the module docs).
pub fn progress(table: &Table) -> Progress {
    progress_of(&table.metadata_ref(), &table.identifier().to_string())
}

/// The table's watermarks.
pub fn watermarks(table: &Table) -> Watermarks {
    progress(table).watermarks
}

fn progress_of(meta: &TableMetadataRef, table: &str) -> Progress {
    let properties = meta.properties();
    let mut out = Progress::default();
    let Some(current) = meta.current_snapshot_id() else { return out };
    for snap in iceberg::util::snapshot::ancestors_of(meta, current) {
        let props = &snap.summary().additional_properties;
        out.snapshots_read += 1;
        for (key, value) in out.watermarks.absorb_summary(props) {
            tracing::warn!(table, key = %key, value = %value, "ignoring unparseable watermark");
        }
        out.frontier.absorb_summary(props);
        absorb_workers(&mut out.workers, props);
        if props.contains_key(PROGRESS_MARKER) {
            return out;
        }
    }
    // No marked snapshot left: another engine expired them all. Every floe commit also wrote
    // its progress into the table properties, in the same metadata version.
    if properties.contains_key(PROGRESS_MARKER) {
        for (key, value) in out.watermarks.absorb_summary(properties) {
            tracing::warn!(table, key = %key, value = %value, "ignoring unparseable watermark property");
        }
        out.frontier.absorb_summary(properties);
        absorb_workers(&mut out.workers, properties);
    }
    out
}

/// The progress entries of a commit's summary, which every floe commit also writes into the
/// table properties: a copy that survives another engine expiring every floe snapshot (read by
/// `progress.rs` when no marked snapshot is left), updated in the same metadata version.
pub fn progress_properties(summary: &HashMap<String, String>) -> HashMap<String, String> {
    summary
        .iter()
        .filter(|(k, _)| {
            k.starts_with(WATERMARK_PREFIX)
                || k.starts_with(FRONTIER_PREFIX)
                || k.starts_with(WORKER_PREFIX)
                || *k == PROGRESS_MARKER
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
