//! The decoder contract, written once: the control columns every decoder's output starts with,
//! the bad-row reasons, and the trait an input format implements.

use std::borrow::Cow;

use crate::bronze::encode::col;
use crate::iglu::Envelope;

/// The bad-row reasons a decoder gives.
pub mod reasons {
    pub const RECORD_TOO_LARGE: &str = "record_too_large";
    pub const EMPTY_RECORD: &str = "empty_record";
    pub const INVALID_UTF8: &str = "invalid_utf8";
    pub const INVALID_JSON: &str = "invalid_json";
    pub const NOT_AN_OBJECT: &str = "not_an_object";
    pub const MISSING_FIELD: &str = "missing_field";
    pub const WRONG_TYPE: &str = "wrong_type";
    /// An enriched event without exactly 131 tab-separated fields.
    pub const WRONG_FIELD_COUNT: &str = "wrong_field_count";
    pub const INVALID_NUMBER: &str = "invalid_number";
    pub const INVALID_BOOLEAN: &str = "invalid_boolean";
    pub const INVALID_TIMESTAMP: &str = "invalid_timestamp";
    /// JSON that is not `{"schema": "iglu:…", "data": …}` of the shape the field needs.
    pub const INVALID_SELF_DESCRIBING: &str = "invalid_self_describing";
    pub const CORRUPT_KPL_AGGREGATE: &str = "corrupt_kpl_aggregate";
    /// A defect the source recorded that this version does not know by name.
    pub const SOURCE_DEFECT: &str = "source_defect";
}

/// `_ord`: the record's place in the batch's read order (0, 1, …); the transform returns it so
/// every result row can be traced back to exactly one bronze record.
pub const ORD: &str = "_ord";
/// `_error`: the first failure the decoder found (a [`reasons`] value), NULL when decoded.
pub const ERROR: &str = "_error";
/// `_error_detail`: what exactly failed (the field, the parser's message).
pub const ERROR_DETAIL: &str = "_error_detail";

/// The columns every decoder's output starts with, in order: [`ORD`], [`ERROR`],
/// [`ERROR_DETAIL`], then the bronze lineage (shard, sequence number, sub-sequence).
pub const CONTROL_COLUMNS: [&str; 6] =
    [ORD, ERROR, ERROR_DETAIL, col::SHARD_ID, col::SEQUENCE_NUMBER, col::SUB_SEQUENCE];

/// Why a record was rejected: a [`reasons`] value and a detail.
pub type Rejection = (&'static str, String);

/// One input format: a UTF-8 record (already past the shared checks) → its fields.
pub trait RecordDecoder: std::fmt::Debug + Send + Sync {
    /// The text columns this format fills, in output order (after the control columns).
    fn columns(&self) -> &[String];
    /// Fill `values` (one slot per [`RecordDecoder::columns`], all `None` on entry) from one
    /// record, or reject it. Values may borrow from the record's text.
    fn decode_record<'a>(
        &self,
        text: &'a str,
        values: &mut [Option<Cow<'a, str>>],
    ) -> std::result::Result<(), Rejection>;
    /// The output columns (indexes into [`RecordDecoder::columns`]) that hold self-describing
    /// JSON, and of which envelope: what the data contracts check, when configured.
    fn envelopes(&self) -> &[(usize, Envelope)] {
        &[]
    }
}
