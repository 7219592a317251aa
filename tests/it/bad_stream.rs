//! The bad-input matrix in one run: every kind of broken record, JSON and Snowplow enriched TSV
//! (data-contract violations included, against tests/iglu/local), and a corrupt KPL aggregate,
//! put on one Kinesis stream that a running daemon loads into both tables at once. Each record ends in exactly one outcome per table — a row, or a bad row with
//! its reason — nothing panics, and the daemon keeps loading afterwards.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use crate::kinesis::{floe_on, sigterm, tool};
use crate::ops::{Daemon, free_port, get, metric_sum, wait_for};
use floe::model::snowplow::atomic_index;

use crate::support::{Lake, enriched_line};

const VALID: &str = r#"{"event_id":"7d7e3d1c-5bb0-4a53-9a39-1e0b5e0c0a01","collector_tstamp":"2026-11-20T10:00:00.123Z","event":"page_view","platform":"web","custom":{"a":1}}"#;
const KPL_MAGIC: [u8; 4] = [0xf3, 0x89, 0x9a, 0xc2];

/// A record, and the reason each table must give it (`None`: a row; `Some("")`: any reason —
/// the record is in the other table's format).
struct Case {
    data: Vec<u8>,
    events: Option<&'static str>,
    snowplow: Option<&'static str>,
}

fn json(data: impl Into<Vec<u8>>, reason: Option<&'static str>) -> Case {
    Case { data: data.into(), events: reason, snowplow: Some("") }
}

fn tsv(line: String, reason: Option<&'static str>) -> Case {
    Case { data: line.into_bytes(), events: Some(""), snowplow: reason }
}

/// A generated enriched page view without self-describing fields (their schemas are not in the
/// test repository; the contract cases set their own).
fn plain_base(lake: &Lake, seed: u64) -> Vec<String> {
    let mut base = lake.enriched_base(seed);
    for field in ["contexts", "unstruct_event", "derived_contexts"] {
        base[atomic_index(field).unwrap()] = String::new();
    }
    base
}

fn unstruct(schema: &str, data: &str) -> String {
    let ue = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0";
    format!(r#"{{"schema":"{ue}","data":{{"schema":"{schema}","data":{data}}}}}"#)
}

fn cases(lake: &Lake) -> Vec<Case> {
    let base = plain_base(lake, 5);
    let cart = "iglu:com.example/add_to_cart/jsonschema/1-0-0";
    let id = "c6ef3124-b53a-4b13-a233-0088f79dcbcb";
    let short: Vec<String> = base[..base.len() - 1].to_vec();
    let mut corrupt_kpl = KPL_MAGIC.to_vec();
    corrupt_kpl.extend_from_slice(b"\x0a\x03pk1\x1a\x06\x08\x00\x1a\x02{}");
    corrupt_kpl.extend_from_slice(&[0u8; 16]); // not the MD5 of the body
    vec![
        json(VALID, None),
        json("{this is not json}", Some("invalid_json")),
        json(&VALID.as_bytes()[..40], Some("invalid_json")),
        json("   ", Some("empty_record")),
        json(vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'], Some("invalid_utf8")),
        json(format!("[{VALID}]"), Some("not_an_object")),
        json(VALID.replace("\"web\"", "17"), Some("wrong_type")),
        json(VALID.replace("\"event\":\"page_view\",", ""), Some("missing_field")),
        json(VALID.replace("2026-11-20T10:00:00.123Z", "20/11/2026 10:00"), Some("invalid_timestamp")),
        json(VALID.replace("7d7e3d1c-5bb0-4a53-9a39-1e0b5e0c0a01", "12345"), Some("invalid_uuid")),
        // over the 64 KiB limit set below (Kinesis itself takes records up to 1 MiB)
        json(
            VALID.replace("\"custom\":{\"a\":1}", &format!("\"custom\":\"{}\"", "x".repeat(100 << 10))),
            Some("record_too_large"),
        ),
        tsv(enriched_line(&base, id, &[]), None),
        tsv(short.join("\t"), Some("wrong_field_count")),
        tsv(
            enriched_line(&base, "0f0e0d0c-0b0a-4908-8706-050403020100", &[("collector_tstamp", "yesterday".into())]),
            Some("invalid_timestamp"),
        ),
        tsv(
            enriched_line(&base, "1f0e0d0c-0b0a-4908-8706-050403020100", &[("br_viewwidth", "wide".into())]),
            Some("invalid_number"),
        ),
        tsv(enriched_line(&base, "not-a-uuid", &[]), Some("invalid_uuid")),
        tsv(
            enriched_line(
                &base,
                "2f0e0d0c-0b0a-4908-8706-050403020100",
                &[("unstruct_event", unstruct(cart, r#"{"sku":"S","quantity":"two"}"#))],
            ),
            Some("schema_violation"),
        ),
        tsv(
            enriched_line(
                &base,
                "3f0e0d0c-0b0a-4908-8706-050403020100",
                &[("unstruct_event", unstruct("iglu:com.example/wishlist/jsonschema/1-0-0", "{}"))],
            ),
            Some("schema_not_found"),
        ),
        Case { data: corrupt_kpl, events: Some("corrupt_kpl_aggregate"), snowplow: Some("corrupt_kpl_aggregate") },
    ]
}

/// `source_sequence_number → reason` of a bad-rows table.
fn bad_rows(lake: &Lake, table: &str) -> BTreeMap<String, String> {
    lake.query(&format!("SELECT source_sequence_number AS seq, reason FROM {table}"))
        .iter()
        .map(|r| (r["seq"].as_str().unwrap().to_string(), r["reason"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn every_kind_of_bad_record_in_one_run_is_one_bad_row_per_table_and_the_daemon_goes_on() {
    let lake = Lake::new();
    let stream = format!("floe-bad-{}", std::process::id());
    tool(&["create", &stream, "1"]);
    let cases = cases(&lake);
    let put = |cases: &[Case]| {
        let file = lake.dir.path().join("records.hex");
        let hex: String =
            cases.iter().map(|c| c.data.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n").collect();
        std::fs::write(&file, hex).unwrap();
        let out = tool(&["put-raw", &stream, file.to_str().unwrap()]);
        out["records"].as_array().unwrap().iter().map(|r| r[1].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let seqs = put(&cases);
    let resolver = lake.dir.path().join("resolver.json");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/iglu/local");
    let config = serde_json::json!({
        "schema": "iglu:com.snowplowanalytics.iglu/resolver-config/jsonschema/1-0-2",
        "data": {"cacheSize": 500, "repositories": [{"name": "shop contracts", "priority": 1,
            "vendorPrefixes": ["com.example"], "connection": {"embedded": {"path": repo}}}]}
    });
    std::fs::write(&resolver, config.to_string()).unwrap();
    let port = free_port();
    let log = std::fs::File::create(lake.dir.path().join("matrix.log")).unwrap();
    let mut daemon = Daemon(
        floe_on(&lake, &stream)
            .args(["run"])
            .env("FLOE_SILVER_TABLES", "events,snowplow_events")
            .env("FLOE_SILVER_MAX_RECORD_BYTES", "64KiB")
            .env("FLOE_SILVER_IGLU_RESOLVER", &resolver)
            .env("FLOE_METRICS_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn floe"),
    );
    let records_in = || get(port, "/metrics").map_or(0, |(_, m)| metric_sum(&m, "floe_silver_records_in_total"));
    let n = cases.len() as u64;
    wait_for("every record in both tables", Duration::from_secs(120), || records_in() >= 2 * n);

    for (table, pick) in [("events", 0), ("snowplow_events", 1)] {
        let bad = bad_rows(&lake, &format!("{table}_bad"));
        let mut rows = 0;
        for (case, seq) in cases.iter().zip(&seqs) {
            let want = if pick == 0 { case.events } else { case.snowplow };
            match (want, bad.get(seq)) {
                (None, None) => rows += 1,
                (None, Some(r)) => panic!("{table}: record {seq} should be a row, is a bad row: {r}"),
                (Some(_), None) => panic!("{table}: record {seq} has no bad row"),
                (Some(""), Some(r)) => assert!(!r.is_empty(), "{table}: {seq} has an empty reason"),
                (Some(w), Some(r)) => assert_eq!(r, w, "{table}: record {seq}"),
            }
        }
        assert_eq!(bad.len() as u64 + rows, n, "{table}: one outcome per record");
        assert_eq!(lake.query_u64(&format!("SELECT count(*) FROM {table}")), rows, "{table}");
    }
    let log = std::fs::read_to_string(lake.dir.path().join("matrix.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "{log}");

    // still running, still loading: one more good record of each format
    let base = plain_base(&lake, 6);
    let more = [
        json(VALID.replace("7d7e3d1c-5bb0-4a53-9a39-1e0b5e0c0a01", "7d7e3d1c-5bb0-4a53-9a39-1e0b5e0c0a02"), None),
        tsv(enriched_line(&base, "d6ef3124-b53a-4b13-a233-0088f79dcbcb", &[]), None),
    ];
    put(&more);
    wait_for("the daemon loads on", Duration::from_secs(120), || records_in() >= 2 * (n + 2));
    sigterm(&mut daemon, "matrix", &lake);
    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), 2);
    assert_eq!(lake.query_u64("SELECT count(*) FROM snowplow_events"), 2);
}
