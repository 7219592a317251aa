//! `[silver]`: batch sizing, dedup window, record limit, and where table definitions and SQL live.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::values::{Origin, absolute, config_enum};
use crate::error::Result;

config_enum! {
    /// What becomes of an event whose self-describing JSON names a schema no Iglu repository
    /// has (`silver.missing_schema`).
    pub enum MissingSchemaPolicy {
        /// A bad row, `schema_not_found` (the default).
        BadRow = "bad_row",
        /// Loaded with the JSON as sent, unvalidated.
        Load = "load",
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSilver {
    enabled: Option<bool>,
    interval: Option<String>,
    batch_max_objects: Option<i64>,
    batch_max_bytes: Option<String>,
    dedup_lookback: Option<String>,
    dedup_memory: Option<String>,
    dedup_spill_dir: Option<String>,
    discovery_horizon: Option<String>,
    sweep_interval: Option<String>,
    commit_interval: Option<String>,
    commit_max_bytes: Option<String>,
    max_record_bytes: Option<String>,
    tables: Option<Vec<String>>,
    tables_dir: Option<String>,
    sql_dir: Option<String>,
    iglu_resolver: Option<String>,
    missing_schema: Option<MissingSchemaPolicy>,
}

#[derive(Debug, Clone)]
pub struct SilverConfig {
    pub enabled: bool,
    pub interval: Duration,
    pub batch_max_objects: usize,
    pub batch_max_bytes: u64,
    pub dedup_lookback: Duration,
    /// Memory the dedup state of each table may hold; past it the older ids go to sorted runs
    /// on local disk, with a filter and an index in memory (ADR 0017).
    pub dedup_memory: u64,
    /// Where those runs go (a fresh directory under it per table, removed on exit); the
    /// system's temporary directory by default. Disk: 20 bytes an id of the window.
    pub dedup_spill_dir: PathBuf,
    /// How far behind the newest shard a shard may fall and still hold bronze discovery back
    /// (longer: a closed shard, which then no longer makes each listing start at its hour).
    pub discovery_horizon: Duration,
    /// How often bronze is listed in full besides at start ("0s": only at start).
    pub sweep_interval: Duration,
    /// A table's commit gathers rounds of bronze for this long (from its first) before it is
    /// committed: one snapshot per interval instead of one per round (freshness vs snapshots).
    pub commit_interval: Duration,
    /// …or until it holds this much bronze.
    pub commit_max_bytes: u64,
    pub max_record_bytes: u64,
    /// The tables to load, by definition name (`None`: `events`, or every definition in
    /// `tables_dir`). Each table reads the whole stream, so name the ones its records are for:
    /// `["snowplow_events"]` for a Snowplow enrich stream.
    pub tables: Option<Vec<String>>,
    /// `None` = the table definitions and SQL compiled into the binary.
    pub tables_dir: Option<PathBuf>,
    pub sql_dir: Option<PathBuf>,
    /// Data contracts: a resolver file in Snowplow's format (`resolver.json`); every context
    /// and unstruct event is validated against its Iglu schema. `None`: not validated.
    pub iglu_resolver: Option<PathBuf>,
    pub missing_schema: MissingSchemaPolicy,
}

impl RawSilver {
    pub(super) fn validate(self, v: &Origin) -> Result<SilverConfig> {
        Ok(SilverConfig {
            enabled: self.enabled.unwrap_or(true),
            interval: v.duration("silver.interval", self.interval, "5s")?,
            batch_max_objects: v.count("silver.batch_max_objects", self.batch_max_objects, 256, 1, 100_000)? as usize,
            batch_max_bytes: v.bytes("silver.batch_max_bytes", self.batch_max_bytes, "2MiB")?,
            dedup_lookback: v.duration("silver.dedup_lookback", self.dedup_lookback, "24h")?,
            dedup_memory: v.bytes("silver.dedup_memory", self.dedup_memory, "64MiB")?,
            dedup_spill_dir: self.dedup_spill_dir.map_or_else(std::env::temp_dir, |p| absolute(Path::new(&p))),
            discovery_horizon: v.duration("silver.discovery_horizon", self.discovery_horizon, "48h")?,
            sweep_interval: v.duration("silver.sweep_interval", self.sweep_interval, "1h")?,
            commit_interval: v.duration("silver.commit_interval", self.commit_interval, "15s")?,
            commit_max_bytes: v.bytes("silver.commit_max_bytes", self.commit_max_bytes, "128MiB")?,
            max_record_bytes: v.bytes("silver.max_record_bytes", self.max_record_bytes, "1MiB")?,
            tables: self.tables,
            tables_dir: self.tables_dir.map(|p| absolute(Path::new(&p))),
            sql_dir: self.sql_dir.map(|p| absolute(Path::new(&p))),
            iglu_resolver: self.iglu_resolver.map(|p| absolute(Path::new(&p))),
            missing_schema: self.missing_schema.unwrap_or(MissingSchemaPolicy::BadRow),
        })
    }
}
