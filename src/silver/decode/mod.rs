//! Decoders turn bronze records into text columns that the SQL transform can type and check.
//! They apply the structural part of the contract (is it UTF-8, JSON, an object; are required
//! fields there with the right JSON type) and record the first failure per record instead of
//! failing the batch.
//!
//! - [`json`]: one JSON object per record (the `events` input contract).

pub mod json;

/// The bad-row reasons a decoder gives.
pub mod reasons {
    pub const RECORD_TOO_LARGE: &str = "record_too_large";
    pub const EMPTY_RECORD: &str = "empty_record";
    pub const INVALID_UTF8: &str = "invalid_utf8";
    pub const INVALID_JSON: &str = "invalid_json";
    pub const NOT_AN_OBJECT: &str = "not_an_object";
    pub const MISSING_FIELD: &str = "missing_field";
    pub const WRONG_TYPE: &str = "wrong_type";
    pub const CORRUPT_KPL_AGGREGATE: &str = "corrupt_kpl_aggregate";
}
