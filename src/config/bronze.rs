//! `[bronze]`: where and how raw objects are written, and when a shard's batch is flushed.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::values::{Origin, config_enum, file_url};
use crate::error::Result;

config_enum! {
    /// The bronze object format (`bronze.format`).
    pub enum BronzeFormat {
        Parquet = "parquet",
        JsonLines = "jsonl",
    }
}

impl BronzeFormat {
    pub fn extension(self) -> &'static str {
        match self {
            BronzeFormat::Parquet => "parquet",
            BronzeFormat::JsonLines => "jsonl.gz",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBronze {
    location: Option<String>,
    format: Option<BronzeFormat>,
    flush_records: Option<i64>,
    flush_bytes: Option<String>,
    flush_interval: Option<String>,
    buffer_memory: Option<String>,
    zstd_level: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct BronzeConfig {
    /// An object-store URL (`file:///…` or `s3://bucket/prefix`).
    pub location: String,
    pub format: BronzeFormat,
    pub flush_records: usize,
    pub flush_bytes: u64,
    pub flush_interval: Duration,
    /// What the open batches of all shards of the process hold together; past it a shard
    /// receiving records ends its batch early (`bronze/batcher.rs`).
    pub buffer_memory: u64,
    pub zstd_level: i32,
}

impl RawBronze {
    /// `format_flag`: `floe run --bronze-format`, which wins over the file and the environment.
    pub(super) fn validate(self, v: &Origin, warehouse: &Path, format_flag: Option<String>) -> Result<BronzeConfig> {
        let format = match format_flag {
            Some(f) => BronzeFormat::try_from(f).map_err(|m| v.err("bronze.format", m))?,
            None => self.format.unwrap_or(BronzeFormat::Parquet),
        };
        let location = self.location.unwrap_or_else(|| file_url(&warehouse.join("bronze")));
        if !(location.starts_with("file://") || location.starts_with("s3://")) {
            return Err(v.err("bronze.location", format!("expected a file:// or s3:// URL, got {location:?}")));
        }
        let flush_bytes = v.bytes("bronze.flush_bytes", self.flush_bytes, "16MiB")?;
        // a batch is copied into one Arrow array with 32-bit offsets: up to this plus one read
        // (source reads stop at 32 MiB) must stay well under 2 GiB
        if flush_bytes > 1 << 30 {
            return Err(v.err("bronze.flush_bytes", "at most 1GiB (objects of 16MiB to 128MiB suit silver best)"));
        }
        Ok(BronzeConfig {
            location,
            format,
            flush_records: v.count("bronze.flush_records", self.flush_records, 100_000, 1, 10_000_000)? as usize,
            flush_bytes,
            flush_interval: v.duration("bronze.flush_interval", self.flush_interval, "30s")?,
            buffer_memory: v.bytes("bronze.buffer_memory", self.buffer_memory, "32MiB")?,
            zstd_level: v.count("bronze.zstd_level", self.zstd_level, 3, 1, 22)? as i32,
        })
    }
}
