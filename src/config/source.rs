//! `[source]`: where bronze's records come from.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::values::{Origin, absolute, config_enum};
use crate::error::Result;
use crate::model::ConsumerName;

config_enum! {
    /// Which source feeds bronze (`source.type`).
    pub enum SourceKind {
        /// A local directory of NDJSON files (the embedded default).
        Spool = "spool",
        /// An AWS Kinesis data stream (`source.stream` is its name).
        Kinesis = "kinesis",
    }
}

config_enum! {
    /// How Kinesis is read (`source.consumer`).
    pub enum ConsumerKind {
        /// GetRecords, sharing each shard's 2 MB/s with every other reader.
        Polling = "polling",
        /// Enhanced fan-out: SubscribeToShard through a registered consumer.
        Efo = "efo",
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    r#type: Option<SourceKind>,
    stream: Option<String>,
    spool_dir: Option<String>,
    poll_interval: Option<String>,
    shard_sync_interval: Option<String>,
    read_records: Option<i64>,
    start_position: Option<String>,
    stuck_after: Option<String>,
    consumer: Option<ConsumerKind>,
    consumer_name: Option<String>,
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

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub kind: SourceKind,
    pub start_position: StartPosition,
    pub stream: String,
    pub spool_dir: PathBuf,
    pub poll_interval: Duration,
    /// How often a Kinesis worker lists the stream's shards when nothing suggests a reshard (a
    /// shard read to its end, a lease for an unknown shard, make it list at once).
    pub shard_sync_interval: Duration,
    pub read_records: usize,
    /// A running shard whose reader got no answer for this long makes `/readyz` fail.
    pub stuck_after: Duration,
    /// `source.consumer = "efo"`: the enhanced fan-out consumer's name (`source.consumer_name`),
    /// registered on the stream once and shared by every worker. `None`: GetRecords polling.
    pub fan_out: Option<ConsumerName>,
}

impl RawSource {
    pub(super) fn validate(self, v: &Origin, warehouse: &Path, spool_flag: Option<PathBuf>) -> Result<SourceConfig> {
        let kind = self.r#type.unwrap_or(SourceKind::Spool);
        let stream = match (kind, self.stream) {
            (_, Some(s)) => s,
            (SourceKind::Spool, None) => "spool".to_string(),
            (SourceKind::Kinesis, None) => {
                return Err(v.err("source.stream", "source.type = \"kinesis\" needs the stream name"));
            }
        };
        crate::model::ShardId::new(stream.clone()).map_err(|e| v.err("source.stream", e.to_string()))?;
        let start_raw = self.start_position.unwrap_or_else(|| "trim_horizon".to_string());
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
        let poll_interval = v.duration("source.poll_interval", self.poll_interval, "1s")?;
        // a quiet shard waits up to five intervals (polling.rs): keep that a sane, finite wait
        if poll_interval > std::time::Duration::from_secs(600) {
            return Err(v.err("source.poll_interval", format!("expected at most 10m, got {poll_interval:?}")));
        }
        Ok(SourceConfig {
            kind,
            start_position,
            stream,
            spool_dir: absolute(
                &spool_flag.or(self.spool_dir.map(PathBuf::from)).unwrap_or_else(|| warehouse.join("spool")),
            ),
            poll_interval,
            shard_sync_interval: v.duration("source.shard_sync_interval", self.shard_sync_interval, "60s")?,
            read_records: v.count("source.read_records", self.read_records, 1_000, 1, read_max)? as usize,
            stuck_after: v.duration("source.stuck_after", self.stuck_after, "5m")?,
            fan_out: fan_out(v, kind, self.consumer, self.consumer_name)?,
        })
    }
}

/// `source.consumer` / `source.consumer_name` → the fan-out consumer's name, if any.
fn fan_out(
    v: &Origin,
    kind: SourceKind,
    consumer: Option<ConsumerKind>,
    name: Option<String>,
) -> Result<Option<ConsumerName>> {
    let efo = consumer.unwrap_or(ConsumerKind::Polling) == ConsumerKind::Efo;
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
