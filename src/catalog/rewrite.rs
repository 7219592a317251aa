//! floe's own snapshot producer, for the commits iceberg-rust cannot make: remove some data
//! files and add others in one snapshot (`replace` for compaction, `overwrite` for erasure and
//! backfill). iceberg 0.10 only fast-appends and keeps its commit builder crate-private, so the
//! snapshot is built here from the crate's public spec API — manifest writers, the manifest list
//! writer, the snapshot and metadata builders; the caller commits it with the catalog's
//! compare-and-swap ([`super::FloeCatalog::commit_metadata`]).
//!
//! Every data manifest of the base snapshot is rewritten into one manifest per partition spec
//! (the live files as `existing`, the removed ones as `deleted`): a maintenance commit also merges
//! the small manifests each loader commit leaves, so the manifest list a reader plans from does
//! not grow with the table's age. Delete manifests (another engine's) are kept as they are.
//! A merge-on-append ([`super::manifest_merge`]) uses the same producer with nothing removed
//! and only the small manifests rewritten.

use iceberg::TableUpdate;
use iceberg::spec::{
    DataFile, FormatVersion, MAIN_BRANCH, ManifestContentType, ManifestFile, ManifestListWriter, ManifestWriter,
    ManifestWriterBuilder, Operation, Snapshot, SnapshotReference, SnapshotRetention, SnapshotSummaryCollector,
    Summary, TableMetadata,
};
use iceberg::table::Table;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::manifest_merge::MergePolicy;
use crate::error::{Error, Result};

/// A new snapshot, its manifests written, not yet committed: the table's metadata with it, and
/// the same change as REST updates (see [`super::FloeCatalog::commit_metadata`]).
#[derive(Debug)]
pub struct Staged {
    pub metadata: TableMetadata,
    pub updates: Vec<TableUpdate>,
    pub snapshot_id: i64,
}

/// What to change: the paths of live files to remove, the new files to add.
#[derive(Debug, Clone)]
pub struct FileChange<'a> {
    pub remove: &'a HashSet<String>,
    pub add: &'a [DataFile],
    pub operation: Operation,
    /// Which data manifests are rewritten: all of them (`None`, a maintenance commit), or only
    /// those a merge-on-append folds in (the others are carried as they are; nothing may be
    /// removed then, see [`super::manifest_merge`]).
    pub only_small: Option<MergePolicy>,
}

/// Why a change cannot be staged on this base.
#[derive(Debug)]
pub enum NotStaged {
    /// A file to remove is no longer live: another commit removed or rewrote it.
    Gone(String),
}

/// Write the manifests, manifest list and metadata file of `change` on top of `base`'s current
/// snapshot, with the summary properties `props` (see the module docs).
pub async fn stage(
    base: &Table,
    change: FileChange<'_>,
    props: HashMap<String, String>,
) -> Result<std::result::Result<Staged, NotStaged>> {
    let ident = base.identifier();
    let meta = base.metadata();
    if meta.format_version() != FormatVersion::V2 {
        return Err(Error::invalid(format!(
            "{ident}: floe rewrites tables of format version 2 only (this one is {})",
            meta.format_version()
        )));
    }
    let base_location = base
        .metadata_location()
        .ok_or_else(|| Error::invalid(format!("{ident}: the loaded table has no metadata location")))?;
    let Some(parent) = meta.current_snapshot() else {
        return match change.remove.iter().next() {
            Some(path) => Ok(Err(NotStaged::Gone(path.clone()))),
            None => Err(Error::invalid(format!("{ident}: nothing to rewrite in a table without snapshots"))),
        };
    };
    let snapshot_id = fresh_snapshot_id(meta);
    let sequence = meta.next_sequence_number();
    let schema = meta.current_schema().clone();
    let file_io = base.file_io();
    let commit = uuid::Uuid::now_v7();
    let mut manifest_no = 0u32;
    let mut next_manifest = || -> Result<iceberg::io::OutputFile> {
        manifest_no += 1;
        Ok(file_io.new_output(format!("{}/metadata/{commit}-m{manifest_no}.avro", meta.location()))?)
    };

    let mut collector = SnapshotSummaryCollector::default();
    // a merge carries the full manifests unread: their files are counted from the parent's
    // totals (nothing is removed), the rest as they are written
    let mut totals = match change.only_small {
        Some(_) => Totals::parent(&parent.summary().additional_properties),
        None => Some(Totals::default()),
    };
    let mut kept: Vec<ManifestFile> = Vec::new();
    // one merged manifest per partition spec (BTreeMap: a stable manifest order)
    let mut merged: BTreeMap<i32, ManifestWriter> = BTreeMap::new();
    let mut removed: HashSet<String> = HashSet::new();
    let list = base.manifest_list_reader(parent).load().await?;
    for mf in list.entries() {
        let carried = change.only_small.is_some_and(|p| !p.is_small(mf));
        if mf.content != ManifestContentType::Data || carried {
            kept.push(mf.clone());
            continue;
        }
        let spec = meta
            .partition_spec_by_id(mf.partition_spec_id)
            .ok_or_else(|| {
                Error::invalid(format!("{ident}: manifest {} names unknown partition spec", mf.manifest_path))
            })?
            .clone();
        let manifest = mf.load_manifest(file_io).await?;
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            let writer = match merged.entry(mf.partition_spec_id) {
                std::collections::btree_map::Entry::Occupied(w) => w.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => v.insert(
                    ManifestWriterBuilder::new(
                        next_manifest()?,
                        Some(snapshot_id),
                        schema.clone(),
                        spec.as_ref().clone(),
                    )
                    .build_v2_data(),
                ),
            };
            let file = entry.data_file().clone();
            let data_sequence = entry.sequence_number().ok_or_else(|| {
                Error::invalid(format!("{ident}: live entry {} has no sequence number", file.file_path()))
            })?;
            if change.remove.contains(file.file_path()) {
                removed.insert(file.file_path().to_string());
                collector.remove_file(&file, schema.clone(), spec.clone());
                writer.add_delete_file(file, data_sequence, entry.file_sequence_number)?;
            } else {
                let added_by = entry.snapshot_id().ok_or_else(|| {
                    Error::invalid(format!("{ident}: live entry {} has no snapshot id", file.file_path()))
                })?;
                if change.only_small.is_none() {
                    totals.iter_mut().for_each(|t| t.count(&file));
                }
                writer.add_existing_file(file, added_by, data_sequence, entry.file_sequence_number)?;
            }
        }
    }
    if removed.len() != change.remove.len() {
        // the merged manifests' writers open their files only when finished: dropping them
        // leaves nothing behind
        let gone = change.remove.difference(&removed).next().cloned().unwrap_or_default();
        return Ok(Err(NotStaged::Gone(gone)));
    }

    let mut manifests: Vec<ManifestFile> = Vec::new();
    if !change.add.is_empty() {
        let spec = meta.default_partition_spec().clone();
        let mut w =
            ManifestWriterBuilder::new(next_manifest()?, Some(snapshot_id), schema.clone(), spec.as_ref().clone())
                .build_v2_data();
        for file in change.add {
            collector.add_file(file, schema.clone(), spec.clone());
            totals.iter_mut().for_each(|t| t.count(file));
            w.add_file(file.clone(), sequence)?;
        }
        // the new files' manifest first, as Java's snapshot producer orders them
        manifests.push(w.write_manifest_file().await?);
    }
    for w in merged.into_values() {
        manifests.push(w.write_manifest_file().await?);
    }
    manifests.extend(kept);

    let list_path = format!("{}/metadata/snap-{snapshot_id}-0-{commit}.avro", meta.location());
    let mut list = ManifestListWriter::v2(
        file_io.new_output(&list_path)?.writer().await?,
        snapshot_id,
        Some(parent.snapshot_id()),
        sequence,
    );
    list.add_manifests(manifests.into_iter())?;
    list.close().await?;

    let mirror = super::progress::progress_properties(&props);
    let mut summary = props;
    summary.extend(collector.build());
    // (figures the parent lacked are left out, as Iceberg allows, rather than guessed)
    if let Some(t) = &totals {
        summary.extend(t.summary(&parent.summary().additional_properties));
    }
    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(Some(parent.snapshot_id()))
        .with_sequence_number(sequence)
        .with_timestamp_ms(chrono::Utc::now().timestamp_millis())
        .with_manifest_list(list_path)
        .with_summary(Summary { operation: change.operation, additional_properties: summary })
        .with_schema_id(meta.current_schema_id())
        .build();
    let metadata = meta
        .clone()
        .into_builder(Some(base_location.to_string()))
        .set_branch_snapshot(snapshot.clone(), MAIN_BRANCH)?
        .set_properties(mirror.clone())?
        .build()?
        .metadata;
    let updates = vec![
        TableUpdate::AddSnapshot { snapshot },
        TableUpdate::SetSnapshotRef {
            ref_name: MAIN_BRANCH.to_string(),
            reference: SnapshotReference::new(snapshot_id, SnapshotRetention::branch(None, None, None)),
        },
        TableUpdate::SetProperties { updates: mirror },
    ];
    Ok(Ok(Staged { metadata, updates, snapshot_id }))
}

/// A positive snapshot id the table does not have yet.
fn fresh_snapshot_id(meta: &TableMetadata) -> i64 {
    loop {
        let id = (uuid::Uuid::new_v4().as_u64_pair().0 >> 1) as i64;
        if id != 0 && meta.snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

/// The `total-*` summary figures, counted over the new snapshot's live files (exact, rather than
/// the parent's figures adjusted: another engine may have left them out). A merge-on-append,
/// which does not read the full manifests, adds its files to the parent's figures instead.
#[derive(Debug, Default)]
struct Totals {
    files: u64,
    records: u64,
    bytes: u64,
}

impl Totals {
    /// The parent snapshot's `total-*` figures, if it has all three.
    fn parent(summary: &HashMap<String, String>) -> Option<Self> {
        let get = |k: &str| summary.get(k).and_then(|v| v.parse::<u64>().ok());
        Some(Self { files: get("total-data-files")?, records: get("total-records")?, bytes: get("total-files-size")? })
    }

    fn count(&mut self, f: &DataFile) {
        self.files += 1;
        self.records += f.record_count();
        self.bytes += f.file_size_in_bytes();
    }

    fn summary(&self, parent: &HashMap<String, String>) -> Vec<(String, String)> {
        let mut out = vec![
            ("total-data-files".to_string(), self.files.to_string()),
            ("total-records".to_string(), self.records.to_string()),
            ("total-files-size".to_string(), self.bytes.to_string()),
        ];
        // delete manifests are carried as they are, so are their figures
        for k in ["total-delete-files", "total-position-deletes", "total-equality-deletes"] {
            out.push((k.to_string(), parent.get(k).cloned().unwrap_or_else(|| "0".to_string())));
        }
        out
    }
}
