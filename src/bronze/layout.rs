//! Bronze object keys ⇄ shard ranges.
//!
//! `{stream}/dt=YYYY-MM-DD/hr=HH/shard={shard_id}/{first_seq}-{last_seq}.{parquet|jsonl.gz}`,
//! below the bronze location's prefix. The date is the arrival time of the first record, which a
//! re-read gets again, so a retry after a crash writes the same key and overwrites instead of
//! adding a duplicate object.

use crate::config::BronzeFormat;
use crate::model::{Hour, SequenceNumber, ShardId};
use crate::source::Record;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BronzeKey {
    pub stream: String,
    pub shard: ShardId,
    pub first: SequenceNumber,
    pub last: SequenceNumber,
    /// `YYYY-MM-DD` and `HH` of the first record's arrival (UTC).
    pub date: String,
    pub hour: String,
    pub format: BronzeFormat,
}

impl BronzeKey {
    pub fn new(
        stream: &str,
        shard: ShardId,
        first: SequenceNumber,
        last: SequenceNumber,
        arrival_ts_micros: i64,
        format: BronzeFormat,
    ) -> Self {
        let t = chrono::DateTime::from_timestamp_micros(arrival_ts_micros).unwrap_or_default();
        Self {
            stream: stream.to_string(),
            shard,
            first,
            last,
            date: t.format("%Y-%m-%d").to_string(),
            hour: t.format("%H").to_string(),
            format,
        }
    }

    /// The key of an object holding `first` … `last` of `shard` (in sequence order).
    pub fn spanning(stream: &str, shard: &ShardId, first: &Record, last: &Record, format: BronzeFormat) -> Self {
        Self::new(
            stream,
            shard.clone(),
            first.position.seq.clone(),
            last.position.seq.clone(),
            first.arrival_ts_micros,
            format,
        )
    }

    /// The hour partition the key is in.
    pub fn hour_partition(&self) -> Option<Hour> {
        Hour::from_partition(&self.date, &self.hour)
    }

    /// The key relative to the bronze location.
    pub fn path(&self) -> String {
        format!(
            "{}/dt={}/hr={}/shard={}/{}-{}.{}",
            self.stream,
            self.date,
            self.hour,
            self.shard,
            self.first,
            self.last,
            self.format.extension()
        )
    }

    /// Parse a key written by [`BronzeKey::path`]; `None` for anything else (foreign files in the
    /// bucket are ignored, not guessed at).
    pub fn parse(path: &str) -> Option<Self> {
        let parts: Vec<&str> = path.split('/').collect();
        let n = parts.len();
        if n < 5 {
            return None;
        }
        let stream = parts[n - 5];
        let date = parts[n - 4].strip_prefix("dt=")?;
        let hour = parts[n - 3].strip_prefix("hr=")?;
        let shard = ShardId::new(parts[n - 2].strip_prefix("shard=")?).ok()?;
        let file = parts[n - 1];
        let (range, format) = if let Some(r) = file.strip_suffix(".parquet") {
            (r, BronzeFormat::Parquet)
        } else if let Some(r) = file.strip_suffix(".jsonl.gz") {
            (r, BronzeFormat::JsonLines)
        } else {
            return None;
        };
        let (first, last) = range.split_once('-')?;
        let first = SequenceNumber::new(first).ok()?;
        let last = SequenceNumber::new(last).ok()?;
        if last < first || date.len() != 10 || hour.len() != 2 {
            return None;
        }
        Some(Self {
            stream: stream.to_string(),
            shard,
            first,
            last,
            date: date.to_string(),
            hour: hour.to_string(),
            format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let k = BronzeKey::new(
            "clicks",
            ShardId::new("shardId-000000000003").unwrap(),
            SequenceNumber::new("49650000000000000000000000001").unwrap(),
            SequenceNumber::new("49650000000000000000000000777").unwrap(),
            1_717_243_200_000_000, // 2024-06-01T12:00:00Z
            BronzeFormat::Parquet,
        );
        let p = k.path();
        assert_eq!(
            p,
            "clicks/dt=2024-06-01/hr=12/shard=shardId-000000000003/49650000000000000000000000001-49650000000000000000000000777.parquet"
        );
        assert_eq!(BronzeKey::parse(&format!("bronze/{p}")), Some(k));
    }

    #[test]
    fn foreign_files_are_not_keys() {
        assert!(BronzeKey::parse("clicks/dt=2024-06-01/hr=12/shard=a/notes.txt").is_none());
        assert!(BronzeKey::parse("clicks/dt=2024-06-01/hr=12/shard=a/9-3.parquet").is_none());
        assert!(BronzeKey::parse("a.parquet").is_none());
    }
}
