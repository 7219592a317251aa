//! Bronze: raw records become immutable, replayable objects with deterministic keys, and only
//! then does the shard checkpoint move.
//!
//! - [`batcher`]: when an open batch becomes an object (size / count / age).
//! - [`encode`]: the bronze columns in Parquet or JSON lines, and back.
//! - [`layout`]: object keys ⇄ shard ranges.
//! - [`store`]: the object store behind a `file://` or `s3://` URL.
//! - [`writer`]: the per-shard task: batch, write, checkpoint.

pub mod batcher;
pub mod encode;
pub mod layout;
pub mod store;
pub mod writer;
