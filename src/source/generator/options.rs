//! What a generate run is asked for, and the small helpers every format's records use.

use rand::Rng;
use rand::rngs::StdRng;

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub events: u64,
    pub shards: usize,
    /// Share of records that are exact re-sends of an earlier valid record.
    pub duplicate_rate: f64,
    /// Share of records that are malformed in one of the format's ways ([`super::malformed_kinds`]).
    pub malformed_rate: f64,
    pub seed: u64,
    /// collector_tstamp values fall in the 3 days before this instant (microseconds).
    pub end_micros: i64,
    /// File-name prefix; each generate run needs its own so spool files are never reused.
    pub run_id: String,
    pub format: Format,
}

/// What the records look like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per record (table `events`).
    #[default]
    Json,
    /// One Snowplow enriched event per record (table `snowplow_events`).
    SnowplowEnrichedTsv,
}

/// A random (v4) UUID from the run's seeded generator.
pub fn uuid(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.r#gen()).into_uuid().to_string()
}

pub fn tstamp_rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
