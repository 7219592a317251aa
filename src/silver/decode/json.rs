//! JSON-object records → one text column per input field of the table, plus `extra` (the
//! fields the table does not know, kept as one JSON object) and the first decode error.

use serde_json::Value;

use super::contract::{RecordDecoder, Rejection, reasons};
use crate::catalog::tables::TableDef;

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

/// The JSON format for one table's input contract.
#[derive(Debug, Clone)]
pub struct JsonDecoder {
    fields: Vec<InputField>,
    /// The input fields' names, then `extra`'s (if the table has one).
    columns: Vec<String>,
    has_extra: bool,
}

impl JsonDecoder {
    pub fn new(def: &TableDef) -> Self {
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
        let mut columns: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
        columns.extend(extra.iter().cloned());
        Self { fields, columns, has_extra: extra.is_some() }
    }
}

impl RecordDecoder for JsonDecoder {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Fill the fields from one record, and `extra` with the fields the table does not know.
    fn decode_record(&self, text: &str, values: &mut [Option<String>]) -> Result<(), Rejection> {
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
        if self.has_extra && !obj.is_empty() {
            values[self.fields.len()] = Some(Value::Object(obj).to_string());
        }
        Ok(())
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
    use crate::bronze::encode::to_batch;
    use crate::catalog::tables::load_defs;
    use crate::model::{Position, SequenceNumber, ShardId};
    use crate::silver::decode::Decoder;
    use crate::source::{Defect, Record};
    use arrow::array::{RecordBatch, StringArray};

    fn decode(lines: &[&[u8]]) -> RecordBatch {
        let defs = load_defs(None).unwrap();
        let dec = Decoder::for_table(&defs[0], 1 << 20);
        let recs: Vec<Record> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| Record {
                data: bytes::Bytes::from(l.to_vec()),
                position: Position::new(SequenceNumber::from_u64(i as u64), 0),
                partition_key: String::new(),
                arrival_ts_micros: 0,
                // as the Kinesis source marks an aggregate it could not split
                defect: crate::source::kinesis::kpl::looks_aggregated(l).then_some(Defect::CorruptKplAggregate),
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
        let dec = Decoder::for_table(&defs[0], 1 << 20);
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
                defect: None,
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
