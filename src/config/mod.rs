//! Configuration: one TOML file, then `FLOE_…` environment variables, then command-line flags,
//! validated once at start-up into a typed [`Config`]. With no file at all the embedded default
//! applies: everything lives under one local directory (`./floe-data`).
//!
//! One file per section, each going raw (serde, `deny_unknown_fields`, named choices as enums)
//! → validated: [`source`], [`bronze`], [`silver`], [`compaction`], [`catalog`], [`aws`], [`checkpoint`],
//! [`ops`] (metrics and shutdown). [`env`] maps `FLOE_…` variables onto keys; [`values`] reads
//! durations, sizes and counts with errors that name the file and the key.

pub mod aws;
pub mod bronze;
pub mod catalog;
pub mod checkpoint;
pub mod compaction;
pub mod env;
mod ops;
pub mod silver;
pub mod source;
pub mod values;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use aws::AwsSettings;
pub use bronze::{BronzeConfig, BronzeFormat};
pub use catalog::{CatalogConfig, CatalogKind};
pub use checkpoint::{CheckpointKind, LeaseSettings};
pub use compaction::CompactionConfig;
pub use env::{KEYS, env_name};
pub use silver::{MissingSchemaPolicy, SilverConfig};
pub use source::{ConsumerKind, SourceConfig, SourceKind, StartPosition};
pub use values::{Origin, parse_bytes};

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    warehouse: Option<String>,
    #[serde(default)]
    source: source::RawSource,
    #[serde(default)]
    bronze: bronze::RawBronze,
    #[serde(default)]
    silver: silver::RawSilver,
    #[serde(default)]
    compaction: compaction::RawCompaction,
    #[serde(default)]
    catalog: catalog::RawCatalog,
    #[serde(default)]
    checkpoint: checkpoint::RawCheckpoint,
    #[serde(default)]
    metrics: ops::RawMetrics,
    #[serde(default)]
    shutdown: ops::RawShutdown,
    #[serde(default)]
    aws: aws::RawAws,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub origin: String,
    pub warehouse: PathBuf,
    pub source: SourceConfig,
    pub bronze: BronzeConfig,
    pub silver: SilverConfig,
    pub compaction: CompactionConfig,
    pub catalog: CatalogConfig,
    pub aws: AwsSettings,
    pub checkpoint_path: PathBuf,
    /// Where shard checkpoints live, and whether several workers share the stream.
    pub checkpoint: CheckpointKind,
    /// Port of /metrics, /healthz and /readyz; 0 = off.
    pub metrics_port: u16,
    /// How often to write CloudWatch embedded-metric-format lines to stderr; `None` = never.
    pub emf_interval: Option<Duration>,
    /// After SIGTERM, how long draining may take before floe gives up and exits non-zero
    /// (below ECS's stop timeout).
    pub drain_deadline: Duration,
    /// `FLOE_…` variables that matched no key (probably typos), for the caller to warn about.
    pub unknown_env: Vec<String>,
}

/// Flags that override the file and the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub warehouse: Option<PathBuf>,
    pub spool: Option<PathBuf>,
    pub bronze_format: Option<String>,
}

impl Config {
    /// Load `path` (or nothing: the embedded default), apply `FLOE_…` variables from `env`, then
    /// the flags, and validate.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Config> {
        let (origin, mut tree) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
                let tree: toml::Table = toml::from_str(&text).map_err(|e| Error::Config {
                    file: p.display().to_string(),
                    key: "(syntax)".into(),
                    message: e.message().to_string() + &line_hint(&text, e.span()),
                })?;
                (p.display().to_string(), tree)
            }
            None => ("(built-in defaults)".to_string(), toml::Table::new()),
        };
        let env: Vec<(String, String)> = env.into_iter().collect();
        let unknown_env = env::apply_env(&mut tree, env.iter().cloned(), &origin)?;
        let from_env: Vec<String> = env::KEYS
            .iter()
            .filter(|k| env.iter().any(|(n, _)| *n == env::env_name(k)))
            .map(|k| k.to_string())
            .collect();
        let origin = Origin { file: origin, from_env };
        let aws_env = aws::AwsEnv::from(&env);
        // serde_path_to_error names the key of a wrong value (`source.consumer`), not only the value.
        let raw: RawConfig = serde_path_to_error::deserialize(toml::Value::Table(tree)).map_err(|e| {
            let path = e.path().to_string();
            Error::Config {
                file: origin.source_of(&path),
                key: if path == "." { "(structure)".into() } else { path },
                message: e.inner().message().to_string(),
            }
        })?;
        let mut cfg = validate(raw, &origin, overrides, &aws_env)?;
        cfg.unknown_env = unknown_env;
        Ok(cfg)
    }
}

fn line_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(r) => format!(" (line {})", text[..r.start.min(text.len())].lines().count().max(1)),
        None => String::new(),
    }
}

fn validate(raw: RawConfig, v: &Origin, o: &Overrides, aws_env: &aws::AwsEnv) -> Result<Config> {
    let warehouse = values::absolute(
        &o.warehouse.clone().or(raw.warehouse.map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("floe-data")),
    );
    let source = raw.source.validate(v, &warehouse, o.spool.clone())?;
    let bronze = raw.bronze.validate(v, &warehouse, o.bronze_format.clone())?;
    let silver = raw.silver.validate(v)?;
    let compaction = raw.compaction.validate(v)?;
    let aws = raw.aws.validate(v, aws_env)?;
    let catalog = raw.catalog.validate(v, &warehouse, &aws)?;
    let (checkpoint, checkpoint_path) = raw.checkpoint.validate(v, &warehouse, source.kind)?;
    let ops = ops::validate(v, raw.metrics, raw.shutdown)?;
    Ok(Config {
        origin: v.file.clone(),
        warehouse,
        source,
        bronze,
        silver,
        compaction,
        catalog,
        aws,
        checkpoint_path,
        checkpoint,
        metrics_port: ops.metrics_port,
        emf_interval: ops.emf_interval,
        drain_deadline: ops.drain_deadline,
        unknown_env: Vec::new(),
    })
}
