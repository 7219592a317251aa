//! Durable shard positions. A checkpoint says "every record of this shard up to and including
//! this position is in a durable bronze object"; a consumer resumes *after* it.
//!
//! - [`local`]: one JSON file, for the embedded default (one worker per stream).
//! - [`dynamodb`]: a lease table shared by several workers; a checkpoint is written only by the
//!   shard's lease holder.

//! - [`shard_checkpoint`]: the record kept per shard; [`store`]: the store a writer uses.

pub mod dynamodb;
mod dynamodb_item;
mod dynamodb_setup;
pub mod local;
pub mod shard_checkpoint;
pub mod store;

pub use shard_checkpoint::ShardCheckpoint;
pub use store::Checkpoints;
