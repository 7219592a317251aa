//! floe — a lakehouse loader: stream → bronze objects → Iceberg tables, exactly once.
//!
//! ```text
//!  source ──► bronze writer ──► bronze objects ──► silver job ──► Iceberg data files ──► catalog commit
//!  (records +  (Parquet/JSONL,    (immutable,        (decode, check,  (iceberg writers)     (fast-append + per-shard
//!   positions)  deterministic key) replayable log)    dedup, SQL)                            watermark in the summary)
//!                    │
//!                    └─► checkpoint (shard position, only after the object is durable)
//! ```
//!
//! Data flows one way; each stage hands the next a value. `source` and `bronze` never import
//! `silver` or `catalog`; `silver` never commits; only `catalog` talks to a catalog.

pub mod aws;
pub mod bronze;
pub mod catalog;
pub mod checkpoint;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod crashpoint;
pub mod error;
pub mod http;
pub mod model;
pub mod shutdown;
pub mod silver;
pub mod source;
pub mod telemetry;
