//! The Kinesis source.
//!
//! - [`api`]: the only module that touches `aws-sdk-kinesis`; typed failure classification.
//! - [`reader`]: read one shard, by polling or enhanced fan-out:
//!   - [`polling`]: GetRecords loop (pacing, back-off, expired iterators);
//!   - [`fanout`]: SubscribeToShard loop (renewed as the service ends it);
//!   - [`handover`]: what both share — pages to the bronze writer (KPL split, checkpoint
//!     filter, SHARD_END), read options, back-off.
//! - [`coordinator`]: which shards this worker reads each round (alone, or by leases), lease
//!   renewal and release; [`lease`] is the balancing policy it applies.
//! - [`kpl`]: splitting KPL-aggregated records into their user records.
//! - [`shards`]: which shards may be read now (children only after their parents ended).

pub mod api;
pub mod coordinator;
pub mod fanout;
pub mod handover;
pub mod kpl;
pub mod lease;
pub mod polling;
pub mod reader;
pub mod shards;
