//! Reading committed ids back from a table for the dedup state: a time range of the current
//! snapshot (the first load, or a range the state does not hold), or the data files one snapshot
//! added (another writer's commit). Only the key and time columns are read.

use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use futures::TryStreamExt;
use iceberg::expr::{Predicate, Reference};
use iceberg::spec::{DataContentType, Datum, ManifestContentType, ManifestStatus};
use iceberg::table::Table;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::seen::Id;
use crate::bronze::encode::downcast;
use crate::catalog::tables::DedupDef;
use crate::error::{Error, Result};

/// `(key, dedup time µs)` of every row of the current snapshot with a time in `[from, below)`
/// (`below = None`: no upper bound). Partition pruning and column bounds keep this to the files
/// of the range.
pub async fn scan_ids(table: &Table, def: &DedupDef, from: i64, below: Option<i64>) -> Result<Vec<(Id, i64)>> {
    let mut out = Vec::new();
    scan_ids_each(table, def, from, below, |id, t| {
        out.push((id, t));
        Ok(())
    })
    .await?;
    Ok(out)
}

/// [`scan_ids`] a record batch at a time into `each` (a window's ids need not fit in memory at
/// once); returns the ids given.
pub async fn scan_ids_each(
    table: &Table,
    def: &DedupDef,
    from: i64,
    below: Option<i64>,
    mut each: impl FnMut(Id, i64) -> Result<()>,
) -> Result<u64> {
    let t = Reference::new(&def.time);
    let mut pred: Predicate = t.clone().greater_than_or_equal_to(Datum::timestamptz_micros(from));
    if let Some(b) = below {
        pred = pred.and(t.less_than(Datum::timestamptz_micros(b)));
    }
    let scan = table.scan().select([def.key.as_str(), def.time.as_str()]).with_filter(pred).build()?;
    let mut stream = scan.to_arrow().await?;
    let (mut given, mut pairs_of_batch) = (0u64, Vec::new());
    while let Some(b) = stream.try_next().await? {
        pairs_of_batch.clear();
        pairs(&b, def, &mut pairs_of_batch)?;
        for &(id, time) in pairs_of_batch.iter().filter(|(_, t)| *t >= from && below.is_none_or(|b| *t < b)) {
            each(id, time)?;
            given += 1;
        }
    }
    Ok(given)
}

/// `(key, dedup time µs)` of the rows in the data files snapshot `snapshot_id` added.
/// `files` counts the files read.
pub async fn added_files_ids(
    table: &Table,
    snapshot_id: i64,
    def: &DedupDef,
    files: &mut u64,
) -> Result<Vec<(Id, i64)>> {
    let Some(snapshot) = table.metadata().snapshot_by_id(snapshot_id).cloned() else { return Ok(Vec::new()) };
    let list = table.manifest_list_reader(&snapshot).load().await?;
    let mut out = Vec::new();
    for mf in list.entries() {
        if mf.added_snapshot_id != snapshot_id || mf.content != ManifestContentType::Data {
            continue;
        }
        let manifest = mf.load_manifest(table.file_io()).await?;
        for e in manifest.entries() {
            if e.status() != ManifestStatus::Added || e.content_type() != DataContentType::Data {
                continue;
            }
            let bytes = table.file_io().new_input(e.file_path())?.read().await?;
            *files += 1;
            let (def, path) = (def.clone(), e.file_path().to_string());
            let rows = tokio::task::spawn_blocking(move || read_pairs(bytes, &def, &path))
                .await
                .map_err(|e| Error::invalid(format!("dedup reader task failed: {e}")))??;
            out.extend(rows);
        }
    }
    Ok(out)
}

fn read_pairs(bytes: bytes::Bytes, def: &DedupDef, path: &str) -> Result<Vec<(Id, i64)>> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), [def.key.as_str(), def.time.as_str()]);
    let reader = builder.with_projection(mask).build()?;
    let mut out = Vec::new();
    for b in reader {
        let b = b?;
        pairs(&b, def, &mut out).map_err(|e| Error::invalid(format!("data file {path}: {e}")))?;
    }
    Ok(out)
}

fn pairs(b: &RecordBatch, def: &DedupDef, out: &mut Vec<(Id, i64)>) -> Result<()> {
    let ids = row_ids(b, &def.key)?;
    let t = b.column_by_name(&def.time).ok_or_else(|| missing(&def.time))?;
    let t = cast(&cast(t, &DataType::Timestamp(TimeUnit::Microsecond, None))?, &DataType::Int64)?;
    let t = downcast::<Int64Array>(&t)?;
    for (i, id) in ids.into_iter().enumerate() {
        if let Some(id) = id
            && t.is_valid(i)
        {
            out.push((id, t.value(i)));
        }
    }
    Ok(())
}

/// The dedup id of each row of `b` by its `key` column (`None` where the key is null).
pub fn row_ids(b: &RecordBatch, key: &str) -> Result<Vec<Option<Id>>> {
    let k = cast(b.column_by_name(key).ok_or_else(|| missing(key))?, &DataType::Utf8)?;
    let k = downcast::<StringArray>(&k)?;
    Ok((0..b.num_rows()).map(|i| k.is_valid(i).then(|| Id::of(k.value(i)))).collect())
}

fn missing(column: &str) -> Error {
    Error::invalid(format!("dedup column {column} is missing"))
}
