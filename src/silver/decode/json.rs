//! JSON-object records → one text column per input field of the table, plus `extra` (the
//! fields the table does not know, kept as one JSON object) and the first decode error.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, Int64Array, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde_json::Value;

use super::reasons;
use crate::bronze::encode::downcast;
use crate::catalog::tables::TableDef;
use crate::error::Result;

/// What the decoder needs to know about one input column.
#[derive(Debug, Clone)]
struct InputField {
    name: String,
    required: bool,
    /// Any JSON value accepted, kept as JSON text.
    any_json: bool,
    expect: Expect,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    String,
    Integer,
    Number,
    Boolean,
}

impl Expect {
    fn of(iceberg_type: &str) -> Self {
        match iceberg_type {
            "int" | "long" => Expect::Integer,
            "float" | "double" => Expect::Number,
            "boolean" => Expect::Boolean,
            _ => Expect::String,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Expect::String => "string",
            Expect::Integer => "integer",
            Expect::Number => "number",
            Expect::Boolean => "boolean",
        }
    }
}

/// The JSON decoder for one table's input contract.
#[derive(Debug, Clone)]
pub struct JsonDecoder {
    fields: Vec<InputField>,
    extra: Option<String>,
    max_record_bytes: u64,
    schema: SchemaRef,
}

impl JsonDecoder {
    pub fn new(def: &TableDef, max_record_bytes: u64) -> Self {
        let fields: Vec<InputField> = def
            .input_columns()
            .map(|c| InputField {
                name: c.name.clone(),
                required: c.required,
                any_json: c.from == "json",
                expect: Expect::of(&c.r#type),
            })
            .collect();
        let extra = def.columns.iter().find(|c| c.from == "extra").map(|c| c.name.clone());
        let mut cols = vec![
            Field::new("_ord", DataType::Int64, false),
            Field::new("_error", DataType::Utf8, true),
            Field::new("_error_detail", DataType::Utf8, true),
            Field::new("shard_id", DataType::Utf8, false),
            Field::new("sequence_number", DataType::Utf8, false),
            Field::new("sub_sequence", DataType::Int64, false),
        ];
        cols.extend(fields.iter().map(|f| Field::new(&f.name, DataType::Utf8, true)));
        if let Some(e) = &extra {
            cols.push(Field::new(e, DataType::Utf8, true));
        }
        Self { fields, extra, max_record_bytes, schema: Arc::new(Schema::new(cols)) }
    }

    /// The schema of [`JsonDecoder::decode`]'s output (the SQL's `bronze` table).
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Decode a bronze batch on up to `threads` threads (row order and `_ord` are kept).
    pub fn decode_parallel(&self, bronze: &RecordBatch, threads: usize) -> Result<RecordBatch> {
        let n = bronze.num_rows();
        let chunk = n.div_ceil(threads.max(1)).max(1);
        let parts: Vec<Result<RecordBatch>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .step_by(chunk)
                .map(|start| {
                    let slice = bronze.slice(start, chunk.min(n - start));
                    scope.spawn(move || self.decode(&slice, start as i64))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(crate::error::Error::invalid("a decoder thread panicked"))))
                .collect()
        });
        let parts = parts.into_iter().collect::<Result<Vec<_>>>()?;
        Ok(arrow::compute::concat_batches(&self.schema, &parts)?)
    }

    /// Decode a bronze batch; `first_ord` numbers the rows in read order across batches.
    pub fn decode(&self, bronze: &RecordBatch, first_ord: i64) -> Result<RecordBatch> {
        let data = downcast::<BinaryArray>(bronze.column(0))?;
        let n = bronze.num_rows();
        let mut error = StringBuilder::with_capacity(n, 0);
        let mut detail = StringBuilder::with_capacity(n, 0);
        let mut cols: Vec<StringBuilder> =
            self.fields.iter().map(|_| StringBuilder::with_capacity(n, n * 16)).collect();
        let mut extra = StringBuilder::with_capacity(n, 0);
        let mut values: Vec<Option<String>> = vec![None; self.fields.len()];
        for i in 0..n {
            values.iter_mut().for_each(|v| *v = None);
            let (err, extra_text) = match self.decode_one(data.value(i), &mut values) {
                Ok(x) => (None, x),
                Err(e) => (Some(e), None),
            };
            match err {
                Some((reason, d)) => {
                    error.append_value(reason);
                    detail.append_value(d);
                    cols.iter_mut().for_each(|c| c.append_null());
                }
                None => {
                    error.append_null();
                    detail.append_null();
                    for (c, v) in cols.iter_mut().zip(values.iter_mut()) {
                        c.append_option(v.take());
                    }
                }
            }
            extra.append_option(extra_text);
        }
        let mut out: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(first_ord..first_ord + n as i64)),
            Arc::new(error.finish()),
            Arc::new(detail.finish()),
            bronze.column(1).clone(),
            bronze.column(2).clone(),
            bronze.column(3).clone(),
        ];
        out.extend(cols.iter_mut().map(|c| Arc::new(c.finish()) as ArrayRef));
        if self.extra.is_some() {
            out.push(Arc::new(extra.finish()));
        }
        Ok(RecordBatch::try_new(self.schema.clone(), out)?)
    }

    /// Fill `values` from one record; return the `extra` JSON, or the first failure as
    /// (reason, detail).
    fn decode_one(&self, raw: &[u8], values: &mut [Option<String>]) -> Result<Option<String>, (&'static str, String)> {
        if raw.len() as u64 > self.max_record_bytes {
            return Err((
                reasons::RECORD_TOO_LARGE,
                format!("{} bytes, limit {} (silver.max_record_bytes)", raw.len(), self.max_record_bytes),
            ));
        }
        // Valid aggregates were split by the source; one still here failed its checksum or parse.
        if crate::source::kinesis::kpl::looks_aggregated(raw) {
            return Err((
                reasons::CORRUPT_KPL_AGGREGATE,
                "a KPL aggregate that could not be split (bad MD5 or protobuf body)".to_string(),
            ));
        }
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            return Err((reasons::EMPTY_RECORD, "the record has no content".to_string()));
        }
        let text = std::str::from_utf8(raw)
            .map_err(|e| (reasons::INVALID_UTF8, format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
        let value: Value = serde_json::from_str(text).map_err(|e| (reasons::INVALID_JSON, e.to_string()))?;
        let Value::Object(mut obj) = value else {
            return Err((reasons::NOT_AN_OBJECT, format!("expected a JSON object, got {}", kind(&value))));
        };
        for (f, slot) in self.fields.iter().zip(values.iter_mut()) {
            let v = obj.remove(&f.name);
            *slot = match v {
                None | Some(Value::Null) => {
                    if f.required {
                        return Err((reasons::MISSING_FIELD, f.name.clone()));
                    }
                    None
                }
                Some(Value::String(s)) if f.any_json || f.expect == Expect::String => Some(s),
                Some(v) if f.any_json => Some(v.to_string()),
                Some(Value::Number(n))
                    if f.expect == Expect::Number || (f.expect == Expect::Integer && (n.is_i64() || n.is_u64())) =>
                {
                    Some(n.to_string())
                }
                Some(Value::Bool(b)) if f.expect == Expect::Boolean => Some(b.to_string()),
                Some(v) => {
                    return Err((
                        reasons::WRONG_TYPE,
                        format!("{}: expected {}, got {}", f.name, f.expect.name(), kind(&v)),
                    ));
                }
            };
        }
        Ok(match &self.extra {
            Some(_) if !obj.is_empty() => Some(Value::Object(obj).to_string()),
            _ => None,
        })
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bronze::encode::to_batch;
    use crate::catalog::tables::load_defs;
    use crate::model::{Position, SequenceNumber, ShardId};
    use crate::source::Record;
    use arrow::array::StringArray;

    fn decode(lines: &[&[u8]]) -> RecordBatch {
        let defs = load_defs(None).unwrap();
        let dec = JsonDecoder::new(&defs[0], 1 << 20);
        let recs: Vec<Record> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| Record {
                data: bytes::Bytes::from(l.to_vec()),
                position: Position::new(SequenceNumber::from_u64(i as u64), 0),
                partition_key: String::new(),
                arrival_ts_micros: 0,
            })
            .collect();
        let b = to_batch(&ShardId::new("s").unwrap(), &recs, 0).unwrap();
        dec.decode(&b, 0).unwrap()
    }

    fn col(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
        let a = b.column_by_name(name).unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        a.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn every_kind_of_bad_input_gets_a_reason() {
        let big = vec![b' '; (1 << 20) + 1];
        let b = decode(&[
            br#"{"event_id":"a","collector_tstamp":"t","event":"e","platform":"web","x":1}"#,
            b"{\"event_id\": \"a\", ",
            b"",
            &[0xff, 0xfe],
            b"[1,2]",
            br#"{"event_id":"a","collector_tstamp":"t","event":"e","platform":7}"#,
            br#"{"collector_tstamp":"t","event":"e","platform":"web"}"#,
            &big,
            &[0xF3, 0x89, 0x9A, 0xC2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17],
        ]);
        assert_eq!(
            col(&b, "_error"),
            vec![
                None,
                Some("invalid_json".into()),
                Some("empty_record".into()),
                Some("invalid_utf8".into()),
                Some("not_an_object".into()),
                Some("wrong_type".into()),
                Some("missing_field".into()),
                Some("record_too_large".into()),
                Some("corrupt_kpl_aggregate".into()),
            ]
        );
        assert_eq!(col(&b, "extra")[0].as_deref(), Some(r#"{"x":1}"#));
        assert_eq!(col(&b, "platform")[0].as_deref(), Some("web"));
        assert_eq!(col(&b, "_error_detail")[6].as_deref(), Some("event_id"));
    }

    #[test]
    fn parallel_decode_keeps_order_and_ords() {
        let defs = load_defs(None).unwrap();
        let dec = JsonDecoder::new(&defs[0], 1 << 20);
        let lines: Vec<Vec<u8>> = (0..101)
            .map(|i| {
                format!("{{\"event_id\":\"{i}\",\"collector_tstamp\":\"t\",\"event\":\"e\",\"platform\":\"p\"}}")
                    .into_bytes()
            })
            .collect();
        let recs: Vec<Record> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| Record {
                data: bytes::Bytes::from(l.clone()),
                position: Position::new(SequenceNumber::from_u64(i as u64), 0),
                partition_key: String::new(),
                arrival_ts_micros: 0,
            })
            .collect();
        let b = to_batch(&ShardId::new("s").unwrap(), &recs, 0).unwrap();
        let one = dec.decode(&b, 0).unwrap();
        for threads in [1, 2, 3, 7] {
            assert_eq!(dec.decode_parallel(&b, threads).unwrap(), one, "{threads} threads");
        }
    }

    #[test]
    fn json_columns_keep_any_value_as_text() {
        let b = decode(&[
            br#"{"event_id":"a","collector_tstamp":"t","event":"e","platform":"web","contexts":{"k":[1,2]}}"#,
        ]);
        assert_eq!(col(&b, "contexts")[0].as_deref(), Some(r#"{"k":[1,2]}"#));
        assert_eq!(col(&b, "extra")[0], None);
    }
}
