//! `[compaction]`: the compaction `floe run` does between its commits.

use std::time::Duration;

use serde::Deserialize;

use super::values::Origin;
use crate::error::Result;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCompaction {
    interval: Option<String>,
    min_files: Option<i64>,
    target_file_size: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CompactionConfig {
    /// How often `floe run` looks for small files to compact in each table ("0s": never; use
    /// `floe compact` instead).
    pub interval: Duration,
    /// A partition is compacted once it has this many small files.
    pub min_files: usize,
    pub target_file_size: u64,
}

impl RawCompaction {
    pub(super) fn validate(self, v: &Origin) -> Result<CompactionConfig> {
        Ok(CompactionConfig {
            interval: v.duration("compaction.interval", self.interval, "1h")?,
            min_files: v.count("compaction.min_files", self.min_files, 8, 2, 100_000)? as usize,
            target_file_size: v.bytes("compaction.target_file_size", self.target_file_size, "128MiB")?,
        })
    }
}
