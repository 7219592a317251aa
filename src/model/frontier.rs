//! How far into bronze's time-partitioned layout each shard of a table has been read: the hour
//! partition (`dt=…/hr=…`) of the newest bronze object consumed per shard.
//!
//! Silver lists bronze from here instead of from the beginning of the stream: a shard's records
//! arrive in sequence order, so an object past a shard's watermark sits in that shard's frontier
//! hour or later (see `silver/discover.rs` for the margin and what happens when a shard has none).

use std::collections::BTreeMap;

use super::ShardId;

/// Snapshot-summary prefix of a shard's frontier: `floe.bronze-hour.<shard> = YYYY-MM-DDTHH`.
pub const FRONTIER_PREFIX: &str = "floe.bronze-hour.";

/// An hour partition of bronze: hours since 1970-01-01T00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hour(pub i64);

impl Hour {
    /// The hour of `YYYY-MM-DD` and `HH` (a bronze key's `dt` and `hr`).
    pub fn from_partition(date: &str, hour: &str) -> Option<Hour> {
        let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        let h: i64 = hour.parse().ok().filter(|h| (0..24).contains(h))?;
        let days = day.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days();
        Some(Hour(days * 24 + h))
    }

    pub fn of_micros(micros: i64) -> Hour {
        Hour(micros.div_euclid(3_600_000_000))
    }

    pub fn now() -> Hour {
        Hour::of_micros(chrono::Utc::now().timestamp_micros())
    }

    /// `(YYYY-MM-DD, HH)`, the partition values of this hour.
    pub fn partition(self) -> (String, String) {
        let t = chrono::DateTime::from_timestamp(self.0 * 3600, 0).unwrap_or_default();
        (t.format("%Y-%m-%d").to_string(), t.format("%H").to_string())
    }

    pub fn minus(self, hours: i64) -> Hour {
        Hour(self.0 - hours)
    }
}

impl std::fmt::Display for Hour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (d, h) = self.partition();
        write!(f, "{d}T{h}")
    }
}

impl std::str::FromStr for Hour {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let (d, h) = s.split_once('T').ok_or(())?;
        Hour::from_partition(d, h).ok_or(())
    }
}

/// Per shard, the hour partition of the newest bronze object in a table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier(BTreeMap<ShardId, Hour>);

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn get(&self, shard: &ShardId) -> Option<Hour> {
        self.0.get(shard).copied()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&ShardId, &Hour)> {
        self.0.iter()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Move `shard` to `hour` unless it is there or later already.
    pub fn advance(&mut self, shard: &ShardId, hour: Hour) {
        if self.0.get(shard).is_none_or(|h| *h < hour) {
            self.0.insert(shard.clone(), hour);
        }
    }
    /// Each shard at the later of the two.
    pub fn merged_with(&self, other: &Frontier) -> Frontier {
        let mut out = self.clone();
        for (s, h) in other.iter() {
            out.advance(s, *h);
        }
        out
    }
    /// Per shard, the earlier of the two; a shard missing from either is unknown.
    pub fn lower_of(&self, other: &Frontier) -> Frontier {
        Frontier(self.0.iter().filter_map(|(s, a)| other.get(s).map(|b| (s.clone(), (*a).min(b)))).collect())
    }
    pub fn to_summary(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.0.iter().map(|(s, h)| (format!("{FRONTIER_PREFIX}{s}"), h.to_string()))
    }
    /// Take in the frontier of one snapshot summary (the later hour per shard); entries that
    /// cannot be read are skipped (they only make a listing start earlier).
    pub fn absorb_summary<'a>(&mut self, props: impl IntoIterator<Item = (&'a String, &'a String)>) {
        for (k, v) in props {
            let Some(shard) = k.strip_prefix(FRONTIER_PREFIX) else { continue };
            if let (Ok(shard), Ok(h)) = (ShardId::new(shard), v.parse::<Hour>()) {
                self.advance(&shard, h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_round_trip_through_partitions_and_text() {
        let h = Hour::from_partition("2026-12-01", "21").unwrap();
        assert_eq!(h.partition(), ("2026-12-01".to_string(), "21".to_string()));
        assert_eq!(h.to_string().parse::<Hour>(), Ok(h));
        assert_eq!(Hour::of_micros(1_764_622_800_000_000).to_string(), "2025-12-01T21");
        assert!(Hour::from_partition("2026-12-01", "24").is_none());
        assert!("2026-12-01".parse::<Hour>().is_err());
    }

    #[test]
    fn frontiers_merge_up_and_lower_to_the_shards_both_know() {
        let (a, b) = (ShardId::new("a").unwrap(), ShardId::new("b").unwrap());
        let mut x = Frontier::new();
        x.advance(&a, Hour(10));
        x.advance(&a, Hour(9));
        x.advance(&b, Hour(3));
        let mut y = Frontier::new();
        y.advance(&a, Hour(7));
        assert_eq!(x.get(&a), Some(Hour(10)));
        assert_eq!(x.lower_of(&y).get(&a), Some(Hour(7)));
        assert_eq!(x.lower_of(&y).get(&b), None);
        assert_eq!(y.merged_with(&x).get(&a), Some(Hour(10)));
        let props: std::collections::HashMap<String, String> = x.to_summary().collect();
        let mut back = Frontier::new();
        back.absorb_summary(&props);
        assert_eq!(back, x);
    }
}
