//! `FLOE_…` environment variables: every key has one — `FLOE_` + the dotted key with dots as
//! `_`, upper-case (`bronze.flush_interval` → `FLOE_BRONZE_FLUSH_INTERVAL`).

use crate::error::{Error, Result};

/// Every settable key, in file order. The env-variable mapping and `floe check` use this list;
/// a unit test proves each key is accepted by the file format.
pub const KEYS: &[&str] = &[
    "warehouse",
    "source.type",
    "source.stream",
    "source.spool_dir",
    "source.poll_interval",
    "source.shard_sync_interval",
    "source.read_records",
    "source.stuck_after",
    "source.start_position",
    "source.consumer",
    "source.consumer_name",
    "bronze.location",
    "bronze.format",
    "bronze.flush_records",
    "bronze.flush_bytes",
    "bronze.flush_interval",
    "bronze.buffer_memory",
    "bronze.zstd_level",
    "silver.enabled",
    "silver.interval",
    "silver.batch_max_objects",
    "silver.batch_max_bytes",
    "silver.dedup_lookback",
    "silver.dedup_memory",
    "silver.dedup_spill_dir",
    "silver.discovery_horizon",
    "silver.sweep_interval",
    "silver.commit_interval",
    "silver.commit_max_bytes",
    "silver.max_record_bytes",
    "silver.tables",
    "silver.tables_dir",
    "silver.sql_dir",
    "silver.iglu_resolver",
    "silver.missing_schema",
    "compaction.interval",
    "compaction.min_files",
    "compaction.target_file_size",
    "catalog.type",
    "catalog.name",
    "catalog.namespace",
    "catalog.uri",
    "catalog.warehouse",
    "catalog.catalog_id",
    "catalog.token",
    "aws.region",
    "aws.endpoint",
    "aws.s3_path_style",
    "checkpoint.type",
    "checkpoint.path",
    "checkpoint.table",
    "checkpoint.lease_duration",
    "checkpoint.worker_id",
    "metrics.port",
    "metrics.emf_interval",
    "shutdown.drain_deadline",
];

/// Keys whose value is a list: in the environment, comma-separated (`FLOE_SILVER_TABLES=a,b`).
const LIST_KEYS: &[&str] = &["silver.tables"];

/// Keys whose value is a number or a boolean: in the environment, read as TOML. Every other
/// key's value is text as it stands, so `FLOE_CHECKPOINT_WORKER_ID=7` is the name "7" and
/// `FLOE_SILVER_BATCH_MAX_BYTES=1048576` a size in bytes, not a type error.
const TYPED_KEYS: &[&str] = &[
    "source.read_records",
    "bronze.flush_records",
    "bronze.zstd_level",
    "silver.enabled",
    "silver.batch_max_objects",
    "compaction.min_files",
    "aws.s3_path_style",
    "metrics.port",
];

/// `FLOE_` variables that are not configuration keys (the CLI's and the project scripts').
pub const NON_KEY_VARS: &[&str] = &["FLOE_CONFIG", "FLOE_VENV", "FLOE_BENCH_PROFILE"];

/// Put each `FLOE_<KEY>` variable into the tree. Values are read as TOML when they parse as one
/// (numbers, booleans) and as plain strings otherwise. Returns the `FLOE_` variables that match
/// no key.
pub fn apply_env(
    tree: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
    origin: &str,
) -> Result<Vec<String>> {
    let mut unknown = Vec::new();
    for (name, value) in env {
        let Some(key) = KEYS.iter().find(|k| env_name(k) == name) else {
            if name.starts_with("FLOE_") && !NON_KEY_VARS.contains(&name.as_str()) && !name.starts_with("FLOE_TEST") {
                unknown.push(name);
            }
            continue;
        };
        let parsed = if LIST_KEYS.contains(key) {
            toml::Value::Array(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_string()))
                    .collect(),
            )
        } else if TYPED_KEYS.contains(key) {
            toml::from_str::<toml::Table>(&format!("v = {value}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .filter(|v| !v.is_table() && !v.is_array())
                .unwrap_or_else(|| toml::Value::String(value.clone()))
        } else {
            toml::Value::String(value.clone())
        };
        let mut node = &mut *tree;
        let parts: Vec<&str> = key.split('.').collect();
        for section in &parts[..parts.len() - 1] {
            let entry = node.entry(section.to_string()).or_insert_with(|| toml::Value::Table(Default::default()));
            node = entry.as_table_mut().ok_or_else(|| Error::Config {
                file: origin.to_string(),
                key: section.to_string(),
                message: "expected a table".into(),
            })?;
        }
        node.insert(parts[parts.len() - 1].to_string(), parsed);
    }
    Ok(unknown)
}

/// The environment variable that overrides `key`.
pub fn env_name(key: &str) -> String {
    format!("FLOE_{}", key.replace('.', "_").to_uppercase())
}
