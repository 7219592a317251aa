//! The per-schema columns' values: each row's entities shaped to their column's type and
//! decoded into Arrow by arrow-json against the table's own Arrow schema (field ids included),
//! appended to the SQL's result. A row with an entity of a rejected version, or one that does
//! not fit its column, becomes a bad row (`incompatible_schema`) instead.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{Field, FieldRef, Schema as ArrowSchema};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use iceberg::spec::{NestedField, PrimitiveType, Type};
use serde_json::{Map, Value};

use super::naming::{SCHEMA_VERSION, snake_case};
use super::plan::{Parsed, Plan};
use crate::error::{Error, Result};
use crate::iglu::Envelope;
use crate::iglu::contracts::reasons::INCOMPATIBLE_SCHEMA;
use crate::silver::sql::{DETAIL, REASON};

/// `result` with the planned columns appended (named and typed as `arrow_fields`, the table's
/// Arrow fields of those columns) and the rows that cannot have them rejected.
pub fn append(
    result: Vec<RecordBatch>,
    parsed: &Parsed,
    plan: &Plan,
    arrow_fields: &BTreeMap<String, FieldRef>,
) -> Result<Vec<RecordBatch>> {
    let columns: Vec<(usize, &NestedField, FieldRef)> = plan
        .columns
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let c = c.as_ref()?;
            Some((i, c, arrow_fields.get(&c.name)?.clone()))
        })
        .collect();
    let schema = Arc::new(ArrowSchema::new(columns.iter().map(|(_, _, f)| f.clone()).collect::<Vec<_>>()));
    let mut out = Vec::with_capacity(result.len());
    for (batch, rows) in result.into_iter().zip(&parsed.rows) {
        let reason = text_column(&batch, REASON)?;
        let detail = text_column(&batch, DETAIL)?;
        let mut new_reason: Vec<Option<String>> = Vec::with_capacity(batch.num_rows());
        let mut new_detail: Vec<Option<String>> = Vec::with_capacity(batch.num_rows());
        let mut lines = Vec::with_capacity(batch.num_rows() * 64);
        for (i, found) in rows.iter().enumerate() {
            let row = match reason.is_null(i) {
                true => row_object(found, parsed, plan, &columns),
                false => Ok(Map::new()),
            };
            match row {
                Ok(object) => {
                    new_reason.push((!reason.is_null(i)).then(|| reason.value(i).to_string()));
                    new_detail.push((!detail.is_null(i)).then(|| detail.value(i).to_string()));
                    serde_json::to_writer(&mut lines, &object)
                        .map_err(|e| Error::invalid(format!("per-schema columns: {e}")))?;
                }
                Err(why) => {
                    new_reason.push(Some(INCOMPATIBLE_SCHEMA.to_string()));
                    new_detail.push(Some(why));
                    lines.extend_from_slice(b"{}");
                }
            }
            lines.push(b'\n');
        }
        let values = match schema.fields().is_empty() {
            true => Vec::new(),
            false => decode(&schema, &lines, batch.num_rows())?,
        };
        out.push(rebuild(&batch, new_reason, new_detail, &schema, values)?);
    }
    Ok(out)
}

/// One row's per-schema values, keyed by column; `Err`: why the row is a bad row.
fn row_object(
    found: &[super::plan::Found],
    parsed: &Parsed,
    plan: &Plan,
    columns: &[(usize, &NestedField, FieldRef)],
) -> std::result::Result<Map<String, Value>, String> {
    let mut object = Map::new();
    for f in found {
        let family = &parsed.families[f.family];
        let uri = family.uri(f.version);
        if let Some(why) = plan.rejected.get(&(f.family, f.version)) {
            return Err(format!("{} {uri}: {why}", f.at));
        }
        let Some((_, column, _)) = columns.iter().find(|(i, _, _)| *i == f.family) else { continue };
        let fail = |why: String| format!("{} {uri}: does not fit column {}: {why}", f.at, column.name);
        match family.envelope {
            Envelope::Unstruct => {
                object.insert(column.name.clone(), conform(&f.data, &column.field_type, "").map_err(fail)?);
            }
            Envelope::Contexts => {
                let Type::List(list) = &*column.field_type else { return Err(fail("not a list column".into())) };
                let mut data = f.data.clone();
                if let Value::Object(o) = &mut data {
                    let [m, r, a] = f.version;
                    o.insert(SCHEMA_VERSION.to_string(), Value::String(format!("{m}-{r}-{a}")));
                }
                let element = conform(&data, &list.element_field.field_type, "").map_err(fail)?;
                let entry = object.entry(column.name.clone()).or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = entry {
                    items.push(element);
                }
            }
        }
    }
    Ok(object)
}

/// `v` shaped to `t`: object keys snake-cased to the field names, timestamps normalised, JSON
/// kept as text where the column is a string. `Err` names the path that does not fit.
fn conform(v: &Value, t: &Type, path: &str) -> std::result::Result<Value, String> {
    let mismatch = || format!("{} is not {t}", if path.is_empty() { "/" } else { path });
    if v.is_null() {
        return Ok(Value::Null);
    }
    Ok(match t {
        Type::Primitive(PrimitiveType::String) => match v {
            Value::String(_) => v.clone(),
            other => Value::String(other.to_string()),
        },
        Type::Primitive(PrimitiveType::Long) => Value::from(v.as_i64().ok_or_else(mismatch)?),
        Type::Primitive(PrimitiveType::Double) => Value::from(v.as_f64().ok_or_else(mismatch)?),
        Type::Primitive(PrimitiveType::Boolean) => Value::Bool(v.as_bool().ok_or_else(mismatch)?),
        Type::Primitive(PrimitiveType::Timestamptz) => {
            let s = v.as_str().ok_or_else(mismatch)?;
            let ts = DateTime::parse_from_rfc3339(s).map_err(|_| mismatch())?.with_timezone(&Utc);
            Value::String(ts.to_rfc3339_opts(SecondsFormat::Micros, true))
        }
        Type::Primitive(PrimitiveType::Date) => {
            let s = v.as_str().ok_or_else(mismatch)?;
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| mismatch())?;
            v.clone()
        }
        Type::Primitive(_) => v.clone(),
        Type::Struct(s) => {
            let Value::Object(o) = v else { return Err(mismatch()) };
            let mut by_name: BTreeMap<String, &Value> = BTreeMap::new();
            for (k, val) in o {
                by_name.entry(snake_case(k)).or_insert(val);
            }
            let mut out = Map::new();
            for f in s.fields() {
                let at = format!("{path}/{}", f.name);
                let value = match by_name.get(f.name.as_str()) {
                    Some(val) => conform(val, &f.field_type, &at)?,
                    None => Value::Null,
                };
                if value.is_null() && f.required {
                    return Err(format!("{at} is required"));
                }
                out.insert(f.name.clone(), value);
            }
            Value::Object(out)
        }
        Type::List(l) => {
            let Value::Array(items) = v else { return Err(mismatch()) };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let value = conform(item, &l.element_field.field_type, &format!("{path}/{i}"))?;
                if value.is_null() && l.element_field.required {
                    return Err(format!("{path}/{i} is required"));
                }
                out.push(value);
            }
            Value::Array(out)
        }
        Type::Map(_) => v.clone(),
    })
}

/// Decode one JSON object per line into `schema`'s columns.
fn decode(schema: &Arc<ArrowSchema>, lines: &[u8], rows: usize) -> Result<Vec<ArrayRef>> {
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone()).with_batch_size(rows.max(1)).build_decoder()?;
    let mut rest = lines;
    while !rest.is_empty() {
        let used = decoder.decode(rest)?;
        if used == 0 {
            break;
        }
        rest = &rest[used..];
    }
    let batch = decoder.flush()?.unwrap_or_else(|| RecordBatch::new_empty(schema.clone()));
    if batch.num_rows() != rows {
        return Err(Error::invalid(format!("per-schema columns: {} rows decoded of {rows}", batch.num_rows())));
    }
    Ok(batch.columns().to_vec())
}

fn rebuild(
    batch: &RecordBatch,
    reason: Vec<Option<String>>,
    detail: Vec<Option<String>>,
    added: &ArrowSchema,
    values: Vec<ArrayRef>,
) -> Result<RecordBatch> {
    let mut fields: Vec<FieldRef> = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if added.field_with_name(f.name()).is_ok() {
            continue;
        }
        let c: ArrayRef = match f.name().as_str() {
            REASON => Arc::new(StringArray::from(reason.clone())),
            DETAIL => Arc::new(StringArray::from(detail.clone())),
            _ => c.clone(),
        };
        let f = match f.name().as_str() {
            REASON | DETAIL => Arc::new(Field::new(f.name(), c.data_type().clone(), true)),
            _ => f.clone(),
        };
        fields.push(f);
        cols.push(c);
    }
    fields.extend(added.fields().iter().cloned());
    cols.extend(values);
    Ok(RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), cols)?)
}

fn text_column(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    let c = batch.column_by_name(name).ok_or_else(|| Error::invalid(format!("the result has no column {name}")))?;
    let c = arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8)?;
    c.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| Error::invalid(format!("the result's {name} is not text")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::spec::{ListType, StructType};
    use serde_json::json;

    #[test]
    fn values_are_shaped_to_their_column() {
        let t = Type::Struct(StructType::new(vec![
            NestedField::required(1, "unit_price", Type::Primitive(PrimitiveType::Double)).into(),
            NestedField::optional(2, "added_at", Type::Primitive(PrimitiveType::Timestamptz)).into(),
            NestedField::optional(3, "extra", Type::Primitive(PrimitiveType::String)).into(),
            NestedField::optional(
                4,
                "tags",
                Type::List(ListType::new(
                    NestedField::list_element(5, Type::Primitive(PrimitiveType::Long), true).into(),
                )),
            )
            .into(),
        ]));
        let v = json!({"unitPrice": 3, "addedAt": "2026-12-01T10:00:00+01:00", "extra": {"a": 1}, "tags": [1, 2]});
        assert_eq!(
            conform(&v, &t, "").unwrap(),
            json!({"unit_price": 3.0, "added_at": "2026-12-01T09:00:00.000000Z", "extra": "{\"a\":1}", "tags": [1, 2]})
        );
        assert_eq!(conform(&json!({}), &t, "").unwrap_err(), "/unit_price is required");
        assert_eq!(conform(&json!({"unitPrice": "x"}), &t, "").unwrap_err(), "/unit_price is not double");
        assert_eq!(conform(&json!({"unitPrice": 1, "tags": [null]}), &t, "").unwrap_err(), "/tags/0 is required");
    }
}
