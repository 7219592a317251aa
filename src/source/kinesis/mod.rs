//! The Kinesis source (in progress: issue 3). So far:
//!
//! - [`kpl`]: splitting KPL-aggregated records into their user records.

pub mod kpl;
