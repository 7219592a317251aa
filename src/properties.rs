//! Property tests of what outside input reaches: the JSON and Snowplow decoders, KPL
//! de-aggregation, bronze key parsing and sequence-number ordering. Arbitrary input must never
//! panic and every record must come out as exactly one row, decoded or with a reason; what has a
//! round trip keeps it. Stable Rust, so `proptest` rather than a fuzzer. A failing case proptest
//! finds is shrunk and saved under `proptest-regressions/` (kept in the repo, replayed first on
//! every run); the hand-picked edge cases are the `#[test]`s at the end.
//!
//! `PROPTEST_CASES=5000 cargo test --lib properties` runs them harder.

use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use bytes::Bytes;
use md5::{Digest, Md5};
use proptest::prelude::*;

use crate::bronze::encode::to_batch;
use crate::bronze::layout::BronzeKey;
use crate::catalog::tables::load_defs_named;
use crate::config::BronzeFormat;
use crate::model::{Position, SequenceNumber, ShardId};
use crate::silver::decode::{Decoder, ERROR, ORD, reasons};
use crate::source::Record;
use crate::source::kinesis::kpl::{MAGIC, UserRecord, deaggregate};

/// 200 cases per property, or `PROPTEST_CASES` (scripts/torture.sh runs them harder).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200)
}

fn decoder(table: &str) -> Decoder {
    let defs = load_defs_named(None, Some(&[table.to_string()])).expect("the shipped table definitions");
    Decoder::for_table(&defs[0], 1 << 20)
}

/// Decode `payloads` as one bronze batch of `table`; the `_error` of each row.
fn decode(d: &Decoder, payloads: &[Vec<u8>]) -> Vec<Option<String>> {
    let records: Vec<Record> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| Record {
            data: Bytes::from(p.clone()),
            position: Position::new(SequenceNumber::from_u64(i as u64 + 1), 0),
            partition_key: "pk".into(),
            arrival_ts_micros: 0,
            defect: None,
        })
        .collect();
    let shard = ShardId::new("s").expect("a shard id");
    let bronze = to_batch(&shard, &records, 0).expect("a bronze batch");
    let out: RecordBatch = d.decode(&bronze, 0).expect("decode never fails as a whole on bad records");
    assert_eq!(out.num_rows(), payloads.len(), "one row per record");
    let ord = out.column_by_name(ORD).and_then(|c| c.as_any().downcast_ref::<Int64Array>()).expect("_ord");
    assert!((0..ord.len()).all(|i| ord.value(i) == i as i64), "rows in read order");
    let err = out.column_by_name(ERROR).and_then(|c| c.as_any().downcast_ref::<StringArray>()).expect("_error");
    (0..err.len()).map(|i| err.is_valid(i).then(|| err.value(i).to_string())).collect()
}

/// Text that looks like JSON: its punctuation, keywords and the events' field names.
fn json_like() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("\"event_id\"".to_string()),
        Just("\"collector_tstamp\"".to_string()),
        Just("\"contexts\"".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        "-?[0-9]{1,25}(\\.[0-9]{0,5})?([eE][+-]?[0-9]{1,4})?",
        "\"([ -~]|\\\\[\"\\\\/bfnrtu]|\\\\u[0-9a-fA-F]{0,4}|[é€😀])*\"?",
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat().into_bytes())
}

/// A JSON event: the fields the `events` table reads, each of any JSON type, or absent.
fn json_event() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[ -~]{0,20}".prop_map(serde_json::Value::from),
        Just(serde_json::json!({"schema": "iglu:com.acme/x/jsonschema/1-0-0", "data": {}})),
        Just(serde_json::json!([1, "a", null])),
    ];
    let fields = ["event_id", "collector_tstamp", "event", "platform", "user_id", "contexts", "unstruct_event"];
    prop::collection::vec(prop::option::of(value), fields.len()).prop_map(move |values| {
        let map: serde_json::Map<String, serde_json::Value> =
            fields.iter().zip(values).filter_map(|(k, v)| v.map(|v| (k.to_string(), v))).collect();
        serde_json::Value::Object(map).to_string().into_bytes()
    })
}

/// One enriched-event field: empty, text, or shaped like a timestamp, number, boolean or
/// self-describing JSON (most fields are one of these).
fn enriched_field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[ -~]{0,12}",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z?",
        "-?[0-9]{1,22}(\\.[0-9]{0,4})?",
        "[01]|true|false",
        "\\{\"schema\":\"iglu:[a-z.]{1,8}/[a-z]{1,8}/jsonschema/[0-9]-[0-9]-[0-9]\",\"data\":(\\[|\\{|null|1)",
    ]
}

/// An enriched-event line of about the right number of fields.
fn enriched_line() -> impl Strategy<Value = Vec<u8>> {
    (prop_oneof![Just(131usize), 129usize..=133], any::<bool>())
        .prop_flat_map(|(n, crlf)| (prop::collection::vec(enriched_field(), n), Just(crlf)))
        .prop_map(|(fields, crlf)| (fields.join("\t") + if crlf { "\r\n" } else { "" }).into_bytes())
}

/// An aggregated record as the KPL writes it (test side): the partition-key and hash-key
/// tables, one `Record` per user record, the MD5 of the protobuf after it.
fn aggregate(records: &[(String, Option<String>, Vec<u8>)]) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
        varint(out, number << 3 | 2);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }
    let mut keys: Vec<&str> = Vec::new();
    let mut hashes: Vec<&str> = Vec::new();
    let mut body = Vec::new();
    let mut entries = Vec::new();
    for (pk, ehk, data) in records {
        let mut rec = Vec::new();
        varint(&mut rec, 1 << 3);
        varint(&mut rec, position_or_push(&mut keys, pk));
        if let Some(h) = ehk {
            varint(&mut rec, 2 << 3);
            varint(&mut rec, position_or_push(&mut hashes, h));
        }
        field(&mut rec, 3, data);
        entries.push(rec);
    }
    for k in &keys {
        field(&mut body, 1, k.as_bytes());
    }
    for h in &hashes {
        field(&mut body, 2, h.as_bytes());
    }
    for rec in &entries {
        field(&mut body, 3, rec);
    }
    seal(&body)
}

fn position_or_push<'a>(table: &mut Vec<&'a str>, k: &'a str) -> u64 {
    match table.iter().position(|t| *t == k) {
        Some(i) => i as u64,
        None => {
            table.push(k);
            table.len() as u64 - 1
        }
    }
}

/// Magic + `body` + MD5(`body`): an aggregate whose checksum holds, whatever the body is.
fn seal(body: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(body);
    out.extend_from_slice(Md5::digest(body).as_slice());
    out
}

fn user_records() -> impl Strategy<Value = Vec<(String, Option<String>, Vec<u8>)>> {
    let pk = prop_oneof![Just("a".to_string()), Just("b".to_string()), "[ -~]{1,16}", "[é€😀a]{1,4}"];
    let ehk = prop::option::of(prop_oneof![Just("1".to_string()), "[0-9]{1,39}"]);
    prop::collection::vec((pk, ehk, prop::collection::vec(any::<u8>(), 0..64)), 1..20)
}

fn digits(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(0u8..10, 1..=max).prop_map(|d| d.into_iter().map(|x| char::from(b'0' + x)).collect())
}

fn bronze_key() -> impl Strategy<Value = BronzeKey> {
    let shard = "[A-Za-z0-9_.-]{1,24}".prop_filter("not . or ..", |s| s != "." && s != "..");
    ("[a-z][a-z0-9_.-]{0,20}", shard, digits(56), digits(56), 0i64..4_102_444_800_000_000, any::<bool>()).prop_map(
        |(stream, shard, a, b, arrival, parquet)| {
            let (a, b) = (SequenceNumber::new(a).expect("digits"), SequenceNumber::new(b).expect("digits"));
            let (first, last) = if a <= b { (a, b) } else { (b, a) };
            let format = if parquet { BronzeFormat::Parquet } else { BronzeFormat::JsonLines };
            BronzeKey::new(&stream, ShardId::new(shard).expect("a valid shard id"), first, last, arrival, format)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Any bytes, JSON-looking text or event of any field types: one row each, never a panic;
    /// what serde_json cannot parse as an object is never loaded.
    #[test]
    fn json_decoder_takes_any_record(records in prop::collection::vec(
        prop_oneof![prop::collection::vec(any::<u8>(), 0..80), json_like(), json_event()], 1..24)
    ) {
        let errors = decode(&decoder("events"), &records);
        for (raw, err) in records.iter().zip(&errors) {
            let object = serde_json::from_slice::<serde_json::Value>(raw).is_ok_and(|v| v.is_object());
            prop_assert!(object || err.is_some(), "loaded without being a JSON object: {:?}", String::from_utf8_lossy(raw));
        }
    }

    /// Any enriched-looking line or bytes: one row each, never a panic; a line without 131
    /// fields is `wrong_field_count`, bytes that are not UTF-8 are `invalid_utf8`.
    #[test]
    fn snowplow_decoder_takes_any_line(records in prop::collection::vec(
        prop_oneof![enriched_line(), prop::collection::vec(any::<u8>(), 0..200)], 1..12)
    ) {
        let errors = decode(&decoder("snowplow_events"), &records);
        for (raw, err) in records.iter().zip(&errors) {
            let Ok(text) = std::str::from_utf8(raw) else {
                prop_assert_eq!(err.as_deref(), Some(reasons::INVALID_UTF8));
                continue;
            };
            let text = text.strip_suffix('\n').unwrap_or(text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            if !raw.iter().all(u8::is_ascii_whitespace) && text.split('\t').count() != 131 {
                prop_assert_eq!(err.as_deref(), Some(reasons::WRONG_FIELD_COUNT));
            }
        }
    }

    /// An aggregate made the way the KPL makes it splits back into its records, in order, with
    /// their keys and sub-sequence numbers.
    #[test]
    fn kpl_aggregates_round_trip(records in user_records()) {
        let data = Bytes::from(aggregate(&records));
        let split = deaggregate(&data).expect("a valid aggregate").expect("recognised as an aggregate");
        let want: Vec<UserRecord> = records.iter().enumerate().map(|(i, (pk, ehk, d))| UserRecord {
            partition_key: pk.clone(),
            explicit_hash_key: ehk.clone(),
            data: Bytes::from(d.clone()),
            sub_sequence: i as u64,
        }).collect();
        prop_assert_eq!(split, want);
    }

    /// A damaged aggregate — its body cut, overwritten or random, with a checksum that still
    /// holds, or a checksum that does not — is an error or some records, never a panic.
    #[test]
    fn kpl_damaged_aggregates_never_panic(
        records in user_records(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        random in prop::collection::vec(any::<u8>(), 0..64),
        reseal in any::<bool>(),
    ) {
        let whole = aggregate(&records);
        let mut body = whole[MAGIC.len()..whole.len() - 16].to_vec();
        body.truncate(cut.index(body.len() + 1));
        for (at, b) in flips {
            if !body.is_empty() {
                let i = at.index(body.len());
                body[i] ^= b;
            }
        }
        let damaged = if reseal { seal(&body) } else { [&MAGIC[..], &body, &[0u8; 16]].concat() };
        // whatever is read out of damaged bytes came from them: no record outgrows its input
        for input in [damaged, seal(&random)] {
            let size = input.len();
            if let Ok(Some(out)) = deaggregate(&Bytes::from(input)) {
                prop_assert!(out.iter().all(|r| r.data.len() <= size));
            }
        }
        // bytes without the KPL magic are a plain record, never an aggregate
        if !random.starts_with(&MAGIC) {
            prop_assert!(matches!(deaggregate(&Bytes::from(random)), Ok(None)));
        }
    }

    /// Every key floe writes parses back to itself.
    #[test]
    fn bronze_keys_round_trip(key in bronze_key(), prefix in "([a-z0-9]{1,8}/){0,3}") {
        prop_assert_eq!(BronzeKey::parse(&format!("{prefix}{}", key.path())), Some(key));
    }

    /// Any other path is ignored or parsed into a key that writes the same path back.
    #[test]
    fn bronze_key_parsing_takes_any_path(path in "([a-z0-9=._-]{0,12}/){0,6}[0-9a-z.-]{0,40}") {
        if let Some(key) = BronzeKey::parse(&path) {
            prop_assert!(path.ends_with(&key.path()), "{} from {}", key.path(), path);
            prop_assert_eq!(BronzeKey::parse(&key.path()), Some(key));
        }
    }

    /// Sequence numbers order as the numbers they are, leading zeros or not.
    #[test]
    fn sequence_numbers_order_numerically(a in any::<u128>(), b in any::<u128>(), zeros in 0usize..5) {
        let seq = |n: u128, z: usize| SequenceNumber::new(format!("{}{n}", "0".repeat(z))).expect("digits");
        prop_assert_eq!(seq(a, zeros).cmp(&seq(b, 0)), a.cmp(&b));
        prop_assert_eq!(seq(a, zeros), seq(a, 0));
    }

    /// Kinesis-sized numbers (up to 129 digits, beyond any integer type) order like their
    /// zero-padded text, and positions print and parse back.
    #[test]
    fn long_sequence_numbers_order_and_positions_round_trip(a in digits(129), b in digits(129), sub in any::<u64>()) {
        let pad = |s: &str| format!("{s:0>129}");
        let (x, y) = (SequenceNumber::new(a.clone()).expect("digits"), SequenceNumber::new(b.clone()).expect("digits"));
        prop_assert_eq!(x.cmp(&y), pad(&a).cmp(&pad(&b)));
        let p = Position::new(x, sub);
        prop_assert_eq!(p.to_string().parse::<Position>().expect("a position"), p);
    }
}

/// Hand-picked inputs beside the generated ones.
#[test]
fn edge_cases_decode_to_one_row_each() {
    let json: Vec<Vec<u8>> = [
        &b""[..],
        b" \n",
        b"\xff\xfe",
        b"[]",
        b"\"x\"",
        b"{",
        b"{\"event_id\":\"\\ud800\"}",
        b"{\"event_id\":1e999}",
        &[b'['; 10_000][..],
        b"{}{}",
        b"\0",
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect();
    assert!(decode(&decoder("events"), &json).iter().all(Option::is_some), "none of these is an event");
    // empty; only tabs; 131 fields, all but one empty; 132; 131 with a CRLF (the SQL's rules
    // reject rows missing required fields, the decoder only splits)
    let tsv: Vec<Vec<u8>> = [
        String::new(),
        "\t".repeat(130),
        "x".to_string() + &"\t".repeat(130),
        "x".to_string() + &"\t".repeat(131),
        "x".to_string() + &"\t".repeat(130) + "\r\n",
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();
    let errors = decode(&decoder("snowplow_events"), &tsv);
    assert_eq!(errors[0].as_deref(), Some(reasons::EMPTY_RECORD));
    assert_eq!(errors[1].as_deref(), Some(reasons::EMPTY_RECORD), "tabs alone carry nothing");
    assert_eq!(errors[2], None, "empty fields decode (every field is optional to the decoder)");
    assert_eq!(errors[3].as_deref(), Some(reasons::WRONG_FIELD_COUNT));
    assert_eq!(errors[4], None, "a line ending is not a field");
}

#[test]
fn kpl_edge_cases_are_errors_not_panics() {
    let huge_length = seal(&[0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    let long_varint = seal(&[0x08; 1].iter().chain([0xffu8; 11].iter()).copied().collect::<Vec<u8>>());
    let index_out_of_range = seal(&[0x1a, 0x04, 0x08, 0x05, 0x1a, 0x00]);
    for data in [huge_length, long_varint, index_out_of_range] {
        assert!(deaggregate(&Bytes::from(data)).is_err());
    }
}
