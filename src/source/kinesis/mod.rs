//! The Kinesis source.
//!
//! - [`api`]: the only module that touches `aws-sdk-kinesis`; typed failure classification.
//! - [`consumer`]: one shard's polling loop (pacing, back-off, expired iterators, KPL split).
//! - [`fanout`]: one shard's enhanced fan-out loop (SubscribeToShard, renewed as the service ends it).
//! - [`lease`]: which leases a worker takes when several share the stream (balancing, expiry).
//! - [`kpl`]: splitting KPL-aggregated records into their user records.
//! - [`shards`]: which shards may be read now (children only after their parents ended).

pub mod api;
pub mod consumer;
pub mod fanout;
pub mod kpl;
pub mod lease;
pub mod shards;
