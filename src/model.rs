//! Newtypes for the things the pipeline passes between stages, so a shard id is never confused
//! with a table name and a sequence number is never compared as a plain string.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};

mod frontier;
mod reach;
pub mod snowplow;
pub use frontier::{FRONTIER_PREFIX, Frontier, Hour};
pub use reach::SilverReach;

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

/// The name of an enhanced fan-out consumer as configured (`source.consumer_name`): what floe
/// registers on the stream. Kinesis allows 1-128 characters of `[a-zA-Z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerName(String);

impl ConsumerName {
    pub fn new(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        if s.is_empty() || s.len() > 128 || !s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
            return Err(Error::invalid(format!("expected 1-128 characters of letters, digits, _ . -, got {s:?}")));
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConsumerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The ARN Kinesis gave a registered consumer: what SubscribeToShard takes. Only the stream
/// API hands these out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerArn(String);

impl ConsumerArn {
    pub fn from_service(arn: impl Into<String>) -> Self {
        Self(arn.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConsumerArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Snapshot-summary prefix of a shard's watermark: `floe.watermark.<shard> = <seq>[.<sub>]`.
pub const WATERMARK_PREFIX: &str = "floe.watermark.";
/// Snapshot-summary prefix of the lease epoch that wrote a shard's bronze in that snapshot.
pub const LEASE_EPOCH_PREFIX: &str = "floe.lease-epoch.";
/// Snapshot-summary property every floe commit writes beside its full watermark map: reading
/// progress stops at the newest snapshot that has it (one snapshot, not the whole ancestry).
pub const PROGRESS_MARKER: &str = "floe.progress";
/// Snapshot summary key prefix: `floe.silver-worker.<shard> = <worker id>`, the worker whose
/// silver last committed the shard (with leases; ADR 0018).
pub const WORKER_PREFIX: &str = "floe.silver-worker.";

impl std::str::FromStr for Position {
    type Err = Error;
    /// `seq` or `seq.sub` (the form [`Position`]'s `Display` writes and watermarks carry).
    fn from_str(s: &str) -> Result<Self> {
        let (seq, sub) = match s.split_once('.') {
            Some((a, b)) => (a, b.parse().map_err(|_| Error::invalid(format!("position {s:?}: bad sub-sequence")))?),
            None => (s, 0),
        };
        Ok(Position::new(SequenceNumber::new(seq)?, sub))
    }
}

/// Per shard, the last position that is in a table: the progress a table's snapshots carry.
///
/// One implementation for everything that reads or writes progress — silver planning, the
/// catalog's commits, `floe status` — so "past the watermark" means the same everywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watermarks(BTreeMap<ShardId, Position>);

impl Watermarks {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn get(&self, shard: &ShardId) -> Option<&Position> {
        self.0.get(shard)
    }
    pub fn contains(&self, shard: &ShardId) -> bool {
        self.0.contains_key(shard)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&ShardId, &Position)> {
        self.0.iter()
    }
    pub fn shards(&self) -> impl Iterator<Item = &ShardId> {
        self.0.keys()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Set `shard` to `pos`, whatever it was.
    pub fn set(&mut self, shard: ShardId, pos: Position) {
        self.0.insert(shard, pos);
    }
    /// Move `shard` to `pos` unless it is already there or further: a watermark never goes back.
    pub fn advance(&mut self, shard: &ShardId, pos: &Position) {
        if self.0.get(shard).is_none_or(|have| have < pos) {
            self.0.insert(shard.clone(), pos.clone());
        }
    }
    /// Whether `pos` of `shard` is not yet covered (a shard without a watermark covers nothing).
    pub fn is_past(&self, shard: &ShardId, pos: &Position) -> bool {
        self.0.get(shard).is_none_or(|w| pos > w)
    }
    /// Whether every shard of `ends` is covered up to its position.
    pub fn covers(&self, ends: &Watermarks) -> bool {
        ends.iter().all(|(s, end)| self.get(s).is_some_and(|w| w >= end))
    }
    /// Per shard, the lower of the two (a shard missing from either has none): where a reader
    /// of both tables must start.
    pub fn lower_of(&self, other: &Watermarks) -> Watermarks {
        self.iter().filter_map(|(s, a)| other.get(s).map(|b| (s.clone(), a.clone().min(b.clone())))).collect()
    }
    /// Only the shards that `to` names.
    pub fn restricted_to(&self, to: &Watermarks) -> Watermarks {
        self.iter().filter(|(s, _)| to.contains(s)).map(|(s, p)| (s.clone(), p.clone())).collect()
    }
    /// Each shard at the maximum of the two.
    pub fn merged_with(&self, other: &Watermarks) -> Watermarks {
        let mut out = self.clone();
        for (s, p) in other.iter() {
            out.advance(s, p);
        }
        out
    }
    /// The snapshot-summary properties that carry this map.
    pub fn to_summary(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.iter().map(|(s, p)| (format!("{WATERMARK_PREFIX}{s}"), p.to_string()))
    }
    /// Take in the watermarks of one snapshot summary (maximum per shard). Returns the
    /// `floe.watermark.*` entries that could not be read, for the caller to report.
    pub fn absorb_summary<'a>(
        &mut self,
        props: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Vec<(&'a String, &'a String)> {
        let mut unreadable = Vec::new();
        for (k, v) in props {
            let Some(shard) = k.strip_prefix(WATERMARK_PREFIX) else { continue };
            match (ShardId::new(shard), v.parse::<Position>()) {
                (Ok(shard), Ok(pos)) => self.advance(&shard, &pos),
                _ => unreadable.push((k, v)),
            }
        }
        unreadable
    }
}

impl FromIterator<(ShardId, Position)> for Watermarks {
    fn from_iter<I: IntoIterator<Item = (ShardId, Position)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl IntoIterator for Watermarks {
    type Item = (ShardId, Position);
    type IntoIter = std::collections::btree_map::IntoIter<ShardId, Position>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

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

    #[test]
    fn watermark_values_round_trip() {
        let p: Position = "49650000000000000000000000001.3".parse().unwrap();
        assert_eq!(p.sub, 3);
        assert_eq!(p.to_string(), "49650000000000000000000000001.3");
        assert_eq!("17".parse::<Position>().unwrap().to_string(), "17");
        assert!("x".parse::<Position>().is_err());
        assert!("1.x".parse::<Position>().is_err());
    }

    #[test]
    fn watermarks_take_the_maximum_and_survive_a_summary_round_trip() {
        let s = |x: &str| ShardId::new(x).unwrap();
        let p = |n: u64| Position::new(SequenceNumber::from_u64(n), 0);
        let mut w: Watermarks = [(s("a"), p(10)), (s("b"), p(5))].into_iter().collect();
        w.advance(&s("a"), &p(7));
        assert_eq!(w.get(&s("a")), Some(&p(10)), "never moves back");
        let props: HashMap<String, String> = w.to_summary().chain([("floe.watermark.c".into(), "x".into())]).collect();
        let mut back = Watermarks::new();
        let bad = back.absorb_summary(&props);
        assert_eq!(back, w);
        assert_eq!(bad.len(), 1);
        let other: Watermarks = [(s("a"), p(3))].into_iter().collect();
        assert_eq!(w.lower_of(&other), other);
        assert!(w.covers(&other) && !other.covers(&w));
        assert!(w.is_past(&s("z"), &p(0)) && !w.is_past(&s("b"), &p(5)));
    }
}
