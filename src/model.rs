//! Newtypes for the things the pipeline passes between stages, so a shard id is never confused
//! with a table name and a sequence number is never compared as a plain string.

use std::cmp::Ordering;
use std::fmt;

use crate::error::{Error, Result};

/// A shard of the source stream (a Kinesis shard id, or a spool file's stem). Only characters that
/// are safe in an object key and a snapshot-summary property name are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(String);

impl ShardId {
    pub fn new(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if ok && s != "." && s != ".." {
            Ok(Self(s))
        } else {
            Err(Error::invalid(format!(
                "shard id {s:?}: only ASCII letters, digits, '-', '_' and '.' are allowed (1-128 chars)"
            )))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A record's sequence number within its shard: a decimal string of up to 129 digits (Kinesis),
/// or a byte offset (spool files). Ordered numerically — by length, then digits — never as a
/// string and never squeezed into an integer type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SequenceNumber(String);

impl SequenceNumber {
    pub fn new(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        if s.is_empty() || s.len() > 129 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(format!("sequence number {s:?}: expected 1 to 129 decimal digits")));
        }
        // Canonical form without leading zeros, so equal numbers have equal strings (keys, maps).
        let trimmed = s.trim_start_matches('0');
        Ok(Self(if trimmed.is_empty() { "0".to_string() } else { trimmed.to_string() }))
    }
    pub fn from_u64(n: u64) -> Self {
        Self(n.to_string())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The value as u64 when it fits: spool offsets always do.
    pub fn to_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.cmp(&other.0))
    }
}
impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A record's place in its shard: the sequence number plus the KPL sub-sequence (0 for
/// records that were not aggregated).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub seq: SequenceNumber,
    pub sub: u64,
}

impl Position {
    pub fn new(seq: SequenceNumber, sub: u64) -> Self {
        Self { seq, sub }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sub == 0 { write!(f, "{}", self.seq) } else { write!(f, "{}.{}", self.seq, self.sub) }
    }
}

/// A name of a table in the catalog (also the stem of its `catalog/*.toml` and `sql/*.sql`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName(String);

impl TableName {
    pub fn new(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(s))
        } else {
            Err(Error::invalid(format!(
                "table name {s:?}: use lower-case letters, digits and '_', starting with a letter"
            )))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(s: &str) -> SequenceNumber {
        SequenceNumber::new(s).unwrap()
    }

    #[test]
    fn sequence_numbers_compare_numerically_not_as_strings() {
        assert!(seq("9") < seq("10"));
        assert!(seq("49650000000000000000000000099") < seq("49650000000000000000000000100"));
        assert!(seq("0009") == seq("9"));
        assert_eq!(seq("000").as_str(), "0");
        let long = "1".repeat(129);
        assert!(seq(&long) > seq(&"9".repeat(128)));
    }

    #[test]
    fn sequence_numbers_reject_garbage() {
        assert!(SequenceNumber::new("").is_err());
        assert!(SequenceNumber::new("12a").is_err());
        assert!(SequenceNumber::new("-1").is_err());
        assert!(SequenceNumber::new("1".repeat(130)).is_err());
    }

    #[test]
    fn positions_order_by_sequence_then_sub_sequence() {
        let a = Position::new(seq("10"), 2);
        let b = Position::new(seq("10"), 3);
        let c = Position::new(seq("9"), 99);
        assert!(c < a && a < b);
        assert_eq!(b.to_string(), "10.3");
        assert_eq!(Position::new(seq("7"), 0).to_string(), "7");
    }

    #[test]
    fn shard_ids_are_key_safe() {
        assert!(ShardId::new("shardId-000000000001").is_ok());
        assert!(ShardId::new("a/b").is_err());
        assert!(ShardId::new("..").is_err());
        assert!(ShardId::new("").is_err());
    }
}
