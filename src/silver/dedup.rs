//! Event ids already committed, for the cross-batch dedup: a re-sent event is dropped even when
//! its first copy was committed by an earlier batch.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;
use iceberg::expr::Reference;
use iceberg::spec::Datum;
use iceberg::table::Table;

use crate::catalog::tables::DedupDef;
use crate::error::Result;

/// Ids in `table` within `lookback` around the event times of `decoded` (the SQL's
/// `committed` input). Memory is bounded by the window, not by the table.
pub async fn committed_ids(
    table: &Table,
    dedup: Option<&DedupDef>,
    lookback: Duration,
    decoded: &RecordBatch,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let Some(dedup) = dedup else {
        return Ok((Arc::new(Schema::new(vec![Field::new("_none", DataType::Utf8, true)])), vec![]));
    };
    let schema = Arc::new(Schema::new(vec![Field::new(&dedup.key, DataType::Utf8, true)]));
    let times = decoded.column_by_name(&dedup.time).and_then(|c| c.as_any().downcast_ref::<StringArray>());
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for v in times.into_iter().flat_map(|a| a.iter()).flatten() {
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
            lo = lo.min(t.timestamp_micros());
            hi = hi.max(t.timestamp_micros());
        }
    }
    if lo > hi || table.metadata().current_snapshot().is_none() {
        return Ok((schema, vec![]));
    }
    let window = lookback.as_micros() as i64;
    let pred = Reference::new(&dedup.time)
        .greater_than_or_equal_to(Datum::timestamptz_micros(lo.saturating_sub(window)))
        .and(Reference::new(&dedup.time).less_than_or_equal_to(Datum::timestamptz_micros(hi.saturating_add(window))));
    let scan = table.scan().select([dedup.key.as_str()]).with_filter(pred).build()?;
    let batches: Vec<RecordBatch> = scan.to_arrow().await?.try_collect().await?;
    let out = batches
        .iter()
        .map(|b| Ok(RecordBatch::try_new(schema.clone(), vec![cast(b.column(0), &DataType::Utf8)?])?))
        .collect::<Result<Vec<_>>>()?;
    Ok((schema, out))
}
