//! Synthetic product-analytics events in the Snowplow canonical field names, written into a
//! spool directory: web, mobile and server events of about 1 KB, with a chosen share of exact
//! re-sends (duplicates) and of malformed records, so the demo, the tests and the benchmarks
//! exercise every path. The report says exactly how many of each were written.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::json;

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub events: u64,
    pub shards: usize,
    /// Share of records that are exact re-sends of an earlier valid record.
    pub duplicate_rate: f64,
    /// Share of records that are malformed in one of the [`MALFORMED_KINDS`] ways.
    pub malformed_rate: f64,
    pub seed: u64,
    /// collector_tstamp values fall in the 3 days before this instant (microseconds).
    pub end_micros: i64,
    /// File-name prefix; each generate run needs its own so spool files are never reused.
    pub run_id: String,
}

/// Kinds of malformed record, each with the bad-row reason silver must give it.
pub const MALFORMED_KINDS: &[(&str, &str)] = &[
    ("truncated_json", "invalid_json"),
    ("not_json", "invalid_json"),
    ("empty_line", "empty_record"),
    ("json_array", "not_an_object"),
    ("wrong_type", "wrong_type"),
    ("missing_event_id", "missing_field"),
    ("bad_timestamp", "invalid_timestamp"),
    ("invalid_utf8", "invalid_utf8"),
    ("bad_uuid", "invalid_uuid"),
];

#[derive(Debug, Default, Clone, Serialize)]
pub struct GenerateReport {
    pub files: Vec<PathBuf>,
    pub records: u64,
    pub bytes: u64,
    /// Valid records with an event id seen for the first time.
    pub unique_valid: u64,
    /// Exact re-sends of a valid record.
    pub duplicates: u64,
    /// Malformed records by the bad-row reason silver will give them.
    pub malformed_by_reason: BTreeMap<String, u64>,
}

impl GenerateReport {
    pub fn malformed(&self) -> u64 {
        self.malformed_by_reason.values().sum()
    }
}

const EVENTS: &[&str] = &["page_view", "page_ping", "link_click", "add_to_cart", "purchase", "screen_view", "api_call"];
const PLATFORMS: &[&str] = &["web", "mob", "srv"];
const COUNTRIES: &[&str] = &["US", "DE", "FR", "GB", "JP", "BR", "IN", "NL"];
const LANGS: &[&str] = &["en-US", "de-DE", "fr-FR", "en-GB", "ja-JP", "pt-BR"];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "okhttp/4.12.0",
];

/// Write the spool files and return what was written.
pub fn generate(dir: &Path, opts: &GenerateOptions) -> Result<GenerateReport> {
    if opts.shards == 0 {
        return Err(Error::invalid("generate: --shards must be at least 1"));
    }
    if !(0.0..=1.0).contains(&opts.duplicate_rate) || !(0.0..=1.0).contains(&opts.malformed_rate) {
        return Err(Error::invalid("generate: rates must be between 0 and 1"));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut writers = Vec::new();
    let mut report = GenerateReport::default();
    for k in 0..opts.shards {
        let name = format!("{}-{k:03}.ndjson", opts.run_id);
        let tmp = dir.join(format!(".{name}.tmp"));
        let f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        writers.push((std::io::BufWriter::with_capacity(1 << 20, f), tmp, dir.join(name)));
    }
    // Recent valid lines, so duplicates are re-sends of events that really were sent.
    let mut recent: Vec<Vec<u8>> = Vec::with_capacity(1024);
    for i in 0..opts.events {
        let roll: f64 = rng.r#gen();
        let line: Vec<u8> = if roll < opts.malformed_rate {
            let (kind, reason) = MALFORMED_KINDS[(i as usize) % MALFORMED_KINDS.len()];
            *report.malformed_by_reason.entry(reason.to_string()).or_default() += 1;
            malformed(kind, &mut rng, opts)
        } else if roll < opts.malformed_rate + opts.duplicate_rate && !recent.is_empty() {
            report.duplicates += 1;
            recent[rng.gen_range(0..recent.len())].clone()
        } else {
            report.unique_valid += 1;
            let line = serde_json::to_vec(&valid_event(&mut rng, opts))?;
            if recent.len() < 1024 {
                recent.push(line.clone());
            } else {
                let slot = rng.gen_range(0..recent.len());
                recent[slot] = line.clone();
            }
            line
        };
        let (w, tmp, _) = &mut writers[rng.gen_range(0..opts.shards)];
        w.write_all(&line).and_then(|_| w.write_all(b"\n")).map_err(|e| Error::io(tmp.as_path(), e))?;
        report.records += 1;
        report.bytes += line.len() as u64 + 1;
    }
    for (w, tmp, path) in writers {
        let f = w.into_inner().map_err(|e| Error::io(&tmp, e.into_error()))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        report.files.push(path);
    }
    Ok(report)
}

fn uuid(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.r#gen()).into_uuid().to_string()
}

fn tstamp(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn valid_event(rng: &mut StdRng, opts: &GenerateOptions) -> serde_json::Value {
    let collector = opts.end_micros - rng.gen_range(0..3 * 86_400_000_000i64);
    let platform = PLATFORMS[rng.gen_range(0..PLATFORMS.len())];
    let event = EVENTS[rng.gen_range(0..EVENTS.len())];
    let user = rng.gen_range(0..50_000u32);
    let page = rng.gen_range(0..400u32);
    let mut v = json!({
        "event_id": uuid(rng),
        "collector_tstamp": tstamp(collector),
        "dvce_created_tstamp": tstamp(collector - rng.gen_range(0..5_000_000i64)),
        "event": event,
        "platform": platform,
        "app_id": format!("shop-{platform}"),
        "user_id": format!("user-{user:06}"),
        "domain_userid": format!("{:016x}", rng.r#gen::<u64>()),
        "domain_sessionid": uuid(rng),
        "page_url": format!("https://shop.example.com/catalog/item-{page}?utm_source=newsletter&utm_medium=email&ref={}", rng.gen_range(0..1000)),
        "page_title": format!("Item {page} — Example Shop, the friendly place for things"),
        "page_referrer": "https://www.search.example.org/search?q=example+shop+items",
        "useragent": AGENTS[rng.gen_range(0..AGENTS.len())],
        "br_lang": LANGS[rng.gen_range(0..LANGS.len())],
        "geo_country": COUNTRIES[rng.gen_range(0..COUNTRIES.len())],
        "contexts": {
            "schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0",
            "data": [
                {"schema": "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0", "data": {"id": uuid(rng)}},
                {"schema": "iglu:com.example/experiment/jsonschema/1-0-2", "data": {"name": "checkout-v2", "variant": rng.gen_range(0..3)}}
            ]
        },
        "tenant": "acme",
    });
    if event == "add_to_cart" || event == "purchase" {
        v["unstruct_event"] = json!({
            "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
            "data": {"schema": "iglu:com.example/cart/jsonschema/1-0-0",
                     "data": {"sku": format!("SKU-{page:05}"), "quantity": rng.gen_range(1..5), "unit_price": rng.gen_range(100..10_000) as f64 / 100.0}}
        });
    }
    v
}

fn malformed(kind: &str, rng: &mut StdRng, opts: &GenerateOptions) -> Vec<u8> {
    let mut v = valid_event(rng, opts);
    match kind {
        "truncated_json" => {
            // cut at a comma so the damage is to the JSON, not to the UTF-8
            let s = serde_json::to_vec(&v).unwrap_or_default();
            let cut = s[..s.len() / 2].iter().rposition(|&b| b == b',').unwrap_or(1);
            s[..cut].to_vec()
        }
        "not_json" => b"GET /i?e=pv&url=https%3A%2F%2Fshop.example.com HTTP/1.1".to_vec(),
        "empty_line" => Vec::new(),
        "json_array" => serde_json::to_vec(&json!([v])).unwrap_or_default(),
        "wrong_type" => {
            v["platform"] = json!(7);
            serde_json::to_vec(&v).unwrap_or_default()
        }
        "missing_event_id" => {
            if let Some(o) = v.as_object_mut() {
                o.remove("event_id");
            }
            serde_json::to_vec(&v).unwrap_or_default()
        }
        "bad_timestamp" => {
            v["collector_tstamp"] = json!("yesterday at noon");
            serde_json::to_vec(&v).unwrap_or_default()
        }
        "invalid_utf8" => {
            let mut s = serde_json::to_vec(&v).unwrap_or_default();
            // put bytes that are never UTF-8 inside the page title
            if let Some(i) = s.windows(5).position(|w| w == b"Item ") {
                s.splice(i..i, [0xff, 0xfe, 0xc3]);
            }
            s
        }
        _ => {
            v["event_id"] = json!("not-a-uuid");
            serde_json::to_vec(&v).unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_counts_add_up_and_runs_are_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let opts = GenerateOptions {
            events: 2000,
            shards: 3,
            duplicate_rate: 0.05,
            malformed_rate: 0.05,
            seed: 7,
            end_micros: 1_750_000_000_000_000,
            run_id: "t".into(),
        };
        let r = generate(dir.path(), &opts).unwrap();
        assert_eq!(r.records, r.unique_valid + r.duplicates + r.malformed());
        assert!(r.duplicates > 0 && r.malformed() > 0);
        let lines: usize = r.files.iter().map(|f| std::fs::read(f).unwrap().split(|b| *b == b'\n').count() - 1).sum();
        assert_eq!(lines as u64, r.records);
        let dir2 = tempfile::tempdir().unwrap();
        let r2 = generate(dir2.path(), &opts).unwrap();
        assert_eq!(std::fs::read(&r.files[0]).unwrap(), std::fs::read(&r2.files[0]).unwrap());
    }
}
