//! The long-running parts of `floe run`, each in its own file; `cmd::run` wires them together.
//!
//! - [`supervise`]: the one shard-supervision loop (spawn, join, drain) both sources share.
//! - [`spool`], [`kinesis`]: what each source does in a round of that loop.
//! - [`pipelines`]: one shard's reader and bronze writer, joined.
//! - [`resume`]: where a shard starts reading (checkpoint, reshard child, start position).
//! - [`silver`]: the silver loop — batch values from the silver job, committed by the catalog's
//!   committer, with back-off on passing failures.
//! - [`readiness`]: what `/readyz` is told (catalog answering, lease table, stuck shards).

pub mod compaction;
pub mod kinesis;
pub mod pipelines;
pub mod readiness;
pub mod resume;
pub mod silver;
pub mod spool;
pub mod supervise;
