//! JSON-object records → one text column per input field of the table, plus `extra` (the
//! fields the table does not know, kept as one JSON object) and the first decode error.

use std::borrow::Cow;

use super::contract::{RecordDecoder, Rejection, reasons};
use super::json_scan::{Kind, Member, ScanError, members, unescape};
use crate::catalog::tables::TableDef;
use crate::iglu::Envelope;

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
    /// JSON columns with Snowplow's names for self-describing JSON (`contexts`,
    /// `derived_contexts`, `unstruct_event`): what the data contracts check.
    envelopes: Vec<(usize, Envelope)>,
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
        let envelopes = fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.any_json)
            .filter_map(|(j, f)| match f.name.as_str() {
                "contexts" | "derived_contexts" => Some((j, Envelope::Contexts)),
                "unstruct_event" => Some((j, Envelope::Unstruct)),
                _ => None,
            })
            .collect();
        Self { fields, columns, has_extra: extra.is_some(), envelopes }
    }
}

impl RecordDecoder for JsonDecoder {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn envelopes(&self) -> &[(usize, Envelope)] {
        &self.envelopes
    }

    /// Fill the fields from one record, and `extra` with the fields the table does not know. A
    /// key given twice counts once, its last value (as serde_json reads it); nested JSON and
    /// `extra` keep the record's own text.
    fn decode_record<'a>(&self, text: &'a str, values: &mut [Option<Cow<'a, str>>]) -> Result<(), Rejection> {
        let members = members(text).map_err(|e| match e {
            ScanError::Invalid(message) => (reasons::INVALID_JSON, message),
            ScanError::NotAnObject(kind) => {
                (reasons::NOT_AN_OBJECT, format!("expected a JSON object, got {}", kind.name()))
            }
        })?;
        let mut found: Vec<Option<&str>> = vec![None; self.fields.len()];
        let mut unknown: Vec<&Member<'a>> = Vec::new();
        for m in &members {
            match self.fields.iter().position(|f| f.name == m.key) {
                Some(at) => found[at] = Some(m.value),
                None if self.has_extra => match unknown.iter().position(|u| u.key == m.key) {
                    Some(at) => unknown[at] = m,
                    None => unknown.push(m),
                },
                None => {}
            }
        }
        for ((f, raw), slot) in self.fields.iter().zip(found).zip(values.iter_mut()) {
            *slot = field_value(f, raw)?;
        }
        if !unknown.is_empty() {
            let mut extra =
                String::with_capacity(2 + unknown.iter().map(|m| m.raw_key.len() + m.value.len() + 2).sum::<usize>());
            extra.push('{');
            for (i, m) in unknown.iter().enumerate() {
                if i > 0 {
                    extra.push(',');
                }
                extra.push_str(m.raw_key);
                extra.push(':');
                extra.push_str(m.value);
            }
            extra.push('}');
            values[self.fields.len()] = Some(Cow::Owned(extra));
        }
        Ok(())
    }
}

/// One field's text from its raw JSON value (`None`: absent), or why the record is rejected.
fn field_value<'a>(f: &InputField, raw: Option<&'a str>) -> Result<Option<Cow<'a, str>>, Rejection> {
    let kind = raw.map_or(Kind::Null, Kind::of);
    let Some(raw) = raw.filter(|_| kind != Kind::Null) else {
        return match f.required {
            true => Err((reasons::MISSING_FIELD, f.name.clone())),
            false => Ok(None),
        };
    };
    let wrong = || (reasons::WRONG_TYPE, format!("{}: expected {}, got {}", f.name, f.expect.name(), kind.name()));
    Ok(Some(match kind {
        Kind::String if f.any_json || f.expect == Expect::String => unescape(raw),
        _ if f.any_json => Cow::Borrowed(raw),
        Kind::Number if matches!(f.expect, Expect::Number | Expect::Integer) => {
            // serde_json's reading of the number, as before: integers must be integral
            let n: serde_json::Number = serde_json::from_str(raw).map_err(|_| wrong())?;
            if f.expect == Expect::Integer && !(n.is_i64() || n.is_u64()) {
                return Err(wrong());
            }
            Cow::Owned(n.to_string())
        }
        Kind::Boolean if f.expect == Expect::Boolean => Cow::Borrowed(raw),
        _ => return Err(wrong()),
    }))
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
            let parts = dec.decode_parallel(&b, threads).unwrap();
            assert_eq!(arrow::compute::concat_batches(&dec.schema(), &parts).unwrap(), one, "{threads} threads");
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
