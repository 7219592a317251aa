//! The one integration-test binary (one heavy link). Each module drives the real `floe` binary
//! (the golden SQL suite drives the library's decoder and transform directly).

// Test support code reports a broken environment or a failed expectation by panicking, and
// kills its child processes on drop whether or not they already exited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::let_underscore_must_use)]

mod bad_input;
mod bad_stream;
mod cli;
mod commit;
mod dedup;
mod endpoints;
mod fanout;
mod faults;
mod glue;
mod gold;
mod golden;
mod iglu;
mod kinesis;
mod kpl;
mod lake;
mod ops;
mod pipeline;
mod replay;
mod rest;
mod restart;
mod scale_out;
mod schema_columns;
mod snowplow;
mod split_brain;
mod support;
mod torture;
