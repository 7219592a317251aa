//! Merge-on-append: when a loader commit would leave too many small manifests in the table's
//! manifest list, the commit folds them into one (ADR 0020).
//!
//! iceberg-rust only fast-appends: every commit adds one manifest, and the list a reader plans
//! from grows by one per commit until a maintenance rewrite. Java's `MergeAppend` bounds it with
//! two table properties, read here the same way:
//!
//! - `commit.manifest.min-count-to-merge`: merge once this many small data manifests would be
//!   in the list (floe's default is lower than Java's 100: a loader commits every minute, so 100
//!   would never be reached between two hourly compactions);
//! - `commit.manifest.target-size-bytes`: a manifest at least this large is full and kept as it
//!   is, so a merge reads and writes at most `min-count` small manifests, never the whole table;
//! - `commit.manifest-merge.enabled = false` turns it off.
//!
//! The merge itself is [`super::rewrite::stage`] with nothing removed and only the small
//! manifests rewritten.

use iceberg::spec::{FormatVersion, ManifestContentType, ManifestFile, TableMetadata};
use iceberg::table::Table;

use crate::error::Result;

pub const MIN_COUNT_PROPERTY: &str = "commit.manifest.min-count-to-merge";
pub const TARGET_SIZE_PROPERTY: &str = "commit.manifest.target-size-bytes";
pub const ENABLED_PROPERTY: &str = "commit.manifest-merge.enabled";

/// floe's default for [`MIN_COUNT_PROPERTY`]: at one commit a minute, a list of at most 16
/// small manifests plus the full ones, merged about every quarter of an hour.
pub const DEFAULT_MIN_COUNT: usize = 16;
/// Java's default for [`TARGET_SIZE_PROPERTY`] (8 MiB, some 20,000 data files of a wide table).
pub const DEFAULT_TARGET_BYTES: u64 = 8 * 1024 * 1024;

/// When a table's appends merge its small manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergePolicy {
    /// `None`: merging is off.
    pub min_count: Option<usize>,
    pub target_bytes: u64,
}

impl MergePolicy {
    /// The table's properties, with floe's defaults where they are absent. A value that does
    /// not parse falls back to the default (with a warning): a reader-facing table property set
    /// by another tool must not stop the loader.
    pub fn of(meta: &TableMetadata) -> Self {
        let props = meta.properties();
        let parsed = |key: &str| -> Option<u64> {
            let raw = props.get(key)?;
            match raw.trim().parse::<u64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    tracing::warn!(property = key, value = %raw, "not a whole number; floe uses its default");
                    None
                }
            }
        };
        let enabled = props.get(ENABLED_PROPERTY).is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"));
        let min_count = parsed(MIN_COUNT_PROPERTY).map_or(DEFAULT_MIN_COUNT, |v| v as usize);
        Self {
            // a count below 2 would rewrite on every commit: treated as 2
            min_count: enabled.then_some(min_count.max(2)),
            target_bytes: parsed(TARGET_SIZE_PROPERTY).unwrap_or(DEFAULT_TARGET_BYTES),
        }
    }

    /// Whether `manifest` is one a merge folds in: a data manifest below the target size.
    pub fn is_small(&self, manifest: &ManifestFile) -> bool {
        manifest.content == ManifestContentType::Data && (manifest.manifest_length.max(0) as u64) < self.target_bytes
    }

    /// Whether an append on `manifests` (the current snapshot's list) should merge: the small
    /// ones, with the one the append adds, reach the minimum count.
    pub fn due(&self, manifests: &[ManifestFile]) -> bool {
        let Some(min) = self.min_count else { return false };
        manifests.iter().filter(|m| self.is_small(m)).count() + 1 >= min
    }
}

/// Whether an append on `table`'s current snapshot should merge its small manifests (reads the
/// manifest list: one small object per commit attempt).
pub async fn merge_due(table: &Table) -> Result<Option<MergePolicy>> {
    let meta = table.metadata();
    let policy = MergePolicy::of(meta);
    // floe's snapshot producer writes format version 2 only: other tables fast-append
    if policy.min_count.is_none() || meta.format_version() != FormatVersion::V2 {
        return Ok(None);
    }
    let Some(snapshot) = meta.current_snapshot() else { return Ok(None) };
    let list = table.manifest_list_reader(snapshot).load().await?;
    Ok(policy.due(list.entries()).then_some(policy))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(len: i64, content: ManifestContentType) -> ManifestFile {
        ManifestFile {
            manifest_path: format!("m-{len}.avro"),
            manifest_length: len,
            partition_spec_id: 0,
            content,
            sequence_number: 1,
            min_sequence_number: 1,
            added_snapshot_id: 1,
            added_files_count: Some(1),
            existing_files_count: Some(0),
            deleted_files_count: Some(0),
            added_rows_count: Some(1),
            existing_rows_count: Some(0),
            deleted_rows_count: Some(0),
            partitions: None,
            key_metadata: None,
            first_row_id: None,
        }
    }

    fn policy(min: usize) -> MergePolicy {
        MergePolicy { min_count: Some(min), target_bytes: 1000 }
    }

    #[test]
    fn merges_once_the_small_manifests_with_the_new_one_reach_the_count() {
        let small = |n| vec![manifest(10, ManifestContentType::Data); n];
        assert!(!policy(4).due(&small(2)));
        assert!(policy(4).due(&small(3)));
    }

    #[test]
    fn full_and_delete_manifests_do_not_count() {
        let mut list = vec![manifest(5000, ManifestContentType::Data); 10];
        list.extend(vec![manifest(10, ManifestContentType::Deletes); 10]);
        list.push(manifest(10, ManifestContentType::Data));
        assert!(!policy(4).due(&list));
        assert!(!MergePolicy { min_count: None, target_bytes: 1000 }.due(&list));
    }
}
