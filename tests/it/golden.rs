//! Golden tests for the SQL transforms: for every `sql/<table>.sql`, the cases in
//! `tests/golden/<table>/*.golden` run through the table's decoder, transform and dedup marks —
//! the library code silver runs, without the binary, the bronze store or a catalog — and each result row is
//! compared with the expected values written beside its input.
//!
//! A case file, line by line (blank lines and `#` comments are ignored):
//!
//! ```text
//! max_record_bytes: 64          optional: silver.max_record_bytes for this case (default 1 MiB)
//! committed: <id>               an id already in the table (floe's dedup state; also the SQL's
//!                               `committed` input)
//! input: <record>               one bronze record: the rest of the line, byte for byte
//! input-hex: <hex>              one bronze record given as hex (bytes that are not text)
//! input-defect: <reason>        one bronze record the source marked (e.g. a corrupt KPL
//!                               aggregate); its payload is the rest of the line
//! input-fields: {"name": "v", …} one Snowplow enriched event: the named atomic fields set, the
//!                               other of the 131 tab-separated fields empty
//! expect: {"col": value, …}     the result row of the input just above: each named column
//!                               must have this JSON value (null = SQL NULL); others unchecked
//! ```
//!
//! Run: `cargo test --test it golden` (seconds). On a mismatch the message shows the whole
//! actual row, to compare with the case.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use floe::bronze::encode::to_batch;
use floe::catalog::tables::{TableDef, load_defs};
use floe::model::snowplow::{ATOMIC_FIELD_COUNT, atomic_index};
use floe::model::{Position, SequenceNumber, ShardId};
use floe::silver::decode::{Decoder, ORD};
use floe::silver::dedup::{mark_in_batch, mark_seen};
use floe::silver::sql::{BUILT_IN, Transform};
use floe::source::{Defect, Record};
use serde_json::{Map, Value};

/// One parsed case file.
#[derive(Debug, Default)]
struct Case {
    max_record_bytes: Option<u64>,
    committed: Vec<String>,
    /// Each input with the expectation written under it (if any).
    inputs: Vec<(Record, Option<Map<String, Value>>)>,
}

fn parse(path: &Path) -> Case {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut case = Case::default();
    for (n, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), n + 1);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, rest) = line.split_once(':').unwrap_or_else(|| panic!("{}: expected `key: value`", at()));
        let value = rest.strip_prefix(' ').unwrap_or(rest);
        let record = |data: Vec<u8>, defect: Option<Defect>| Record {
            data: bytes::Bytes::from(data),
            position: Position::new(SequenceNumber::from_u64(case.inputs.len() as u64 + 1), 0),
            partition_key: String::new(),
            arrival_ts_micros: 1_764_000_000_000_000,
            defect,
        };
        match key {
            "max_record_bytes" => case.max_record_bytes = Some(value.parse().unwrap_or_else(|_| panic!("{}", at()))),
            "committed" => case.committed.push(value.to_string()),
            "input" => case.inputs.push((record(value.as_bytes().to_vec(), None), None)),
            "input-fields" => {
                let set: Map<String, Value> = serde_json::from_str(value)
                    .unwrap_or_else(|e| panic!("{}: input-fields is not a JSON object: {e}", at()));
                let mut fields = vec![String::new(); ATOMIC_FIELD_COUNT];
                for (name, v) in set {
                    let i = atomic_index(&name).unwrap_or_else(|| panic!("{}: {name} is not an atomic field", at()));
                    fields[i] = v.as_str().unwrap_or_else(|| panic!("{}: {name}: values are strings", at())).into();
                }
                case.inputs.push((record(fields.join("\t").into_bytes(), None), None));
            }
            "input-hex" => {
                let bytes = (0..value.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&value[i..i + 2], 16).unwrap_or_else(|_| panic!("{}: bad hex", at())))
                    .collect();
                case.inputs.push((record(bytes, None), None));
            }
            "input-defect" => {
                let (reason, payload) = value.split_once(' ').unwrap_or((value, ""));
                let defect = Defect::from_reason(reason).unwrap_or_else(|| panic!("{}: unknown defect {reason}", at()));
                case.inputs.push((record(payload.as_bytes().to_vec(), Some(defect)), None));
            }
            "expect" => {
                let want: Map<String, Value> = serde_json::from_str(value)
                    .unwrap_or_else(|e| panic!("{}: expect is not a JSON object: {e}", at()));
                let last = case.inputs.last_mut().unwrap_or_else(|| panic!("{}: expect before any input", at()));
                assert!(last.1.is_none(), "{}: two expectations for one input", at());
                last.1 = Some(want);
            }
            other => panic!("{}: unknown key {other:?}", at()),
        }
    }
    case
}

/// Run a case through `def`'s decoder and transform: the result rows in input order, as JSON.
async fn run(def: &TableDef, transform: &Transform, case: &Case) -> Vec<Map<String, Value>> {
    let records: Vec<Record> = case.inputs.iter().map(|(r, _)| r.clone()).collect();
    let bronze = to_batch(&ShardId::new("golden").unwrap(), &records, 1_764_000_000_000_000).unwrap();
    let decoder = Decoder::for_table(def, case.max_record_bytes.unwrap_or(1 << 20));
    let decoded = decoder.decode(&bronze, 0).unwrap();
    let key = def.dedup.as_ref().map(|d| d.key.clone()).unwrap_or_else(|| "_none".into());
    let committed_schema = Arc::new(Schema::new(vec![Field::new(key, DataType::Utf8, true)]));
    let ids = StringArray::from(case.committed.clone());
    let committed = RecordBatch::try_new(committed_schema.clone(), vec![Arc::new(ids)]).unwrap();
    let mut result = transform.run(decoder.schema(), vec![decoded], committed_schema, vec![committed]).await.unwrap();
    // then what silver does after the SQL: ids already in the table, later copies in the batch
    if let Some(d) = &def.dedup {
        result = mark_seen(result, &d.key, |k| Ok(case.committed.iter().any(|c| c == k))).unwrap().0;
        result = mark_in_batch(result, &d.key).unwrap().0;
    }
    let mut buf = Vec::new();
    let mut w = arrow::json::ArrayWriter::new(&mut buf);
    for b in &result {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    let mut rows: Vec<Map<String, Value>> = if buf.is_empty() { vec![] } else { serde_json::from_slice(&buf).unwrap() };
    rows.sort_by_key(|r| r.get(ORD).and_then(Value::as_i64));
    rows
}

/// The differences between what a case expects and what came out, one line each.
fn mismatches(path: &Path, case: &Case, rows: &[Map<String, Value>]) -> Vec<String> {
    let mut out = Vec::new();
    if rows.len() != case.inputs.len() {
        out.push(format!("{}: {} inputs but {} result rows", path.display(), case.inputs.len(), rows.len()));
        return out;
    }
    for (i, ((_, want), got)) in case.inputs.iter().zip(rows).enumerate() {
        let Some(want) = want else { continue };
        for (col, value) in want {
            let actual = got.get(col).cloned().unwrap_or(Value::Null);
            if &actual != value {
                out.push(format!(
                    "{} input #{}: {col} is {actual}, expected {value}\n    whole row: {}",
                    path.display(),
                    i + 1,
                    Value::Object(got.clone())
                ));
            }
        }
    }
    out
}

fn cases(table: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(table);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("sql/{table}.sql has no golden cases in {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "golden"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "sql/{table}.sql has no golden cases in {}", dir.display());
    files
}

#[tokio::test]
async fn every_sql_transform_gives_its_golden_rows() {
    let defs = load_defs(None).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (table, _) in BUILT_IN {
        let def = defs.iter().find(|d| d.name == *table).unwrap();
        let transform = Transform::load(def, None).unwrap();
        for path in cases(table) {
            let case = parse(&path);
            let rows = run(def, &transform, &case).await;
            checked += case.inputs.iter().filter(|(_, w)| w.is_some()).count();
            failures.extend(mismatches(&path, &case, &rows));
        }
    }
    assert!(failures.is_empty(), "{} golden mismatch(es):\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 20, "only {checked} expectations were checked");
}

/// The suite can fail: a case whose expectation was changed is reported, with the actual row.
#[tokio::test]
async fn a_changed_expectation_is_reported() {
    let defs = load_defs(None).unwrap();
    let def = defs.iter().find(|d| d.name == "events").unwrap();
    let transform = Transform::load(def, None).unwrap();
    let path = cases("events").into_iter().next().unwrap();
    let mut case = parse(&path);
    let (_, want) = case.inputs.iter_mut().find(|(_, w)| w.is_some()).unwrap();
    let want = want.as_mut().unwrap();
    let (col, value) = want.iter_mut().next().unwrap();
    let col = col.clone();
    *value = Value::String("not what the transform gives".into());
    let rows = run(def, &transform, &case).await;
    let found = mismatches(&path, &case, &rows);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains(&format!("{col} is")) && found[0].contains("whole row"), "{}", found[0]);
}
