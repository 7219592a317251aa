//! `[checkpoint]`: where shard positions live — a local file (one worker), or a DynamoDB lease
//! table shared by every worker of the stream.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::source::SourceKind;
use super::values::{Origin, absolute, config_enum};
use crate::error::Result;

config_enum! {
    /// `checkpoint.type`.
    pub enum CheckpointType {
        Local = "local",
        Dynamodb = "dynamodb",
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheckpoint {
    r#type: Option<CheckpointType>,
    path: Option<String>,
    table: Option<String>,
    lease_duration: Option<String>,
    worker_id: Option<String>,
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

impl RawCheckpoint {
    /// The checkpoint kind and the local file's path (used by the local kind).
    pub(super) fn validate(
        self,
        v: &Origin,
        warehouse: &Path,
        source: SourceKind,
    ) -> Result<(CheckpointKind, PathBuf)> {
        let path = absolute(&self.path.map(PathBuf::from).unwrap_or_else(|| warehouse.join("checkpoints.json")));
        let kind = match self.r#type.unwrap_or(CheckpointType::Local) {
            CheckpointType::Dynamodb => {
                if source != SourceKind::Kinesis {
                    return Err(v.err(
                        "checkpoint.type",
                        "DynamoDB leases share a Kinesis stream: set source.type = \"kinesis\" (a local spool has one reader)",
                    ));
                }
                let table = self.table.filter(|t| !t.is_empty()).ok_or_else(|| {
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
                let lease_duration = v.duration("checkpoint.lease_duration", self.lease_duration, "10s")?;
                if lease_duration < Duration::from_secs(1) {
                    return Err(v.err("checkpoint.lease_duration", "at least 1s (renewals run every third of it)"));
                }
                let worker_id = match self.worker_id.filter(|w| !w.is_empty()) {
                    Some(w) => w,
                    None => default_worker_id(),
                };
                CheckpointKind::DynamoDb(LeaseSettings { table, lease_duration, worker_id })
            }
            CheckpointType::Local => {
                if self.table.is_some() {
                    return Err(v.err("checkpoint.table", "only used by checkpoint.type = \"dynamodb\""));
                }
                CheckpointKind::Local
            }
        };
        Ok((kind, path))
    }
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
