//! Sources yield batches of raw records with their positions. They know nothing of bronze
//! objects, S3 or Iceberg: the bronze writer decides when records become durable.
//!
//! - [`files`]: a local spool directory of NDJSON files (a file is a shard, a line's byte offset
//!   its sequence number), the embedded default.
//! - [`generator`]: synthetic product-analytics events written into a spool (demo, tests, benchmarks).

pub mod activity;
pub mod files;
pub mod generator;
pub mod kinesis;

use bytes::Bytes;

use crate::model::{Position, ShardId};

/// One record as received, with where it sits in its shard.
#[derive(Debug, Clone)]
pub struct Record {
    pub data: Bytes,
    pub position: Position,
    pub partition_key: String,
    /// When the source received it (Kinesis ApproximateArrivalTimestamp; the spool file's
    /// modification time). Stable across re-reads, so bronze keys are too.
    pub arrival_ts_micros: i64,
    /// What the source found wrong with the record, if anything: the record is still handed on
    /// (and kept in bronze byte for byte) so that silver makes it a bad row with this reason.
    pub defect: Option<Defect>,
}

/// A fault the source detected in a record it could not take apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Defect {
    /// A KPL aggregate whose MD5 or protobuf body is wrong: kept whole, unsplit.
    CorruptKplAggregate,
}

impl Defect {
    /// The bad-row reason (and the bronze `defect` column's value).
    pub fn reason(self) -> &'static str {
        match self {
            Defect::CorruptKplAggregate => "corrupt_kpl_aggregate",
        }
    }
    pub fn from_reason(s: &str) -> Option<Self> {
        [Defect::CorruptKplAggregate].into_iter().find(|d| d.reason() == s)
    }
}

/// What one read of a shard returned. `end_of_shard` means no record will ever follow.
#[derive(Debug)]
pub struct ReadBatch {
    pub shard: ShardId,
    pub records: Vec<Record>,
    pub end_of_shard: bool,
    /// Bytes of input consumed by this read (for progress reporting).
    pub bytes_read: u64,
}
