//! Configuration: one TOML file, then `FLOE_…` environment variables, then command-line flags,
//! validated once at start-up into a typed [`Config`]. With no file at all the embedded default
//! applies: everything lives under one local directory (`./floe-data`).
//!
//! Every key has an environment variable: `FLOE_` + the dotted key with dots as `_`, upper-case
//! (`bronze.flush_interval` → `FLOE_BRONZE_FLUSH_INTERVAL`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::ConsumerName;

/// Every settable key, in file order. The env-variable mapping and `floe check` use this list;
/// a unit test proves each key is accepted by the file format.
pub const KEYS: &[&str] = &[
    "warehouse",
    "source.type",
    "source.stream",
    "source.spool_dir",
    "source.poll_interval",
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
    "bronze.zstd_level",
    "silver.enabled",
    "silver.interval",
    "silver.batch_max_objects",
    "silver.batch_max_bytes",
    "silver.dedup_lookback",
    "silver.max_record_bytes",
    "silver.tables_dir",
    "silver.sql_dir",
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

/// `FLOE_` variables that are not configuration keys (the CLI's and the project scripts').
const NON_KEY_VARS: &[&str] = &["FLOE_CONFIG", "FLOE_VENV", "FLOE_BENCH_PROFILE"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    warehouse: Option<String>,
    #[serde(default)]
    source: RawSource,
    #[serde(default)]
    bronze: RawBronze,
    #[serde(default)]
    silver: RawSilver,
    #[serde(default)]
    catalog: RawCatalog,
    #[serde(default)]
    checkpoint: RawCheckpoint,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    shutdown: RawShutdown,
    #[serde(default)]
    aws: RawAws,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAws {
    region: Option<String>,
    endpoint: Option<String>,
    s3_path_style: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    port: Option<i64>,
    emf_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShutdown {
    drain_deadline: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    r#type: Option<String>,
    stream: Option<String>,
    spool_dir: Option<String>,
    poll_interval: Option<String>,
    read_records: Option<i64>,
    start_position: Option<String>,
    stuck_after: Option<String>,
    consumer: Option<String>,
    consumer_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBronze {
    location: Option<String>,
    format: Option<String>,
    flush_records: Option<i64>,
    flush_bytes: Option<String>,
    flush_interval: Option<String>,
    zstd_level: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSilver {
    enabled: Option<bool>,
    interval: Option<String>,
    batch_max_objects: Option<i64>,
    batch_max_bytes: Option<String>,
    dedup_lookback: Option<String>,
    max_record_bytes: Option<String>,
    tables_dir: Option<String>,
    sql_dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    r#type: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
    uri: Option<String>,
    warehouse: Option<String>,
    catalog_id: Option<String>,
    token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheckpoint {
    r#type: Option<String>,
    path: Option<String>,
    table: Option<String>,
    lease_duration: Option<String>,
    worker_id: Option<String>,
}

/// Where the configuration came from, for error messages.
#[derive(Debug, Clone)]
pub struct Origin(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BronzeFormat {
    Parquet,
    JsonLines,
}

impl BronzeFormat {
    pub fn extension(self) -> &'static str {
        match self {
            BronzeFormat::Parquet => "parquet",
            BronzeFormat::JsonLines => "jsonl.gz",
        }
    }
}

/// Which source feeds bronze.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A local directory of NDJSON files (the embedded default).
    Spool,
    /// An AWS Kinesis data stream (`source.stream` is its name).
    Kinesis,
}

/// Where a Kinesis shard with no checkpoint starts (children of a reshard always start at their
/// beginning, after their parents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartPosition {
    TrimHorizon,
    Latest,
    /// Records that arrived at or after this time (ms since the epoch).
    AtTimestamp(i64),
}

/// Where shard checkpoints live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointKind {
    /// One local JSON file (`checkpoint.path`): one worker per stream.
    Local,
    /// A DynamoDB lease table shared by every worker of the stream (`checkpoint.type = "dynamodb"`).
    DynamoDb(LeaseSettings),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    pub table: String,
    /// A lease whose counter has not moved for this long is taken over by another worker; the
    /// holder renews every third of it and stops writing once it could not renew for this long.
    pub lease_duration: Duration,
    /// This worker's name in the lease table (`owner`).
    pub worker_id: String,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub kind: SourceKind,
    pub start_position: StartPosition,
    pub stream: String,
    pub spool_dir: PathBuf,
    pub poll_interval: Duration,
    pub read_records: usize,
    /// A running shard whose reader got no answer for this long makes `/readyz` fail.
    pub stuck_after: Duration,
    /// `source.consumer = "efo"`: the enhanced fan-out consumer's name (`source.consumer_name`),
    /// registered on the stream once and shared by every worker. `None`: GetRecords polling.
    pub fan_out: Option<ConsumerName>,
}

#[derive(Debug, Clone)]
pub struct BronzeConfig {
    /// An object-store URL (`file:///…` or `s3://bucket/prefix`).
    pub location: String,
    pub format: BronzeFormat,
    pub flush_records: usize,
    pub flush_bytes: u64,
    pub flush_interval: Duration,
    pub zstd_level: i32,
}

#[derive(Debug, Clone)]
pub struct SilverConfig {
    pub enabled: bool,
    pub interval: Duration,
    pub batch_max_objects: usize,
    pub batch_max_bytes: u64,
    pub dedup_lookback: Duration,
    pub max_record_bytes: u64,
    /// `None` = the table definitions and SQL compiled into the binary.
    pub tables_dir: Option<PathBuf>,
    pub sql_dir: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct CatalogConfig {
    pub kind: CatalogKind,
    pub name: String,
    pub namespace: String,
    /// The SQL catalog's database URL (`sqlite:…`) or the REST catalog's endpoint; unused by Glue.
    pub uri: String,
    /// Where table data and metadata go: `file://…` (SQL catalog) or `s3://bucket/prefix`; for
    /// REST, the warehouse the server should use (empty: the server's default).
    pub warehouse: String,
    /// Glue: the AWS account id owning the catalog, when it is not the caller's.
    pub catalog_id: Option<String>,
    /// REST: the bearer token sent with every request (prefer `FLOE_CATALOG_TOKEN` to a file).
    pub token: Option<String>,
    pub aws: AwsSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogKind {
    /// Iceberg's SQL catalog on SQLite: the embedded default.
    Sql,
    /// Any Iceberg REST catalog (iceberg-catalog-rest), at `catalog.uri`.
    Rest,
    /// The AWS Glue Data Catalog (our own `iceberg::Catalog`, catalog/glue.rs).
    Glue,
}

/// What every AWS client floe builds shares. Credentials always come from the standard AWS chain
/// (environment, profile, ECS task role, IMDS); only where to connect is configured here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// `aws.region`, else `AWS_REGION` / `AWS_DEFAULT_REGION`, else the SDK's own lookup.
    pub region: Option<String>,
    /// `aws.endpoint`, else `AWS_ENDPOINT_URL`: one endpoint for every service (S3-compatible
    /// stores, local stand-ins). `None` = AWS's public endpoints.
    pub endpoint: Option<String>,
    /// Path-style S3 URLs (`http://host/bucket/key`), which S3-compatible stores and stand-ins
    /// need; defaults to on when an endpoint is set, off for AWS.
    pub s3_path_style: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub origin: String,
    pub warehouse: PathBuf,
    pub source: SourceConfig,
    pub bronze: BronzeConfig,
    pub silver: SilverConfig,
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
        let unknown_env = apply_env(&mut tree, env.iter().cloned(), &origin)?;
        let aws_env = |name: &str| env.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.clone());
        let aws_env = AwsEnv {
            region: aws_env("AWS_REGION").or_else(|| aws_env("AWS_DEFAULT_REGION")),
            endpoint: aws_env("AWS_ENDPOINT_URL"),
        };
        let raw: RawConfig = RawConfig::deserialize(toml::Value::Table(tree)).map_err(|e| Error::Config {
            file: origin.clone(),
            key: "(structure)".into(),
            message: e.message().to_string(),
        })?;
        let mut cfg = validate(raw, &Origin(origin), overrides, &aws_env)?;
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

/// Put each `FLOE_<KEY>` variable into the tree. Values are read as TOML when they parse as one
/// (numbers, booleans) and as plain strings otherwise. Returns the `FLOE_` variables that match
/// no key.
fn apply_env(
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
        let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .filter(|v| !v.is_table() && !v.is_array())
            .unwrap_or_else(|| toml::Value::String(value.clone()));
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

struct V<'a> {
    origin: &'a Origin,
}

impl V<'_> {
    fn err(&self, key: &str, message: impl Into<String>) -> Error {
        Error::Config { file: self.origin.0.clone(), key: key.into(), message: message.into() }
    }
    fn duration(&self, key: &str, v: Option<String>, default: &str) -> Result<Duration> {
        let s = v.unwrap_or_else(|| default.to_string());
        humantime::parse_duration(&s).map_err(|_| self.err(key, format!("expected a duration like \"30s\", got {s:?}")))
    }
    fn bytes(&self, key: &str, v: Option<String>, default: &str) -> Result<u64> {
        let s = v.unwrap_or_else(|| default.to_string());
        parse_bytes(&s).ok_or_else(|| self.err(key, format!("expected a size like \"64MiB\", got {s:?}")))
    }
    fn count(&self, key: &str, v: Option<i64>, default: i64, min: i64, max: i64) -> Result<i64> {
        let n = v.unwrap_or(default);
        if n < min || n > max {
            return Err(self.err(key, format!("expected a whole number from {min} to {max}, got {n}")));
        }
        Ok(n)
    }
    fn one_of(&self, key: &str, v: Option<String>, default: &str, allowed: &[&str]) -> Result<String> {
        let s = v.unwrap_or_else(|| default.to_string());
        if allowed.contains(&s.as_str()) {
            Ok(s)
        } else {
            Err(self.err(key, format!("expected one of {allowed:?}, got {s:?}")))
        }
    }
}

/// `source.consumer` / `source.consumer_name` → the fan-out consumer's name, if any.
fn fan_out(v: &V, kind: SourceKind, consumer: Option<String>, name: Option<String>) -> Result<Option<ConsumerName>> {
    let efo = v.one_of("source.consumer", consumer, "polling", &["polling", "efo"])? == "efo";
    if efo && kind != SourceKind::Kinesis {
        return Err(v.err("source.consumer", "enhanced fan-out (\"efo\") needs source.type = \"kinesis\""));
    }
    if !efo {
        if name.is_some() {
            return Err(v.err("source.consumer_name", "only used with source.consumer = \"efo\""));
        }
        return Ok(None);
    }
    let name = name.unwrap_or_else(|| "floe".to_string());
    ConsumerName::new(name).map(Some).map_err(|e| v.err("source.consumer_name", e.to_string()))
}

/// Parse "64MiB", "1 GB", "512k", "1000".
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}

fn file_url(p: &Path) -> String {
    format!("file://{}", absolute(p).display())
}

/// The standard AWS variables that floe's settings fall back to.
struct AwsEnv {
    region: Option<String>,
    endpoint: Option<String>,
}

fn validate(raw: RawConfig, origin: &Origin, o: &Overrides, aws_env: &AwsEnv) -> Result<Config> {
    let v = V { origin };
    let warehouse = absolute(
        &o.warehouse.clone().or(raw.warehouse.map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("floe-data")),
    );

    let kind = match v.one_of("source.type", raw.source.r#type, "spool", &["spool", "kinesis"])?.as_str() {
        "kinesis" => SourceKind::Kinesis,
        _ => SourceKind::Spool,
    };
    let stream = match (kind, raw.source.stream) {
        (_, Some(s)) => s,
        (SourceKind::Spool, None) => "spool".to_string(),
        (SourceKind::Kinesis, None) => {
            return Err(v.err("source.stream", "source.type = \"kinesis\" needs the stream name"));
        }
    };
    crate::model::ShardId::new(stream.clone()).map_err(|e| v.err("source.stream", e.to_string()))?;
    let start_raw = raw.source.start_position.unwrap_or_else(|| "trim_horizon".to_string());
    let start_position = match start_raw.as_str() {
        "trim_horizon" => StartPosition::TrimHorizon,
        "latest" => StartPosition::Latest,
        other => match other.strip_prefix("at_timestamp:").map(chrono::DateTime::parse_from_rfc3339) {
            Some(Ok(t)) => StartPosition::AtTimestamp(t.timestamp_millis()),
            _ => {
                return Err(v.err(
                    "source.start_position",
                    format!("expected trim_horizon, latest or at_timestamp:<RFC 3339 time>, got {other:?}"),
                ));
            }
        },
    };
    let read_max = if kind == SourceKind::Kinesis { 10_000 } else { 1_000_000 };
    let source = SourceConfig {
        kind,
        start_position,
        stream,
        spool_dir: absolute(
            &o.spool.clone().or(raw.source.spool_dir.map(PathBuf::from)).unwrap_or_else(|| warehouse.join("spool")),
        ),
        poll_interval: v.duration("source.poll_interval", raw.source.poll_interval, "1s")?,
        read_records: v.count("source.read_records", raw.source.read_records, 1_000, 1, read_max)? as usize,
        stuck_after: v.duration("source.stuck_after", raw.source.stuck_after, "5m")?,
        fan_out: fan_out(&v, kind, raw.source.consumer, raw.source.consumer_name)?,
    };

    let format =
        v.one_of("bronze.format", o.bronze_format.clone().or(raw.bronze.format), "parquet", &["parquet", "jsonl"])?;
    let location = raw.bronze.location.unwrap_or_else(|| file_url(&warehouse.join("bronze")));
    if !(location.starts_with("file://") || location.starts_with("s3://")) {
        return Err(v.err("bronze.location", format!("expected a file:// or s3:// URL, got {location:?}")));
    }
    let bronze = BronzeConfig {
        location,
        format: if format == "parquet" { BronzeFormat::Parquet } else { BronzeFormat::JsonLines },
        flush_records: v.count("bronze.flush_records", raw.bronze.flush_records, 100_000, 1, 10_000_000)? as usize,
        flush_bytes: v.bytes("bronze.flush_bytes", raw.bronze.flush_bytes, "16MiB")?,
        flush_interval: v.duration("bronze.flush_interval", raw.bronze.flush_interval, "30s")?,
        zstd_level: v.count("bronze.zstd_level", raw.bronze.zstd_level, 3, 1, 22)? as i32,
    };

    let silver = SilverConfig {
        enabled: raw.silver.enabled.unwrap_or(true),
        interval: v.duration("silver.interval", raw.silver.interval, "5s")?,
        batch_max_objects: v.count("silver.batch_max_objects", raw.silver.batch_max_objects, 256, 1, 100_000)? as usize,
        batch_max_bytes: v.bytes("silver.batch_max_bytes", raw.silver.batch_max_bytes, "8MiB")?,
        dedup_lookback: v.duration("silver.dedup_lookback", raw.silver.dedup_lookback, "24h")?,
        max_record_bytes: v.bytes("silver.max_record_bytes", raw.silver.max_record_bytes, "1MiB")?,
        tables_dir: raw.silver.tables_dir.map(|p| absolute(Path::new(&p))),
        sql_dir: raw.silver.sql_dir.map(|p| absolute(Path::new(&p))),
    };

    let endpoint = raw.aws.endpoint.or_else(|| aws_env.endpoint.clone());
    if let Some(e) = &endpoint
        && !(e.starts_with("http://") || e.starts_with("https://"))
    {
        return Err(v.err("aws.endpoint", format!("expected an http:// or https:// URL, got {e:?}")));
    }
    let aws = AwsSettings {
        region: raw.aws.region.or_else(|| aws_env.region.clone()),
        s3_path_style: raw.aws.s3_path_style.unwrap_or(endpoint.is_some()),
        endpoint,
    };

    let kind = match v.one_of("catalog.type", raw.catalog.r#type, "sql", &["sql", "glue", "rest"])?.as_str() {
        "glue" => CatalogKind::Glue,
        "rest" => CatalogKind::Rest,
        _ => CatalogKind::Sql,
    };
    let namespace = raw.catalog.namespace.unwrap_or_else(|| "floe".to_string());
    let catalog_warehouse = match (kind, raw.catalog.warehouse) {
        (_, Some(w)) => w,
        (CatalogKind::Sql, None) => file_url(&warehouse.join("warehouse")),
        (CatalogKind::Rest, None) => String::new(),
        (CatalogKind::Glue, None) => {
            return Err(v.err("catalog.warehouse", "catalog.type = \"glue\" needs an s3:// warehouse location"));
        }
    };
    match kind {
        CatalogKind::Sql if !(catalog_warehouse.starts_with("file://") || catalog_warehouse.starts_with("s3://")) => {
            return Err(
                v.err("catalog.warehouse", format!("expected a file:// or s3:// URL, got {catalog_warehouse:?}"))
            );
        }
        CatalogKind::Glue if !catalog_warehouse.starts_with("s3://") => {
            return Err(v.err(
                "catalog.warehouse",
                format!("Glue tables live on S3: expected s3://bucket/prefix, got {catalog_warehouse:?}"),
            ));
        }
        _ => {}
    }
    if kind == CatalogKind::Glue {
        // Glue database names: lower case letters, digits and underscores (what Athena accepts).
        if namespace.is_empty() || !namespace.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(v.err(
                "catalog.namespace",
                format!("a Glue database name is lower-case letters, digits and _, got {namespace:?}"),
            ));
        }
        if raw.catalog.uri.is_some() {
            return Err(v.err(
                "catalog.uri",
                "only used by catalog.type = \"sql\"; Glue is reached through aws.endpoint / AWS_ENDPOINT_URL",
            ));
        }
    }
    if kind == CatalogKind::Rest && raw.catalog.uri.is_none() {
        return Err(v.err("catalog.uri", "catalog.type = \"rest\" needs the catalog's http(s):// endpoint"));
    }
    if kind != CatalogKind::Rest && raw.catalog.token.is_some() {
        return Err(v.err("catalog.token", "only used by catalog.type = \"rest\""));
    }
    let catalog = CatalogConfig {
        kind,
        name: raw.catalog.name.unwrap_or_else(|| "floe".to_string()),
        namespace,
        uri: raw.catalog.uri.unwrap_or_else(|| format!("sqlite:{}?mode=rwc", warehouse.join("catalog.db").display())),
        warehouse: catalog_warehouse,
        catalog_id: raw.catalog.catalog_id.filter(|s| !s.is_empty()),
        token: raw.catalog.token.filter(|s| !s.is_empty()),
        aws: aws.clone(),
    };
    if kind == CatalogKind::Sql && !catalog.uri.starts_with("sqlite:") {
        return Err(v.err("catalog.uri", format!("expected a sqlite: URL, got {:?}", catalog.uri)));
    }
    if kind == CatalogKind::Rest && !(catalog.uri.starts_with("http://") || catalog.uri.starts_with("https://")) {
        return Err(v.err("catalog.uri", format!("expected the REST catalog's http(s):// URL, got {:?}", catalog.uri)));
    }

    let checkpoint = match v.one_of("checkpoint.type", raw.checkpoint.r#type, "local", &["local", "dynamodb"])?.as_str()
    {
        "dynamodb" => {
            if source.kind != SourceKind::Kinesis {
                return Err(v.err("checkpoint.type", "DynamoDB leases share a Kinesis stream: set source.type = \"kinesis\" (a local spool has one reader)"));
            }
            let table = raw.checkpoint.table.filter(|t| !t.is_empty()).ok_or_else(|| {
                v.err("checkpoint.table", "checkpoint.type = \"dynamodb\" needs the lease table's name")
            })?;
            if table.len() < 3
                || table.len() > 255
                || !table.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            {
                return Err(v.err(
                    "checkpoint.table",
                    format!("not a DynamoDB table name (3-255 of a-z A-Z 0-9 _ - .): {table:?}"),
                ));
            }
            let lease_duration = v.duration("checkpoint.lease_duration", raw.checkpoint.lease_duration, "10s")?;
            if lease_duration < Duration::from_secs(1) {
                return Err(v.err("checkpoint.lease_duration", "at least 1s (renewals run every third of it)"));
            }
            let worker_id = match raw.checkpoint.worker_id.filter(|w| !w.is_empty()) {
                Some(w) => w,
                None => default_worker_id(),
            };
            CheckpointKind::DynamoDb(LeaseSettings { table, lease_duration, worker_id })
        }
        _ => {
            if raw.checkpoint.table.is_some() {
                return Err(v.err("checkpoint.table", "only used by checkpoint.type = \"dynamodb\""));
            }
            CheckpointKind::Local
        }
    };
    let checkpoint_path =
        absolute(&raw.checkpoint.path.map(PathBuf::from).unwrap_or_else(|| warehouse.join("checkpoints.json")));

    let metrics_port = v.count("metrics.port", raw.metrics.port, 0, 0, 65_535)? as u16;
    let emf_interval =
        Some(v.duration("metrics.emf_interval", raw.metrics.emf_interval, "0s")?).filter(|d| !d.is_zero());
    let drain_deadline = v.duration("shutdown.drain_deadline", raw.shutdown.drain_deadline, "25s")?;
    Ok(Config {
        origin: origin.0.clone(),
        warehouse,
        source,
        bronze,
        silver,
        catalog,
        aws,
        checkpoint_path,
        checkpoint,
        metrics_port,
        emf_interval,
        drain_deadline,
        unknown_env: Vec::new(),
    })
}

/// `<host>-<pid>-<random>`: unique per process, and readable in the lease table (which task
/// holds which shard). On ECS the host name is the task's.
fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "floe".to_string());
    format!("{host}-{}-{:04x}", std::process::id(), rand::random::<u16>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str, env: Vec<(&str, &str)>) -> Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("floe.toml");
        std::fs::write(&p, text).unwrap();
        Config::load(Some(&p), env.into_iter().map(|(a, b)| (a.to_string(), b.to_string())), &Overrides::default())
    }

    #[test]
    fn defaults_without_a_file() {
        let c = Config::load(None, Vec::new(), &Overrides::default()).unwrap();
        assert!(c.warehouse.ends_with("floe-data"));
        assert_eq!(c.bronze.format, BronzeFormat::Parquet);
        assert_eq!(c.bronze.flush_interval, Duration::from_secs(30));
        assert!(c.catalog.uri.starts_with("sqlite:"));
    }

    #[test]
    fn bad_duration_names_the_key_and_the_file() {
        let e = load_str("[bronze]\nflush_interval = \"fast\"\n", vec![]).unwrap_err().to_string();
        assert!(e.contains("floe.toml"), "{e}");
        assert!(e.contains("bronze.flush_interval: expected a duration like \"30s\", got \"fast\""), "{e}");
    }

    #[test]
    fn dynamodb_leases_need_kinesis_and_a_table() {
        let e = load_str("[checkpoint]\ntype = \"dynamodb\"\ntable = \"t1\"\n", vec![]).unwrap_err().to_string();
        assert!(e.contains("checkpoint.type") && e.contains("kinesis"), "{e}");
        let kinesis = "[source]\ntype = \"kinesis\"\nstream = \"s\"\n[checkpoint]\ntype = \"dynamodb\"\n";
        let e = load_str(kinesis, vec![]).unwrap_err().to_string();
        assert!(e.contains("checkpoint.table"), "{e}");
        let c =
            load_str(kinesis, vec![("FLOE_CHECKPOINT_TABLE", "leases"), ("FLOE_CHECKPOINT_WORKER_ID", "w1")]).unwrap();
        let CheckpointKind::DynamoDb(l) = c.checkpoint else { panic!("not dynamodb") };
        assert_eq!(
            (l.table.as_str(), l.worker_id.as_str(), l.lease_duration),
            ("leases", "w1", Duration::from_secs(10))
        );
        let e = load_str("[checkpoint]\ntable = \"t1\"\n", vec![]).unwrap_err().to_string();
        assert!(e.contains("only used by"), "{e}");
    }

    #[test]
    fn enhanced_fan_out_is_a_kinesis_option_with_a_checked_consumer_name() {
        let kinesis = "[source]\ntype = \"kinesis\"\nstream = \"s\"\n";
        assert_eq!(load_str(kinesis, vec![]).unwrap().source.fan_out, None, "polling is the default");
        let c = load_str(kinesis, vec![("FLOE_SOURCE_CONSUMER", "efo")]).unwrap();
        assert_eq!(c.source.fan_out.as_ref().map(ConsumerName::as_str), Some("floe"));
        let c = load_str(kinesis, vec![("FLOE_SOURCE_CONSUMER", "efo"), ("FLOE_SOURCE_CONSUMER_NAME", "app-1.v2")])
            .unwrap();
        assert_eq!(c.source.fan_out.as_ref().map(ConsumerName::as_str), Some("app-1.v2"));
        let e = load_str(kinesis, vec![("FLOE_SOURCE_CONSUMER", "efo"), ("FLOE_SOURCE_CONSUMER_NAME", "no spaces")]);
        assert!(e.unwrap_err().to_string().contains("source.consumer_name"));
        let e = load_str(kinesis, vec![("FLOE_SOURCE_CONSUMER", "push")]).unwrap_err().to_string();
        assert!(e.contains("source.consumer") && e.contains("\"polling\", \"efo\""), "{e}");
        let e = load_str("[source]\nconsumer = \"efo\"\n", vec![]).unwrap_err().to_string();
        assert!(e.contains("source.consumer") && e.contains("kinesis"), "{e}");
        let e = load_str(kinesis, vec![("FLOE_SOURCE_CONSUMER_NAME", "x")]).unwrap_err().to_string();
        assert!(e.contains("only used with"), "{e}");
    }

    #[test]
    fn a_rest_catalog_needs_an_http_endpoint_and_alone_takes_a_token() {
        let e = load_str("[catalog]\ntype = \"rest\"\n", vec![]).unwrap_err().to_string();
        assert!(e.contains("catalog.uri") && e.contains("http"), "{e}");
        let e = load_str("[catalog]\ntype = \"rest\"\nuri = \"sqlite:x\"\n", vec![]).unwrap_err().to_string();
        assert!(e.contains("catalog.uri"), "{e}");
        let rest = "[catalog]\ntype = \"rest\"\nuri = \"https://catalog.example:8181/api\"\n";
        let c = load_str(rest, vec![("FLOE_CATALOG_TOKEN", "t0k")]).unwrap();
        assert_eq!(c.catalog.kind, CatalogKind::Rest);
        assert_eq!((c.catalog.token.as_deref(), c.catalog.warehouse.as_str()), (Some("t0k"), ""));
        let e = load_str("[catalog]\ntoken = \"t\"\n", vec![]).unwrap_err().to_string();
        assert!(e.contains("catalog.token") && e.contains("rest"), "{e}");
    }

    #[test]
    fn unknown_key_is_refused() {
        let e = load_str("[bronze]\nflush_intervall = \"1s\"\n", vec![]).unwrap_err().to_string();
        assert!(e.contains("unknown field `flush_intervall`"), "{e}");
    }

    #[test]
    fn env_overrides_file() {
        let c = load_str(
            "[bronze]\nflush_records = 10\n",
            vec![("FLOE_BRONZE_FLUSH_RECORDS", "77"), ("FLOE_BRONZE_FORMAT", "jsonl")],
        )
        .unwrap();
        assert_eq!(c.bronze.flush_records, 77);
        assert_eq!(c.bronze.format, BronzeFormat::JsonLines);
    }

    #[test]
    fn every_key_is_accepted_by_the_file_format() {
        for key in KEYS {
            let (section, name) = key.split_once('.').unwrap_or(("", key));
            let value = match *key {
                "silver.enabled" => "true",
                "metrics.port" => "1",
                "aws.s3_path_style" => "true",
                _ => "\"x\"",
            };
            let text = if section.is_empty() {
                format!("{name} = {value}\n")
            } else {
                format!("[{section}]\n{name} = {value}\n")
            };
            if let Err(e) = load_str(&text, vec![]) {
                assert!(!e.to_string().contains("unknown field"), "{key}: {e}");
            }
        }
    }

    #[test]
    fn unknown_env_variables_are_reported() {
        let c = load_str("", vec![("FLOE_BRONZE_FLUSH_INTERVALL", "1s"), ("FLOE_CONFIG", "x")]).unwrap();
        assert_eq!(c.unknown_env, vec!["FLOE_BRONZE_FLUSH_INTERVALL".to_string()]);
    }

    #[test]
    fn glue_needs_an_s3_warehouse_and_takes_the_aws_environment() {
        let e = load_str("[catalog]\ntype = \"glue\"\n", vec![]).unwrap_err().to_string();
        assert!(e.contains("catalog.warehouse") && e.contains("s3://"), "{e}");
        let e =
            load_str("[catalog]\ntype = \"glue\"\nwarehouse = \"file:///tmp/w\"\n", vec![]).unwrap_err().to_string();
        assert!(e.contains("Glue tables live on S3"), "{e}");
        let e = load_str("[catalog]\ntype = \"glue\"\nwarehouse = \"s3://b/w\"\nnamespace = \"My-Db\"\n", vec![])
            .unwrap_err()
            .to_string();
        assert!(e.contains("catalog.namespace"), "{e}");
        let c = load_str(
            "[catalog]\ntype = \"glue\"\nwarehouse = \"s3://b/w\"\n",
            vec![("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"), ("AWS_DEFAULT_REGION", "eu-west-1")],
        )
        .unwrap();
        assert_eq!(c.catalog.kind, CatalogKind::Glue);
        assert_eq!(c.aws.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(c.aws.region.as_deref(), Some("eu-west-1"));
        assert!(c.aws.s3_path_style, "an explicit endpoint defaults to path-style S3");
        let c = load_str("[aws]\nregion = \"us-east-2\"\n", vec![("AWS_REGION", "eu-west-1")]).unwrap();
        assert_eq!(c.aws.region.as_deref(), Some("us-east-2"), "the file wins over the AWS variables");
        assert!(!c.aws.s3_path_style);
        let e = load_str("[aws]\nendpoint = \"localhost:5000\"\n", vec![]).unwrap_err().to_string();
        assert!(e.contains("aws.endpoint"), "{e}");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("64MiB"), Some(64 << 20));
        assert_eq!(parse_bytes("1 GB"), Some(1_000_000_000));
        assert_eq!(parse_bytes("12"), Some(12));
        assert_eq!(parse_bytes("lots"), None);
    }
}
