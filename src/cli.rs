//! The command line. Every subcommand's `--help` explains it with an example.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "floe",
    version,
    about = "Kinesis → S3 bronze → Apache Iceberg silver, exactly once",
    long_about = "floe drains a stream into raw bronze objects, then cleans, validates and deduplicates them \
into Apache Iceberg tables, committing each batch's progress in the same snapshot (exactly-once).\n\n\
With no configuration it runs the embedded default: a local spool directory as the source, and a \
local warehouse with Iceberg's SQL catalog on SQLite, all under ./floe-data.\n\n\
Try:  floe run --demo"
)]
pub struct Cli {
    /// Configuration file (TOML). Without it, the embedded default applies.
    #[arg(long, global = true, env = "FLOE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Local warehouse directory (catalog, tables, bronze, checkpoints) [default: ./floe-data]
    #[arg(long, global = true, value_name = "DIR")]
    pub warehouse: Option<PathBuf>,
    /// Spool directory of NDJSON files to load [default: <warehouse>/spool]
    #[arg(long, global = true, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// Log format on stderr; the level comes from RUST_LOG (default: info for floe).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the loader: bronze (source → raw objects) and silver (raw objects → Iceberg tables).
    #[command(
        after_help = "Examples:\n  floe run --demo                         # generate 1M events and load them\n  floe run --until-idle --spool ./incoming  # load what is there, then exit\n  floe run --config floe.toml               # daemon; stops cleanly on SIGTERM"
    )]
    Run(RunArgs),
    /// Write synthetic product-analytics events (with duplicates and malformed records) into the spool.
    #[command(
        after_help = "Examples:\n  floe generate --events 100000 --shards 4 --duplicate-rate 0.02 --malformed-rate 0.01\n  floe generate --format snowplow-enriched-tsv --events 100000   # for table snowplow_events"
    )]
    Generate(GenerateArgs),
    /// Run SQL over the catalog's tables and print the result.
    #[command(
        after_help = "Examples:\n  floe query --file sql/gold/sessions.sql --source snowplow_events\n  floe query \"SELECT event, count(*) AS n FROM events GROUP BY event ORDER BY n DESC\"\n  floe query --format csv \"SELECT reason, count(*) FROM events_bad GROUP BY reason\"\n  floe query --as-of 2026-12-01T10:00:00Z \"SELECT count(*) FROM events\""
    )]
    Query(QueryArgs),
    /// Per-shard checkpoint, watermark and backlog; per-table totals.
    #[command(after_help = "Example:\n  floe status --json")]
    Status(StatusArgs),
    /// Validate the configuration, the table definitions and the SQL transforms; writes nothing.
    #[command(after_help = "Example (in CI before a deploy):\n  floe check --config floe.toml")]
    Check,
    /// Create the namespace and the tables that are missing; add new optional columns.
    #[command(after_help = "Example:\n  floe init --config floe.toml")]
    Init,
    /// Bin-pack small data files per partition into files near the target size (one replace
    /// snapshot per table; the rows and the loader's progress do not change). Safe beside `floe run`.
    #[command(
        after_help = "Examples:\n  floe compact --dry-run                      # what would be rewritten\n  floe compact --table events --target-file-size 256MiB\n  floe compact --partition event_date=2026-11-30 --json"
    )]
    Compact(CompactArgs),
    /// Run the silver transform again over the bronze of a range of days: fill in what is
    /// missing (default), or with --overwrite replace those days' partitions by freshly
    /// transformed rows (after fixing sql/). Safe beside `floe run`.
    #[command(
        after_help = "Examples:\n  floe backfill --from 2026-11-28 --to 2026-11-30 --dry-run\n  floe backfill --from 2026-11-30 --to 2026-11-30 --overwrite --table events"
    )]
    Backfill(BackfillArgs),
    /// Erase a person: remove their rows from the tables, the bad rows and bronze (copy-on-write),
    /// expire the history that still references the old files and delete those files.
    #[command(
        after_help = "Examples:\n  floe forget --where \"user_id = 'u-123'\" --dry-run\n  floe forget --where \"user_id IN ('u-1', 'u-2')\"\n  floe forget --ids-file requests.txt --column user_id   # one value per line"
    )]
    Forget(ForgetArgs),
    /// Where one event is: its row and data file and the snapshot that added it, the bronze
    /// records that carried it (object and position) and what became of each — the row, a dedup
    /// drop, a bad row with its reason.
    #[command(
        after_help = "Examples:\n  floe explain 6f1c3e2a-8d7b-4a51-9c0e-2b7d1f4a9e33\n  floe explain 6f1c… --since 2026-11-30 --json"
    )]
    Explain(ExplainArgs),
    /// Load an existing raw archive (a local directory or s3://bucket/prefix/ of JSON, JSONL,
    /// JSONL.gz or Parquet files) through bronze and silver: each file once, resumable after a crash.
    #[command(
        after_help = "Examples:\n  floe import ./seeds/raw --format jsonl.gz\n  floe import s3://archive/events/2026/11/ --dry-run"
    )]
    Import(ImportArgs),
    /// Read a window of the Kinesis stream again (from AT_TIMESTAMP) and write into bronze only
    /// the records no bronze object holds, under the ordinary keys; then take those to silver
    /// (what silver holds already is a dedup drop). Only what the loader has passed is replayed.
    #[command(
        after_help = "Examples:\n  floe replay --from-timestamp 2026-11-30T08:00:00Z --to-timestamp 2026-11-30T10:00:00Z --dry-run\n  floe replay --from-timestamp 2026-11-30T08:00:00Z --shard shardId-000000000003"
    )]
    Replay(ReplayArgs),
    /// Remove old snapshots from each table's metadata, then delete the manifests and data files
    /// only they referenced. Keeps every branch and tag head, the newest N, and the newest snapshot
    /// with floe's progress. Safe beside `floe run`.
    #[command(
        after_help = "Examples:\n  floe expire-snapshots --dry-run\n  floe expire-snapshots --older-than 7d --retain-last 10"
    )]
    ExpireSnapshots(ExpireArgs),
    /// Delete files under each table's location that no snapshot or metadata file references and
    /// that are older than the threshold (failed writes, abandoned commits).
    #[command(
        after_help = "Examples:\n  floe remove-orphans --dry-run\n  floe remove-orphans --older-than 3d --table events"
    )]
    RemoveOrphans(OrphanArgs),
    /// Exit 0 if the running floe's /healthz answers 200 (for container health checks).
    #[command(after_help = "Example (Dockerfile):\n  HEALTHCHECK CMD [\"floe\", \"healthcheck\"]")]
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// Port to ask [default: metrics.port from the configuration]
    #[arg(long)]
    pub port: Option<u16>,
    /// Ask /readyz instead of /healthz.
    #[arg(long)]
    pub ready: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Exit 0 once every source is drained and silver has caught up (batch mode).
    #[arg(long)]
    pub until_idle: bool,
    /// Generate events into the spool first, then load them until idle, with progress and a summary.
    #[arg(long)]
    pub demo: bool,
    /// How many events `--demo` generates.
    #[arg(long, default_value_t = 1_000_000, requires = "demo")]
    pub demo_events: u64,
    /// Bronze object format: parquet (default) or jsonl.
    #[arg(long, value_name = "FORMAT")]
    pub bronze_format: Option<String>,
    /// Run only the bronze stage (source → bronze objects).
    #[arg(long, conflicts_with = "silver_only")]
    pub bronze_only: bool,
    /// Run only the silver stage (bronze objects → tables).
    #[arg(long)]
    pub silver_only: bool,
    /// Print the end-of-run summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Number of spool files (each file is a shard).
    #[arg(long, default_value_t = 4)]
    pub shards: usize,
    /// Share of records that are exact re-sends of an earlier event.
    #[arg(long, default_value_t = 0.02)]
    pub duplicate_rate: f64,
    /// Share of records that are malformed (bad JSON, missing fields, bad timestamps, …).
    #[arg(long, default_value_t = 0.01)]
    pub malformed_rate: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Record format: json (table events) or snowplow-enriched-tsv (table snowplow_events).
    #[arg(long, value_enum, default_value = "json")]
    pub format: GenerateFormat,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum GenerateFormat {
    Json,
    SnowplowEnrichedTsv,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// SQL (DataFusion dialect). Tables are named by their name in the namespace (`events`).
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub sql: Option<String>,
    /// Run the SQL in this file instead, e.g. an analytics model of sql/gold/.
    #[arg(long, value_name = "PATH")]
    pub file: Option<std::path::PathBuf>,
    /// For a model that reads `gold_events`: the table it reads, through `_source_<TABLE>.sql`
    /// beside the model.
    #[arg(long, value_name = "TABLE", default_value = "events", requires = "file")]
    pub source: String,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Time travel: the tables as they were at this snapshot id or RFC 3339 time.
    #[arg(long, value_name = "SNAPSHOT_ID|TIME")]
    pub as_of: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long)]
    pub json: bool,
}

/// What every lake operation takes.
#[derive(Debug, Args)]
pub struct LakeArgs {
    /// Only this table (its name in the namespace, e.g. `events` or `events_bad`) [default: every floe table]
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// Print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON on stdout (no progress bar).
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Size the new files aim at.
    #[arg(long, value_name = "SIZE", default_value = "128MiB", value_parser = parse_size)]
    pub target_file_size: u64,
    /// Rewrite files smaller than this [default: 3/4 of the target size]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub small_below: Option<u64>,
    /// Compact a partition only when it has at least this many small files.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u64).range(2..))]
    pub min_files: u64,
    /// Only partitions whose path contains this (e.g. `event_date=2026-11-30`).
    #[arg(long, value_name = "PARTITION")]
    pub partition: Option<String>,
}

/// A size like `128MiB`, `64MB` or `1048576`.
fn parse_size(s: &str) -> Result<u64, String> {
    match crate::config::values::parse_bytes(s) {
        Some(0) => Err("must be more than 0".to_string()),
        Some(n) => Ok(n),
        None => Err(format!("expected a size like 128MiB, got {s:?}")),
    }
}

#[derive(Debug, Args)]
pub struct ExpireArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Expire snapshots older than this (Iceberg's default, 5 days).
    #[arg(long, value_name = "AGE", default_value = "5d", value_parser = parse_age)]
    pub older_than: std::time::Duration,
    /// Keep at least this many of the newest snapshots of the main branch.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub retain_last: u64,
}

#[derive(Debug, Args)]
pub struct OrphanArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Only files older than this; a younger unreferenced file may belong to a commit in flight.
    #[arg(long, value_name = "AGE", default_value = "3d", value_parser = parse_age)]
    pub older_than: std::time::Duration,
}

/// An age like `7d`, `36h` or `90min`.
fn parse_age(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("expected an age like 7d or 12h, got {s:?}: {e}"))
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// Only this table (and its bad-rows table) [default: every floe table]
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// First day (UTC) of the range: YYYY-MM-DD.
    #[arg(long, value_name = "DAY", value_parser = parse_day)]
    pub from: chrono::NaiveDate,
    /// Last day (UTC) of the range, included: YYYY-MM-DD.
    #[arg(long, value_name = "DAY", value_parser = parse_day)]
    pub to: chrono::NaiveDate,
    /// Replace the range's partitions (table and bad rows) with the freshly transformed rows.
    #[arg(long)]
    pub overwrite: bool,
    /// Print what would be added or replaced; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub quiet: bool,
}

fn parse_day(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|e| format!("expected a day like 2026-11-30, got {s:?}: {e}"))
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["where", "ids_file"])))]
pub struct ForgetArgs {
    /// Which rows: `column = 'value'` or `column IN ('a', 'b')` (joined by OR, one column).
    #[arg(long = "where", value_name = "CONDITION")]
    pub r#where: Option<String>,
    /// A request file: one value of --column per line.
    #[arg(long, value_name = "FILE")]
    pub ids_file: Option<PathBuf>,
    /// The column the request file's values are in.
    #[arg(long, default_value = "user_id", requires = "ids_file")]
    pub column: String,
    /// Only this table (and its bad-rows table) [default: every floe table]
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// Leave bronze as it is.
    #[arg(long)]
    pub no_bronze: bool,
    /// Do not expire the history: the old files stay (readable by time travel) until the next
    /// `floe expire-snapshots`.
    #[arg(long)]
    pub keep_history: bool,
    /// Count what would be removed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The event's id (the table's dedup key).
    pub event_id: String,
    /// The table [default: the first floe table, `events`]
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// Where to start searching bronze for an event with no row (a bad row) [default: all of it]
    #[arg(long, value_name = "DAY", value_parser = parse_day)]
    pub since: Option<chrono::NaiveDate>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A local directory or s3://bucket/prefix/.
    pub source: String,
    /// json | jsonl | jsonl.gz | parquet [default: by each file's extension]
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Load into bronze only (a running `floe run` takes it to silver).
    #[arg(long)]
    pub bronze_only: bool,
    /// List the files and their formats; load nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Start of the window: records that arrived at or after this (RFC 3339, or
    /// YYYY-MM-DDTHH:MM[:SS] in UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub from_timestamp: chrono::DateTime<chrono::Utc>,
    /// End of the window, excluded [default: up to the loader's checkpoints]
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub to_timestamp: Option<chrono::DateTime<chrono::Utc>>,
    /// Only this shard [default: every shard of the stream]
    #[arg(long, value_name = "SHARD")]
    pub shard: Option<String>,
    /// Write bronze only; leave silver to a later `floe backfill`.
    #[arg(long)]
    pub bronze_only: bool,
    /// Read the window and count what would be written; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub quiet: bool,
}

/// `2026-11-30T08:00:00Z`, `2026-11-30T09:00:00+01:00`, or `2026-11-30T08:00[:00]` (UTC).
fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("expected a time like 2026-11-30T08:00:00Z, got {s:?}"))
}
