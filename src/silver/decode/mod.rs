//! Decoders turn bronze records into text columns that the SQL transform can type and check.
//! They apply the structural part of the contract (is it UTF-8, JSON, an object; are required
//! fields there with the right JSON type) and record the first failure per record instead of
//! failing the batch.
//!
//! The contract every decoder meets is written once, in [`contract`]: the output starts with the
//! [`CONTROL_COLUMNS`] (read order, the first failure, lineage), then one nullable text column
//! per field the format yields ([`RecordDecoder::columns`]). The checks every format shares —
//! the size limit, empty records, a defect the source found (a corrupt KPL aggregate), valid
//! UTF-8 — run once in [`Decoder`], before a format sees the record.
//!
//! - [`contract`]: the control columns, the reasons, the [`RecordDecoder`] trait (a leaf).
//! - [`decoder`]: [`Decoder`], the contract around one format; [`prechecks`]: the shared checks.
//!
//! To add a format: a [`RecordDecoder`] in its own file, a [`crate::catalog::tables::DecoderKind`] variant, and its arm
//! in [`Decoder::for_table`] (`decoder.rs`).
//!
//! - [`json`]: one JSON object per record (the `events` input contract), taken apart by
//!   [`json_scan`] without building a tree.
//! - [`snowplow`]: one Snowplow enriched event (131 tab-separated atomic fields) per record, each
//!   value checked against its Snowplow type by [`atomic`].

pub mod atomic;
pub mod contract;
pub mod decoder;
pub mod json;
pub mod json_scan;
mod prechecks;
pub mod snowplow;

pub use contract::{CONTROL_COLUMNS, ERROR, ERROR_DETAIL, ORD, RecordDecoder, Rejection, reasons};
pub use decoder::Decoder;
