//! Day partitions, for the operations that act on a range of days: which column a table's days
//! come from, which rows fall in a range, and which live files hold a range's partitions.

use std::collections::{BTreeSet, HashMap, HashSet};

use arrow::array::{Array, BooleanArray, RecordBatch, TimestampMicrosecondArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, TimeUnit};
use iceberg::spec::{ManifestContentType, PrimitiveLiteral, Transform};
use iceberg::table::Table;

use crate::error::{Error, Result};

pub const DAY_MICROS: i64 = 86_400_000_000;

pub fn days_since_epoch(d: chrono::NaiveDate) -> i64 {
    d.signed_duration_since(chrono::NaiveDate::default()).num_days()
}

/// The column a table's day partitions are computed from (`day(collector_tstamp)`).
pub fn day_column(table: &Table) -> Result<String> {
    let meta = table.metadata();
    let spec = meta.default_partition_spec();
    let field = spec.fields().iter().find(|f| f.transform == Transform::Day).ok_or_else(|| {
        Error::invalid(format!("{}: backfill works on tables partitioned by day", table.identifier()))
    })?;
    meta.current_schema()
        .field_by_id(field.source_id)
        .map(|f| f.name.clone())
        .ok_or_else(|| Error::invalid(format!("{}: partition source column is missing", table.identifier())))
}

/// The rows of `b` whose `col` (a timestamp) is in `[from, below)`.
pub fn within(b: &RecordBatch, col: &str, from: i64, below: i64) -> Result<RecordBatch> {
    let ts = b
        .column_by_name(col)
        .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
        .ok_or_else(|| Error::invalid(format!("backfill: column {col} is not a timestamp")))?;
    let keep: BooleanArray =
        (0..ts.len()).map(|i| Some(ts.is_valid(i) && (from..below).contains(&ts.value(i)))).collect();
    Ok(filter_record_batch(b, &keep)?)
}

/// The days (since the epoch) that the timestamps of column `col` fall on, across `batches`.
pub fn days_of(batches: &[RecordBatch], col: &str) -> Result<BTreeSet<i64>> {
    let mut out = BTreeSet::new();
    for b in batches.iter().filter(|b| b.num_rows() > 0) {
        let c = b.column_by_name(col).ok_or_else(|| Error::invalid(format!("the transform's output has no {col}")))?;
        let micros = arrow::compute::cast(c, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let ts = micros
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| Error::invalid(format!("the transform's {col} is not a timestamp")))?;
        out.extend(ts.iter().flatten().map(|v| v.div_euclid(DAY_MICROS)));
    }
    Ok(out)
}

/// The live data files of `table` in the day partitions of the range, and the rows they hold.
pub async fn files_of_days(
    table: &Table,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<(HashSet<String>, u64)> {
    let meta = table.metadata();
    let mut out = HashSet::new();
    let mut rows = 0;
    let Some(snapshot) = meta.current_snapshot() else { return Ok((out, 0)) };
    let (from, to) = (days_since_epoch(from), days_since_epoch(to));
    let mut by_spec: HashMap<i32, Option<usize>> = HashMap::new();
    let list = table.manifest_list_reader(snapshot).load().await?;
    for mf in list.entries().iter().filter(|m| m.content == ManifestContentType::Data) {
        // the position of the day field in this spec's partition tuple
        let at = *by_spec.entry(mf.partition_spec_id).or_insert_with(|| {
            meta.partition_spec_by_id(mf.partition_spec_id)
                .and_then(|s| s.fields().iter().position(|f| f.transform == Transform::Day))
        });
        let manifest = mf.load_manifest(table.file_io()).await?;
        for e in manifest.entries().iter().filter(|e| e.is_alive()) {
            let file = e.data_file();
            let day = at.and_then(|i| match file.partition().fields().get(i) {
                Some(Some(iceberg::spec::Literal::Primitive(PrimitiveLiteral::Int(d)))) => Some(i64::from(*d)),
                _ => None,
            });
            if day.is_some_and(|d| (from..=to).contains(&d)) {
                rows += file.record_count();
                out.insert(file.file_path().to_string());
            }
        }
    }
    Ok((out, rows))
}
