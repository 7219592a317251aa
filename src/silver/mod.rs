//! Silver: micro-batches of bronze objects past the table's watermark are decoded, checked,
//! deduplicated and cleaned by the table's SQL transform, and end in a value — data files plus
//! the progress they make — that the catalog side commits. Silver never commits.
//!
//! - [`discover`]: which bronze objects the next round reads, and which hours to list.
//! - [`read`]: fetching them, keeping only the records past the watermarks.
//! - [`decode`]: records → text columns, with structural contract checks (one decoder per format).
//! - [`dedup`], [`seen`], [`dedup_read`]: the committed ids of the lookback window, kept across
//!   batches and in step with the table; [`dedup_rebase`]: no id committed by two workers at once.
//! - [`sql`]: the `sql/<table>.sql` transforms; [`entities`]: one typed column per Iglu schema.
//! - [`transform`]: result rows → table rows, bad rows, dedup drops.
//! - [`writer`]: rows → Iceberg data files; [`metrics_mode`]: no column bounds for identifier columns.
//! - [`scope`]: with leases, the shards this worker's silver reads and how far it has them.
//! - [`job`]: one round end to end, into a [`pending`] commit; [`batch`]: the value it ends in.

pub mod batch;
pub mod decode;
pub mod dedup;
pub mod dedup_read;
pub mod dedup_rebase;
pub mod discover;
pub mod entities;
pub mod job;
pub mod metrics_mode;
pub mod pending;
pub mod read;
pub mod scope;
pub mod seen;
pub mod seen_runs;
pub mod sql;
pub mod table_files;
pub mod transform;
pub mod writer;
