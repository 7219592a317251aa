//! The `json` format: one JSON object per record in the Snowplow canonical field names (the
//! `events` table's input contract).

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::json;

use super::options::{GenerateOptions, tstamp_rfc3339 as tstamp, uuid};

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

/// One valid event.
pub fn valid(rng: &mut StdRng, opts: &GenerateOptions) -> Vec<u8> {
    serde_json::to_vec(&valid_event(rng, opts)).unwrap_or_default()
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

pub fn malformed(kind: &str, rng: &mut StdRng, opts: &GenerateOptions) -> Vec<u8> {
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
