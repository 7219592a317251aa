//! Silver: micro-batches of bronze objects past the table's watermark are decoded, checked,
//! deduplicated and cleaned by the table's SQL transform, and handed to the catalog as one
//! commit per table that also carries the new watermarks.
//!
//! - [`discover`]: which bronze objects the next batch reads.
//! - [`decode`]: records → text columns, with structural contract checks.
//! - [`sql`]: the `sql/<table>.sql` transforms.
//! - [`transform`]: result rows → table rows, bad rows, dedup drops.
//! - [`writer`]: rows → Iceberg data files.
//! - [`job`]: one batch end to end, and the loop around it.

pub mod decode;
pub mod discover;
pub mod job;
pub mod sql;
pub mod transform;
pub mod writer;
