//! The checks every input format shares, in the order a record meets them: the size limit, a
//! defect the source found, an empty record, valid UTF-8.

use super::contract::{Rejection, reasons};
use crate::source::Defect;

/// The record as text, or why it cannot be decoded by any format.
pub(super) fn text<'a>(raw: &'a [u8], defect: Option<&str>, max_record_bytes: u64) -> Result<&'a str, Rejection> {
    if raw.len() as u64 > max_record_bytes {
        return Err((
            reasons::RECORD_TOO_LARGE,
            format!("{} bytes, limit {} (silver.max_record_bytes)", raw.len(), max_record_bytes),
        ));
    }
    if let Some(d) = defect {
        return Err(match Defect::from_reason(d) {
            Some(Defect::CorruptKplAggregate) => (
                reasons::CORRUPT_KPL_AGGREGATE,
                "a KPL aggregate that could not be split (bad MD5 or protobuf body)".to_string(),
            ),
            // written by a newer floe that knows a defect this one does not
            None => (reasons::SOURCE_DEFECT, format!("the source marked the record: {d}")),
        });
    }
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err((reasons::EMPTY_RECORD, "the record has no content".to_string()));
    }
    std::str::from_utf8(raw).map_err(|e| (reasons::INVALID_UTF8, format!("invalid UTF-8 at byte {}", e.valid_up_to())))
}
