//! After the SQL: every result row goes to exactly one place — the table, the bad-rows table, or
//! the dedup count — and each table only receives the records past its own watermark (after a
//! crash between the two commits of a batch, the retry must not write a bad row twice).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array,
};
use arrow::compute::{cast, filter_record_batch, take};
use arrow::datatypes::SchemaRef;

use super::decode::ORD;
use super::read::object_of;
use super::sql::{DETAIL, REASON};
use crate::bronze::encode::{col, downcast};
use crate::error::{Error, Result};
use crate::model::snowplow::SchemaKey;

/// The outcome of one batch, per destination.
#[derive(Debug)]
pub struct Split {
    /// Rows for the table, in its Arrow schema.
    pub good: Vec<RecordBatch>,
    /// Rows for the bad-rows table, in its Arrow schema.
    pub bad: RecordBatch,
    /// Records past the table's watermark (what its commit accounts for).
    pub records_in: u64,
    pub rows: u64,
    pub dedup_drops: u64,
    /// Rejected records past the table's watermark, by reason (accounted in the table's commit).
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Bad rows written in this batch (past the bad table's watermark), by reason.
    pub bad_by_reason: BTreeMap<String, u64>,
}

/// Where a batch's records came from, for its bad rows.
pub struct Lineage<'a> {
    /// The table's record format (`DecoderKind::name`).
    pub format: &'static str,
    /// The bronze object of each run of rows (`ReadBronze::objects`).
    pub objects: &'a [(usize, String)],
}

/// Which table(s) still need each bronze row, indexed by `_ord`.
pub struct Needs {
    pub table: Vec<bool>,
    pub bad_table: Vec<bool>,
}

pub fn split(
    result: &[RecordBatch],
    bronze: &RecordBatch,
    needs: &Needs,
    table_schema: &SchemaRef,
    bad_schema: &SchemaRef,
    lineage: &Lineage<'_>,
    now_micros: i64,
) -> Result<Split> {
    let n = bronze.num_rows();
    let mut seen = vec![false; n];
    let mut good = Vec::new();
    let (mut rows, mut dedup_drops) = (0u64, 0u64);
    let mut rejected_by_reason = BTreeMap::new();
    let mut bad_by_reason = BTreeMap::new();
    let mut bad_ords: Vec<u32> = Vec::new();
    let mut bad_reason: Vec<String> = Vec::new();
    let mut bad_detail: Vec<Option<String>> = Vec::new();
    for batch in result {
        let ord = downcast::<Int64Array>(column(batch, ORD)?)?;
        let reason = downcast::<StringArray>(column(batch, REASON)?)?;
        let detail = downcast::<StringArray>(column(batch, DETAIL)?)?;
        let mut keep = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let o = ord.value(i);
            let Some(slot) = usize::try_from(o).ok().filter(|&o| o < n) else {
                return Err(transform_err(format!("_ord {o} is not a bronze row")));
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(transform_err(format!("bronze row {o} appears twice in the result")));
            }
            let for_table = needs.table[slot];
            if reason.is_null(i) {
                keep.push(for_table);
                rows += for_table as u64;
                continue;
            }
            keep.push(false);
            let r = reason.value(i);
            if r.starts_with("duplicate") {
                dedup_drops += for_table as u64;
                continue;
            }
            if for_table {
                *rejected_by_reason.entry(r.to_string()).or_insert(0u64) += 1;
            }
            if needs.bad_table[slot] {
                *bad_by_reason.entry(r.to_string()).or_insert(0u64) += 1;
                bad_ords.push(slot as u32);
                bad_reason.push(r.to_string());
                bad_detail.push((!detail.is_null(i)).then(|| detail.value(i).to_string()));
            }
        }
        let kept = filter_record_batch(batch, &BooleanArray::from(keep))?;
        if kept.num_rows() > 0 {
            good.push(project(&kept, table_schema)?);
        }
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(transform_err(format!(
            "bronze row {missing} is missing from the result (one output row per input row)"
        )));
    }
    let records_in = needs.table.iter().filter(|x| **x).count() as u64;
    let bad = bad_batch(bronze, &bad_ords, bad_reason, bad_detail, bad_schema, lineage, now_micros)?;
    Ok(Split { good, bad, records_in, rows, dedup_drops, rejected_by_reason, bad_by_reason })
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| transform_err(format!("the result has no column {name}")))
}

fn transform_err(message: String) -> Error {
    Error::Definition { path: "silver transform".into(), message }
}

/// Pick and cast the table's columns out of the SQL result (the table schema carries the field
/// ids the Parquet writer needs). A NULL in a required column is a transform bug, reported as such.
pub fn project(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let mut cols = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let c = match batch.column_by_name(f.name()) {
            Some(c) => cast(c, f.data_type())?,
            None if f.is_nullable() => arrow::array::new_null_array(f.data_type(), batch.num_rows()),
            None => return Err(transform_err(format!("the result has no column {}", f.name()))),
        };
        if !f.is_nullable() && c.null_count() > 0 {
            return Err(transform_err(format!(
                "required column {} is NULL in {} kept row(s): the transform must reject such rows",
                f.name(),
                c.null_count()
            )));
        }
        cols.push(c);
    }
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
}

/// The Iglu schema a failure's detail names (contract and per-schema-column details name the
/// entity's schema key, `… iglu:vendor/name/format/1-0-0 …`): the first word that is one.
fn schema_key_in(detail: &str) -> Option<String> {
    detail
        .split_whitespace()
        .map(|w| w.trim_end_matches([':', ',']))
        .find(|w| SchemaKey::parse(w).is_some())
        .map(str::to_string)
}

fn bad_batch(
    bronze: &RecordBatch,
    ords: &[u32],
    reason: Vec<String>,
    detail: Vec<Option<String>>,
    schema: &SchemaRef,
    lineage: &Lineage<'_>,
    now_micros: i64,
) -> Result<RecordBatch> {
    let schema_key: Vec<Option<String>> = detail.iter().map(|d| d.as_deref().and_then(schema_key_in)).collect();
    let objects: Vec<Option<&str>> = ords.iter().map(|o| object_of(lineage.objects, *o as usize)).collect();
    let idx = UInt32Array::from(ords.to_vec());
    let pick = |name: &str| -> Result<ArrayRef> {
        let c = bronze.column_by_name(name).ok_or_else(|| Error::invalid(format!("bronze has no column {name}")))?;
        Ok(take(c, &idx, None)?)
    };
    let by_name: Vec<(&str, ArrayRef)> = vec![
        ("reason", Arc::new(StringArray::from(reason))),
        ("detail", Arc::new(StringArray::from(detail))),
        ("raw", pick(col::DATA)?),
        ("source_shard_id", pick(col::SHARD_ID)?),
        ("source_sequence_number", pick(col::SEQUENCE_NUMBER)?),
        ("source_sub_sequence", pick(col::SUB_SEQUENCE)?),
        ("arrival_tstamp", pick(col::ARRIVAL_TS)?),
        ("failed_tstamp", Arc::new(TimestampMicrosecondArray::from(vec![now_micros; ords.len()]).with_timezone("UTC"))),
        ("format", Arc::new(StringArray::from(vec![lineage.format; ords.len()]))),
        ("schema_key", Arc::new(StringArray::from(schema_key))),
        ("bronze_object", Arc::new(StringArray::from(objects))),
    ];
    let cols = RecordBatch::try_from_iter(by_name)?;
    project(&cols, schema)
}
