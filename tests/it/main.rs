//! The one integration-test binary (one heavy link). Each module drives the real `floe` binary.

mod bad_input;
mod cli;
mod commit;
mod fanout;
mod glue;
mod kinesis;
mod kpl;
mod ops;
mod pipeline;
mod rest;
mod restart;
mod support;
