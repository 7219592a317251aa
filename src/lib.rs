//! floe — a lakehouse loader: stream → bronze objects → Iceberg tables, exactly once.
//!
//! ```text
//!  source ──► bronze writer ──► bronze objects ──► silver job ──► SilverBatch ──────► catalog::Committer
//!  (records +  (Parquet/JSONL,    (immutable,        (decode, check,  (data files written, (watermark re-check,
//!   positions,  deterministic key) replayable log)    dedup, SQL)      progress per shard)  fast-append + per-shard
//!   defects)         │                                                                    watermark, retry)
//!                    └─► checkpoint (shard position, only after the object is durable)
//! ```
//!
//! Data flows one way; each stage hands the next a value. `source` and `bronze` never import
//! `silver` or `catalog`; `silver` ends a batch in a value and never commits; only `catalog`
//! talks to a catalog. `daemon` holds the long-running loops (shard supervision, the silver
//! loop, readiness) and `cmd::run` wires them: the only places that see every stage.

pub mod aws;
pub mod bronze;
pub mod catalog;
pub mod checkpoint;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod crashpoint;
pub mod daemon;
pub mod error;
pub mod http;
pub mod iglu;
pub mod lake;
pub mod model;
#[cfg(test)]
mod properties;
pub mod retry;
pub mod shutdown;
pub mod silver;
pub mod source;
pub mod storage;
pub mod telemetry;
