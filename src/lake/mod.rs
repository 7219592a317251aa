//! Lake operations: what keeps the tables healthy beside a running loader. Each is one commit
//! (or one pointer swap) built by `catalog::commit`/`catalog::rewrite`, so each is safe beside
//! `floe run`: the catalog's compare-and-swap orders them with the loader's commits.
//!
//! - [`backfill`]: the silver transform again over the bronze of a range of days (fill or overwrite).
//! - [`compact`]: bin-pack small files per partition (a `replace` snapshot).
//! - [`days`]: day partitions of a range (which rows, which files).
//! - [`expire`]: remove old snapshots from the metadata, then the files only they referenced.
//! - [`explain`]: where one event is (row, data file, snapshot, bronze records, bad rows).
//! - [`forget`]: erasure — a person's rows out of the tables, bad rows and bronze, files deleted.
//! - [`import`]: a raw archive staged as an import spool, loaded by the ordinary pipeline.
//! - [`orphans`]: delete files under a table no snapshot references (older than a threshold).
//! - [`replay`]: a window of a Kinesis shard re-read into bronze, only what no object holds.
//! - [`reach`]: which files a set of snapshots references.

pub mod backfill;
pub mod compact;
pub mod days;
pub mod expire;
pub mod explain;
pub mod forget;
pub mod import;
pub mod orphans;
pub mod reach;
pub mod replay;
