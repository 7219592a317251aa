//! The `snowplow-enriched-tsv` format: Snowplow enriched events as enrich writes them to its
//! Kinesis stream — 131 tab-separated atomic fields in the canonical order, self-describing JSON
//! in `contexts`, `unstruct_event` and `derived_contexts`. Web, mobile and server trackers; page
//! views and pings, structured events, link clicks, add-to-cart and checkout (self-describing
//! events), transactions and their items; clicks, carts and checkouts name their product, so the
//! analytics models in `sql/gold/` have something to join (visitors are drawn at random, so the
//! funnels are thin: the models' golden tests use a hand-written story).

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::json;

use super::options::{GenerateOptions, uuid};
use crate::model::snowplow::{ATOMIC_FIELD_COUNT, atomic_index};

/// Kinds of malformed line, each with the bad-row reason silver must give it.
pub const MALFORMED_KINDS: &[(&str, &str)] = &[
    ("missing_field_tab", "wrong_field_count"),
    ("extra_field", "wrong_field_count"),
    ("json_instead", "wrong_field_count"),
    ("bad_timestamp", "invalid_timestamp"),
    ("bad_integer", "invalid_number"),
    ("bad_money", "invalid_number"),
    ("bad_boolean", "invalid_boolean"),
    ("broken_contexts", "invalid_json"),
    ("not_self_describing", "invalid_self_describing"),
    ("invalid_utf8", "invalid_utf8"),
    ("empty_line", "empty_record"),
    ("bad_uuid", "invalid_uuid"),
];

const PAGES: &[(&str, &str)] = &[
    ("/", "Example Shop"),
    ("/catalog", "Catalog — Example Shop"),
    ("/catalog/item", "Item — Example Shop"),
    ("/cart", "Your cart — Example Shop"),
    ("/checkout", "Checkout — Example Shop"),
];
/// Country, region, city, latitude, longitude, time zone.
const PLACES: &[(&str, &str, &str, f64, f64, &str)] = &[
    ("US", "CA", "San Francisco", 37.77, -122.42, "America/Los_Angeles"),
    ("DE", "BE", "Berlin", 52.52, 13.40, "Europe/Berlin"),
    ("FR", "IDF", "Paris", 48.86, 2.35, "Europe/Paris"),
    ("GB", "ENG", "London", 51.51, -0.13, "Europe/London"),
    ("JP", "13", "Tokyo", 35.68, 139.69, "Asia/Tokyo"),
    ("BR", "SP", "São Paulo", -23.55, -46.63, "America/Sao_Paulo"),
];
const WEB_AGENTS: &[(&str, &str, &str)] = &[
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        "Safari",
        "Mac OS X",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
        "Chrome",
        "Windows",
    ),
];

/// The atomic fields of one line, set by name; the rest stay empty.
struct Line(Vec<String>);

impl Line {
    fn new() -> Self {
        Self(vec![String::new(); ATOMIC_FIELD_COUNT])
    }
    fn set(&mut self, name: &str, value: impl ToString) {
        if let Some(i) = atomic_index(name) {
            self.0[i] = value.to_string();
        }
    }
    fn to_bytes(&self) -> Vec<u8> {
        self.0.join("\t").into_bytes()
    }
}

/// `YYYY-MM-DD HH:MM:SS.sss`, as enrich writes timestamps.
fn tstamp(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default().format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

fn sd(schema: &str, data: serde_json::Value) -> serde_json::Value {
    json!({"schema": schema, "data": data})
}

const CONTEXTS: &str = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0";
const UNSTRUCT: &str = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0";

/// One valid enriched event.
pub fn valid(rng: &mut StdRng, opts: &GenerateOptions) -> Vec<u8> {
    event(rng, opts).to_bytes()
}

fn event(rng: &mut StdRng, opts: &GenerateOptions) -> Line {
    let mut l = Line::new();
    let collector = opts.end_micros - rng.gen_range(0..3 * 86_400_000_000i64);
    let platform = ["web", "web", "web", "mob", "srv"][rng.gen_range(0..5)];
    let visitor = rng.gen_range(0..50_000u32);
    let (country, region, city, lat, lon, tz) = PLACES[rng.gen_range(0..PLACES.len())];
    l.set("app_id", format!("shop-{platform}"));
    l.set("platform", platform);
    l.set("etl_tstamp", tstamp(collector + rng.gen_range(1_000_000..30_000_000)));
    l.set("collector_tstamp", tstamp(collector));
    let dvce = collector - rng.gen_range(0..5_000_000i64);
    l.set("dvce_created_tstamp", tstamp(dvce));
    l.set("dvce_sent_tstamp", tstamp(dvce + rng.gen_range(0..1_000_000i64)));
    l.set("derived_tstamp", tstamp(collector - rng.gen_range(0..1_000_000i64)));
    l.set("event_id", uuid(rng));
    l.set("txn_id", rng.gen_range(0..1_000_000));
    l.set("v_collector", "ssc-3.2.0-kinesis");
    l.set("v_etl", "snowplow-enrich-kinesis-5.0.0");
    l.set("user_ipaddress", format!("203.0.113.{}", visitor % 250));
    l.set("network_userid", uuid(rng));
    l.set("geo_country", country);
    l.set("geo_region", region);
    l.set("geo_city", city);
    l.set("geo_latitude", format!("{:.4}", lat + rng.gen_range(-0.05..0.05)));
    l.set("geo_longitude", format!("{:.4}", lon + rng.gen_range(-0.05..0.05)));
    l.set("geo_timezone", tz);
    if rng.gen_bool(0.4) {
        l.set("user_id", format!("user-{visitor:06}"));
    }
    let mut contexts = Vec::new();
    match platform {
        "web" => web(&mut l, rng, visitor, &mut contexts),
        "mob" => {
            l.set("name_tracker", "androidtracker");
            l.set("v_tracker", "andr-6.0.2");
            l.set("useragent", "okhttp/4.12.0");
            l.set("dvce_type", "Mobile");
            l.set("dvce_ismobile", "1");
            l.set("dvce_screenwidth", 1080);
            l.set("dvce_screenheight", 2400);
            contexts.push(sd(
                "iglu:com.snowplowanalytics.snowplow/mobile_context/jsonschema/1-0-3",
                json!({"osType": "android", "osVersion": "14", "deviceManufacturer": "Google", "deviceModel": "Pixel 8"}),
            ));
            contexts.push(sd(
                "iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-2",
                json!({"userId": format!("{:08x}-0000-4000-8000-{visitor:012}", visitor), "sessionId": uuid(rng), "sessionIndex": rng.gen_range(1..40), "storageMechanism": "SQLITE"}),
            ));
            kind_of_event(&mut l, rng, &mut contexts, &["screen_view", "struct", "add_to_cart", "checkout"]);
        }
        _ => {
            l.set("name_tracker", "py-0.13.0");
            l.set("v_tracker", "py-0.13.0");
            kind_of_event(&mut l, rng, &mut contexts, &["struct", "transaction", "transaction_item"]);
        }
    }
    if !contexts.is_empty() {
        l.set("contexts", sd(CONTEXTS, json!(contexts)));
    }
    let derived = vec![sd(
        "iglu:com.snowplowanalytics.snowplow/ua_parser_context/jsonschema/1-0-0",
        json!({"useragentFamily": "Chrome", "useragentMajor": "126", "osFamily": "Windows", "deviceFamily": "Other"}),
    )];
    l.set("derived_contexts", sd(CONTEXTS, json!(derived)));
    l.set("event_fingerprint", format!("{:032x}", rng.r#gen::<u128>()));
    l
}

fn web(l: &mut Line, rng: &mut StdRng, visitor: u32, contexts: &mut Vec<serde_json::Value>) {
    let (ua, browser, os) = WEB_AGENTS[rng.gen_range(0..WEB_AGENTS.len())];
    let (path, title) = PAGES[rng.gen_range(0..PAGES.len())];
    let item = rng.gen_range(0..400u32);
    let path = match path {
        "/catalog/item" => format!("/catalog/item-{item}"),
        p => p.to_string(),
    };
    l.set("name_tracker", "sp");
    l.set("v_tracker", "js-3.24.0");
    l.set("domain_userid", format!("{:08x}-0000-4000-8000-{visitor:012}", visitor));
    l.set("domain_sessionidx", 1 + visitor % 9);
    l.set("domain_sessionid", uuid(rng));
    l.set("page_url", format!("https://shop.example.com{path}?utm_source=newsletter&utm_medium=email"));
    l.set("page_title", title);
    l.set("page_urlscheme", "https");
    l.set("page_urlhost", "shop.example.com");
    l.set("page_urlport", 443);
    l.set("page_urlpath", path);
    l.set("page_urlquery", "utm_source=newsletter&utm_medium=email");
    l.set("mkt_medium", "email");
    l.set("mkt_source", "newsletter");
    if rng.gen_bool(0.5) {
        l.set("page_referrer", "https://www.search.example.org/search?q=example+shop");
        l.set("refr_urlscheme", "https");
        l.set("refr_urlhost", "www.search.example.org");
        l.set("refr_urlport", 443);
        l.set("refr_urlpath", "/search");
        l.set("refr_urlquery", "q=example+shop");
        l.set("refr_medium", "search");
        l.set("refr_source", "Example Search");
        l.set("refr_term", "example shop");
    }
    l.set("useragent", ua);
    l.set("br_name", browser);
    l.set("br_family", browser);
    l.set("br_lang", ["en-US", "de-DE", "fr-FR", "ja-JP"][rng.gen_range(0..4)]);
    for f in ["br_features_pdf", "br_cookies"] {
        l.set(f, "1");
    }
    for f in ["br_features_flash", "br_features_java", "br_features_quicktime"] {
        l.set(f, "0");
    }
    l.set("br_colordepth", "24");
    l.set("br_viewwidth", rng.gen_range(800..2560));
    l.set("br_viewheight", rng.gen_range(600..1440));
    l.set("os_name", os);
    l.set("os_family", os);
    l.set("os_timezone", "Europe/Berlin");
    l.set("dvce_type", "Computer");
    l.set("dvce_ismobile", "0");
    l.set("dvce_screenwidth", 2560);
    l.set("dvce_screenheight", 1440);
    l.set("doc_charset", "UTF-8");
    l.set("doc_width", 1280);
    l.set("doc_height", rng.gen_range(2000..9000));
    contexts.push(sd("iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0", json!({"id": uuid(rng)})));
    if rng.gen_bool(0.3) {
        contexts.push(sd(
            "iglu:com.example/experiment/jsonschema/1-0-2",
            json!({"name": "checkout-v2", "variant": rng.gen_range(0..3)}),
        ));
    }
    kind_of_event(l, rng, contexts, &["page_view", "page_view", "page_ping", "link_click", "add_to_cart", "checkout"]);
}

/// Fill the fields of one kind of event, picked from `kinds`.
fn kind_of_event(l: &mut Line, rng: &mut StdRng, contexts: &mut Vec<serde_json::Value>, kinds: &[&str]) {
    let kind = kinds[rng.gen_range(0..kinds.len())];
    let sku = format!("SKU-{:05}", rng.gen_range(0..400));
    let (event, vendor, name, version, payload) = match kind {
        "page_view" | "page_ping" | "transaction" | "transaction_item" => {
            (kind, "com.snowplowanalytics.snowplow", kind, "1-0-0", None)
        }
        "struct" => {
            l.set("se_category", "ui");
            l.set("se_action", ["scroll", "play", "share"][rng.gen_range(0..3)]);
            l.set("se_label", "hero");
            l.set("se_value", format!("{:.1}", rng.gen_range(0.0..100.0)));
            ("struct", "com.google.analytics", "event", "1-0-0", None)
        }
        "screen_view" => {
            let data = json!({"name": "Home", "id": uuid(rng)});
            ("unstruct", "com.snowplowanalytics.mobile", "screen_view", "1-0-0", Some(data))
        }
        "link_click" => {
            let data = json!({"targetUrl": format!("https://shop.example.com/catalog/item-{}", rng.gen_range(0..400)), "elementId": "product-tile"});
            ("unstruct", "com.snowplowanalytics.snowplow", "link_click", "1-0-1", Some(data))
        }
        "add_to_cart" => {
            let data = json!({"sku": sku, "quantity": rng.gen_range(1..5), "unitPrice": rng.gen_range(100..10_000) as f64 / 100.0, "currency": "EUR"});
            ("unstruct", "com.example", "add_to_cart", "1-0-0", Some(data))
        }
        _ => {
            let data = json!({"orderId": format!("order-{}", rng.gen_range(0..1_000_000)), "total": rng.gen_range(500..50_000) as f64 / 100.0, "sku": sku});
            ("unstruct", "com.example", "checkout", "1-0-0", Some(data))
        }
    };
    if kind == "page_ping" {
        l.set("pp_xoffset_min", 0);
        l.set("pp_xoffset_max", rng.gen_range(0..200));
        l.set("pp_yoffset_min", rng.gen_range(0..500));
        l.set("pp_yoffset_max", rng.gen_range(500..5000));
    }
    if kind == "transaction" {
        let total = rng.gen_range(500..50_000) as f64 / 100.0;
        l.set("tr_orderid", format!("order-{}", rng.gen_range(0..1_000_000)));
        l.set("tr_affiliation", "web-store");
        l.set("tr_total", format!("{total:.2}"));
        l.set("tr_tax", format!("{:.2}", total * 0.19));
        l.set("tr_shipping", "4.99");
        l.set("tr_city", "Berlin");
        l.set("tr_country", "DE");
        l.set("tr_currency", "EUR");
        l.set("tr_total_base", format!("{:.2}", total * 1.08));
        l.set("base_currency", "USD");
    }
    if kind == "transaction_item" {
        l.set("ti_orderid", format!("order-{}", rng.gen_range(0..1_000_000)));
        l.set("ti_sku", &sku);
        l.set("ti_name", "A friendly thing");
        l.set("ti_category", "things");
        l.set("ti_price", format!("{:.2}", rng.gen_range(100..10_000) as f64 / 100.0));
        l.set("ti_quantity", rng.gen_range(1..4));
        l.set("ti_currency", "EUR");
    }
    if kind == "add_to_cart" || kind == "link_click" {
        contexts.push(sd("iglu:com.example/product/jsonschema/1-0-0", json!({"sku": sku, "category": "things"})));
    }
    l.set("event", event);
    l.set("event_vendor", vendor);
    l.set("event_name", name);
    l.set("event_format", "jsonschema");
    l.set("event_version", version);
    if let Some(data) = payload {
        l.set("unstruct_event", sd(UNSTRUCT, sd(&format!("iglu:{vendor}/{name}/jsonschema/{version}"), data)));
    }
}

/// One malformed line of the named kind.
pub fn malformed(kind: &str, rng: &mut StdRng, opts: &GenerateOptions) -> Vec<u8> {
    let mut l = event(rng, opts);
    match kind {
        "missing_field_tab" => {
            l.0.remove(rng.gen_range(0..ATOMIC_FIELD_COUNT));
        }
        "extra_field" => l.0.push("surplus".into()),
        "json_instead" => {
            return br#"{"event_id":"c6ef3124-b53a-4b13-a233-0088f79dcbcb","event":"page_view"}"#.to_vec();
        }
        "bad_timestamp" => l.set("dvce_created_tstamp", "30/11/2026 10:00"),
        "bad_integer" => l.set("txn_id", "12x"),
        "bad_money" => l.set("tr_total", "12,50 EUR"),
        "bad_boolean" => l.set("dvce_ismobile", "yes"),
        "broken_contexts" => {
            l.set("contexts", r#"{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0","data":[{"#)
        }
        "not_self_describing" => l.set("unstruct_event", r#"{"data":{"sku":"SKU-1"}}"#),
        "invalid_utf8" => {
            let mut b = l.to_bytes();
            if let Some(i) = b.iter().position(|&c| c == b'\t') {
                b.splice(i..i, [0xff, 0xfe]);
            }
            return b;
        }
        "empty_line" => return Vec::new(),
        _ => l.set("event_id", "not-a-uuid"),
    }
    l.to_bytes()
}
