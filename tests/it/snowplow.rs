//! Snowplow enriched events end to end: generated lines and hand-made edge cases through the real
//! binary into `snowplow_events`, read back with pyiceberg and compared field by field with what
//! Snowplow's own Python analytics SDK makes of the same lines
//! (tests/it/readers/snowplow_sdk_compare.py).

use std::collections::BTreeMap;
use std::path::Path;

use floe::model::snowplow::{ATOMIC_FIELD_COUNT, atomic_index};

use crate::support::{Lake, reader};

/// One edge case: a change to a valid line, and what floe must make of it (`row` or the bad-row
/// reason), whatever the SDK says.
struct Edge {
    what: &'static str,
    set: &'static [(&'static str, &'static str)],
    /// Fields removed (a negative count) or added at the end.
    extra_fields: i32,
    floe: &'static str,
    /// Whether Snowplow's SDK accepts the line.
    sdk_accepts: bool,
}

const EDGES: &[Edge] = &[
    Edge {
        what: "only the fields enrich always sets",
        set: &[
            ("app_id", ""),
            ("platform", "srv"),
            ("etl_tstamp", ""),
            ("dvce_created_tstamp", ""),
            ("txn_id", ""),
            ("geo_latitude", ""),
            ("geo_longitude", ""),
            ("contexts", ""),
            ("unstruct_event", ""),
            ("derived_contexts", ""),
            ("event_fingerprint", ""),
        ],
        extra_fields: 0,
        floe: "row",
        sdk_accepts: true,
    },
    Edge {
        what: "text with tabs and non-ASCII escaped in JSON",
        set: &[
            ("page_title", "Über — 日本語 ✓"),
            (
                "contexts",
                r#"{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0","data":[{"schema":"iglu:com.acme/note/jsonschema/1-0-0","data":{"text":"a\tb \u00e9 \"q\""}}]}"#,
            ),
        ],
        extra_fields: 0,
        floe: "row",
        sdk_accepts: true,
    },
    Edge {
        what: "timestamps without and with microseconds",
        set: &[("dvce_created_tstamp", "2026-11-29 23:59:59"), ("true_tstamp", "2026-11-29 23:59:59.123456")],
        extra_fields: 0,
        floe: "row",
        sdk_accepts: true,
    },
    Edge {
        what: "negative numbers and a refund",
        set: &[("geo_latitude", "-0.0001"), ("se_value", "-1.5"), ("tr_total", "-5.00"), ("txn_id", "-7")],
        extra_fields: 0,
        floe: "row",
        sdk_accepts: true,
    },
    Edge {
        what: "money with more than two decimals (rounded to the cent)",
        set: &[("tr_total", "10.005"), ("ti_price", "0.994")],
        extra_fields: 0,
        floe: "row",
        sdk_accepts: true,
    },
    Edge {
        what: "the largest 32-bit integer",
        set: &[("br_viewwidth", "2147483647")],
        extra_fields: 0,
        floe: "row",
        sdk_accepts: true,
    },
    Edge {
        what: "an upper-case event id (lower-cased)",
        set: &[("event_id", "C6EF3124-B53A-4B13-A233-0088F79DCBCB")],
        extra_fields: 0,
        floe: "row",
        sdk_accepts: true,
    },
    Edge {
        what: "every boolean false",
        set: &[("br_features_pdf", "0"), ("br_cookies", "0"), ("dvce_ismobile", "0")],
        extra_fields: 0,
        floe: "row",
        sdk_accepts: true,
    },
    Edge {
        what: "contexts with no entries",
        set: &[("contexts", r#"{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0","data":[]}"#)],
        extra_fields: 0,
        floe: "row",
        sdk_accepts: true,
    },
    Edge { what: "130 fields", set: &[], extra_fields: -1, floe: "wrong_field_count", sdk_accepts: false },
    Edge { what: "132 fields", set: &[], extra_fields: 1, floe: "wrong_field_count", sdk_accepts: false },
    Edge {
        what: "a boolean that is not 1 or 0",
        set: &[("br_cookies", "2")],
        extra_fields: 0,
        floe: "invalid_boolean",
        sdk_accepts: false,
    },
    Edge {
        what: "an integer that is not one",
        set: &[("doc_width", "wide")],
        extra_fields: 0,
        floe: "invalid_number",
        sdk_accepts: false,
    },
    Edge {
        what: "a latitude that is not a number",
        set: &[("geo_latitude", "north")],
        extra_fields: 0,
        floe: "invalid_number",
        sdk_accepts: false,
    },
    Edge {
        what: "contexts that are not JSON",
        set: &[("contexts", "{not json")],
        extra_fields: 0,
        floe: "invalid_json",
        sdk_accepts: false,
    },
    Edge {
        what: "an unstruct event without data",
        set: &[(
            "unstruct_event",
            r#"{"schema":"iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0","data":{"schema":"iglu:com.acme/x/jsonschema/1-0-0"}}"#,
        )],
        extra_fields: 0,
        floe: "invalid_self_describing",
        sdk_accepts: false,
    },
    Edge {
        what: "a context whose schema is not an Iglu key",
        set: &[(
            "contexts",
            r#"{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0","data":[{"schema":"com.acme/x/1","data":{}}]}"#,
        )],
        extra_fields: 0,
        floe: "invalid_self_describing",
        sdk_accepts: false,
    },
    // floe is stricter than the SDK, which only splits the line: its columns are typed and it
    // needs an event id (dedup) and a collector time (partition, dedup window)
    Edge {
        what: "a timestamp in another format",
        set: &[("dvce_created_tstamp", "2026-11-29T23:59:59Z")],
        extra_fields: 0,
        floe: "invalid_timestamp",
        sdk_accepts: true,
    },
    Edge {
        what: "an integer past 32 bits",
        set: &[("br_viewwidth", "2147483648")],
        extra_fields: 0,
        floe: "invalid_number",
        sdk_accepts: true,
    },
    Edge { what: "no event id", set: &[("event_id", "")], extra_fields: 0, floe: "missing_field", sdk_accepts: true },
    Edge {
        what: "no collector time",
        set: &[("collector_tstamp", "")],
        extra_fields: 0,
        floe: "missing_field",
        sdk_accepts: true,
    },
    Edge {
        what: "an event id that is not a UUID",
        set: &[("event_id", "evt-1")],
        extra_fields: 0,
        floe: "invalid_uuid",
        sdk_accepts: true,
    },
];

/// Each edge case built from a valid generated line, with a fresh event id of its own.
fn edge_lines(base: &str) -> Vec<String> {
    let fields: Vec<&str> = base.split('\t').collect();
    assert_eq!(fields.len(), ATOMIC_FIELD_COUNT, "the generator writes enriched events");
    EDGES
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut f: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
            f[atomic_index("event_id").unwrap_or(6)] = format!("00000000-0000-4000-8000-{i:012}");
            for (name, value) in e.set {
                f[atomic_index(name).unwrap_or_else(|| panic!("{name} is not an atomic field"))] = value.to_string();
            }
            match e.extra_fields {
                n if n < 0 => f.truncate((ATOMIC_FIELD_COUNT as i32 + n) as usize),
                n => f.extend((0..n).map(|k| format!("extra{k}"))),
            }
            f.join("\t")
        })
        .collect()
}

#[test]
fn enriched_events_agree_with_snowplows_python_sdk_field_by_field() {
    let lake = Lake::new();
    let report = lake.generate_format("snowplow-enriched-tsv", 3000, 3, 0.02, 0.08, 11);
    let base_file = report["files"][0].as_str().expect("a spool file");
    let base = String::from_utf8_lossy(&std::fs::read(base_file).expect("spool file")).into_owned();
    let valid = base.lines().find(|l| l.split('\t').count() == ATOMIC_FIELD_COUNT && l.contains("\tpage_view\t"));
    let edges = edge_lines(valid.expect("a valid page view"));
    std::fs::write(lake.spool().join("edge.tsv"), edges.join("\n") + "\n").expect("write edge cases");

    let out = lake.floe().env("FLOE_SILVER_TABLES", "snowplow_events").args(["run", "--until-idle", "--json"]).output();
    let out = out.expect("spawn floe");
    crate::support::assert_success(&out, &["run"]);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("run summary");

    let cmp = reader("snowplow_sdk_compare.py", &[&lake.catalog_db(), &lake.warehouse(), &lake.spool()]);
    assert_eq!(cmp["mismatches"], serde_json::json!([]), "floe and the SDK disagree: {}", cmp["mismatches"]);
    assert!(cmp["fields_compared"].as_u64().unwrap_or(0) > 100_000, "{}", cmp["fields_compared"]);

    // every edge case ends where it must, and the SDK accepts exactly those it should
    let outcomes = cmp["outcomes"].as_object().expect("outcomes");
    for (i, e) in EDGES.iter().enumerate() {
        let got = outcomes[&format!("edge.tsv:{}", i + 1)].as_str().unwrap_or_default();
        let want = if e.floe == "row" { "row".to_string() } else { format!("bad:{}", e.floe) };
        assert_eq!(got, want, "edge case {:?}", e.what);
    }
    let stricter: BTreeMap<String, u64> = serde_json::from_value(cmp["floe_stricter"].clone()).expect("map");
    let allowed = ["invalid_timestamp", "invalid_number", "missing_field", "invalid_uuid"];
    assert!(
        stricter.keys().all(|r| allowed.contains(&r.as_str())),
        "floe rejected lines the SDK accepts: {stricter:?}"
    );
    let edge_stricter = EDGES.iter().filter(|e| e.sdk_accepts && e.floe != "row").count() as u64;
    let gen_stricter: u64 = report["malformed_by_reason"]
        .as_object()
        .map(|m| ["invalid_timestamp", "invalid_uuid"].iter().filter_map(|r| m.get(*r)?.as_u64()).sum())
        .unwrap_or(0);
    assert_eq!(stricter.values().sum::<u64>(), edge_stricter + gen_stricter, "{stricter:?}");

    // nothing lost, nothing doubled: every line is one row, one bad row or one counted drop
    let lines = report["records"].as_u64().unwrap_or(0) + EDGES.len() as u64;
    let rows = cmp["rows"].as_u64().unwrap_or(0);
    let bad = cmp["bad_rows"].as_u64().unwrap_or(0);
    let drops = summary["counters"]["dedup_drops"].as_u64().unwrap_or(u64::MAX);
    assert_eq!(rows + bad + drops, lines, "{summary}");
    assert_eq!(drops, report["duplicates"].as_u64().unwrap_or(0));
    let edge_rows = EDGES.iter().filter(|e| e.floe == "row").count() as u64;
    assert_eq!(rows, report["unique_valid"].as_u64().unwrap_or(0) + edge_rows);

    // the analytics models run on the committed table through the binary
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/gold");
    for model in ["daily_active_users", "sessions", "funnel", "first_click_attribution"] {
        let file = models.join(format!("{model}.sql"));
        let out = lake
            .floe()
            .env("FLOE_SILVER_TABLES", "snowplow_events")
            .args(["query", "--format", "json", "--source", "snowplow_events", "--file"])
            .arg(&file)
            .output()
            .expect("spawn floe");
        crate::support::assert_success(&out, &["query", "--file", model]);
        let lines = String::from_utf8_lossy(&out.stdout).lines().count();
        assert!(lines > 0, "{model} gave no rows");
    }
    let dau = lake
        .floe()
        .env("FLOE_SILVER_TABLES", "snowplow_events")
        .args(["query", "--format", "json", "--file"])
        .arg(models.join("daily_active_users.sql"))
        .arg("--source")
        .arg("snowplow_events")
        .output()
        .expect("spawn");
    let total: u64 = String::from_utf8_lossy(&dau.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["events"].as_u64())
        .sum();
    assert!(total > 0 && total <= rows, "{total} events counted by the model, {rows} rows");
}
