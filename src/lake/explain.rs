//! `floe explain <event_id>`: where one event is. Its row in the table (data file, and the
//! snapshot that added that file), the bronze records that carried it (object and position),
//! and what became of each: the one that made the row, re-sends dropped by dedup, or bad rows
//! with their reason.
//!
//! Bronze is searched in the hours the event can have arrived in: from a day before its
//! collector time (or, for an event with no row, from `--since`) to the dedup window after it.

use std::collections::HashSet;

use aho_corasick::AhoCorasick;
use arrow::array::{Array, BinaryArray, Int64Array, LargeBinaryArray, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use futures::{StreamExt, TryStreamExt};
use iceberg::expr::Reference;
use iceberg::spec::{Datum, ManifestContentType};
use iceberg::table::Table;
use serde::Serialize;

use crate::bronze::encode::{self, col};
use crate::bronze::store::BronzeStore;
use crate::catalog::FloeCatalog;
use crate::catalog::setup::ManagedTable;
use crate::error::{Error, Result};
use crate::model::{Hour, Position, SequenceNumber};

#[derive(Debug, Clone, Serialize)]
pub struct SilverRow {
    pub table: String,
    pub data_file: String,
    /// The snapshot whose commit added the data file (a compaction's, once compacted).
    pub added_by_snapshot: Option<i64>,
    pub added_by_operation: Option<String>,
    pub source_shard_id: String,
    pub source_sequence_number: String,
    pub source_sub_sequence: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BronzeRecord {
    pub object: String,
    /// Row of the record in the object.
    pub position: usize,
    pub shard: String,
    pub sequence_number: String,
    pub sub_sequence: i64,
    /// `row`: the record that made the silver row; `dedup_drop`: a re-send dropped as a
    /// duplicate; `bad_row`: rejected (the bad row says why); `not_loaded`: past the watermark.
    pub outcome: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BadRow {
    pub table: String,
    pub reason: String,
    pub detail: Option<String>,
    pub source_shard_id: String,
    pub source_sequence_number: String,
    pub source_sub_sequence: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Explanation {
    pub event_id: String,
    pub rows: Vec<SilverRow>,
    pub bad_rows: Vec<BadRow>,
    pub bronze: Vec<BronzeRecord>,
    pub bronze_hours_searched: Option<(String, String)>,
}

/// Explain `event_id` in table `m` (see the module docs). `since`: where to start the bronze
/// search when the event has no row.
pub async fn explain(
    catalog: &FloeCatalog,
    store: &BronzeStore,
    stream: &str,
    m: &ManagedTable,
    event_id: &str,
    since: Option<Hour>,
    lookback_hours: i64,
) -> Result<Explanation> {
    let key = m.def.dedup.as_ref().map_or("event_id", |d| d.key.as_str());
    let good = catalog.load_table(&m.ident).await?;
    let bad = catalog.load_table(&m.bad_ident).await?;
    let mut out = Explanation { event_id: event_id.to_string(), ..Default::default() };
    let mut collector_hour: Option<Hour> = None;
    if good.metadata().current_snapshot().is_some() {
        let time_col = m.def.dedup.as_ref().map(|d| d.time.clone());
        let (rows, earliest) = silver_rows(&good, key, event_id, time_col.as_deref()).await?;
        out.rows = rows;
        collector_hour = earliest.map(|t| Hour(t.div_euclid(3_600_000_000)));
    }
    let needle = AhoCorasick::new([event_id]).map_err(|e| Error::invalid(format!("explain: {e}")))?;
    if bad.metadata().current_snapshot().is_some() {
        out.bad_rows = bad_rows(&bad, &needle).await?;
    }
    let start = collector_hour.map(|h| Hour(h.0 - 24)).or(since);
    let end = collector_hour.map(|h| Hour(h.0 + lookback_hours + 1));
    out.bronze_hours_searched = Some((
        start.map_or("the beginning".to_string(), |h| h.to_string()),
        end.map_or("now".to_string(), |h| h.to_string()),
    ));
    let objects = store.list_from(stream, start).await?.objects;
    let watermarks = crate::catalog::progress::watermarks(&good);
    let made_row: HashSet<(String, String, i64)> = out
        .rows
        .iter()
        .map(|r| (r.source_shard_id.clone(), r.source_sequence_number.clone(), r.source_sub_sequence))
        .collect();
    let rejected: HashSet<(String, String, i64)> = out
        .bad_rows
        .iter()
        .map(|r| (r.source_shard_id.clone(), r.source_sequence_number.clone(), r.source_sub_sequence))
        .collect();
    for o in objects.into_iter().filter(|o| end.is_none_or(|e| o.key.hour_partition().is_none_or(|h| h <= e))) {
        let bytes = store.get(&o.location).await?;
        let mut position = 0;
        for b in encode::decode(bytes, o.key.format)? {
            let data = encode::column::<BinaryArray>(&b, col::DATA)?;
            let seq = encode::column::<StringArray>(&b, col::SEQUENCE_NUMBER)?;
            let sub = encode::column::<Int64Array>(&b, col::SUB_SEQUENCE)?;
            for i in 0..b.num_rows() {
                if data.is_valid(i) && needle.is_match(data.value(i)) {
                    let k = (o.key.shard.to_string(), seq.value(i).to_string(), sub.value(i));
                    let pos = Position::new(SequenceNumber::new(&k.1)?, k.2.max(0) as u64);
                    let outcome = if made_row.contains(&k) {
                        "row"
                    } else if rejected.contains(&k) {
                        "bad_row"
                    } else if watermarks.is_past(&o.key.shard, &pos) {
                        "not_loaded"
                    } else {
                        "dedup_drop"
                    };
                    out.bronze.push(BronzeRecord {
                        object: o.location.to_string(),
                        position: position + i,
                        shard: k.0,
                        sequence_number: k.1,
                        sub_sequence: k.2,
                        outcome: outcome.to_string(),
                    });
                }
            }
            position += b.num_rows();
        }
    }
    Ok(out)
}

/// The table's rows of the event, with the data file holding each; and the earliest event time.
async fn silver_rows(
    table: &Table,
    key: &str,
    event_id: &str,
    time_col: Option<&str>,
) -> Result<(Vec<SilverRow>, Option<i64>)> {
    let filter = Reference::new(key).equal_to(Datum::string(event_id));
    let tasks: Vec<_> =
        table.scan().select_all().with_filter(filter.clone()).build()?.plan_files().await?.try_collect().await?;
    let added_by = file_snapshots(table).await?;
    let mut rows = Vec::new();
    let mut earliest: Option<i64> = None;
    for task in tasks {
        let path = task.data_file_path.clone();
        let stream = futures::stream::iter([Ok(task)]).boxed();
        let batches: Vec<RecordBatch> = table.reader_builder().build().read(stream)?.stream().try_collect().await?;
        for b in &batches {
            let ids = string_col(b, key)?;
            let shard = string_col(b, "source_shard_id")?;
            let seq = string_col(b, "source_sequence_number")?;
            let sub = b
                .column_by_name("source_sub_sequence")
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>().cloned())
                .ok_or_else(|| Error::invalid("explain: no source_sub_sequence column"))?;
            let times = match time_col {
                Some(c) => b.column_by_name(c).map(|a| cast(a, &DataType::Int64)).transpose()?,
                None => None,
            };
            for i in (0..b.num_rows()).filter(|&i| ids.is_valid(i) && ids.value(i) == event_id) {
                if let Some(t) =
                    times.as_ref().and_then(|t| t.as_any().downcast_ref::<Int64Array>().map(|a| a.value(i)))
                {
                    earliest = Some(earliest.map_or(t, |e: i64| e.min(t)));
                }
                let (snapshot, operation) = added_by
                    .iter()
                    .find(|(p, _, _)| *p == path)
                    .map_or((None, None), |(_, s, op)| (Some(*s), op.clone()));
                rows.push(SilverRow {
                    table: table.identifier().to_string(),
                    data_file: path.clone(),
                    added_by_snapshot: snapshot,
                    added_by_operation: operation,
                    source_shard_id: shard.value(i).to_string(),
                    source_sequence_number: seq.value(i).to_string(),
                    source_sub_sequence: sub.value(i),
                });
            }
        }
    }
    Ok((rows, earliest))
}

/// Every live data file with the snapshot that added it and that snapshot's operation.
async fn file_snapshots(table: &Table) -> Result<Vec<(String, i64, Option<String>)>> {
    let meta = table.metadata();
    let mut out = Vec::new();
    let Some(snapshot) = meta.current_snapshot() else { return Ok(out) };
    let list = table.manifest_list_reader(snapshot).load().await?;
    for mf in list.entries().iter().filter(|m| m.content == ManifestContentType::Data) {
        for e in mf.load_manifest(table.file_io()).await?.entries().iter().filter(|e| e.is_alive()) {
            if let Some(id) = e.snapshot_id() {
                let op = meta.snapshot_by_id(id).map(|s| {
                    let props = &s.summary().additional_properties;
                    props.get("floe.operation").cloned().unwrap_or_else(|| s.summary().operation.as_str().to_string())
                });
                out.push((e.file_path().to_string(), id, op));
            }
        }
    }
    Ok(out)
}

/// Bad rows whose raw bytes hold the event id.
async fn bad_rows(bad: &Table, needle: &AhoCorasick) -> Result<Vec<BadRow>> {
    let cols = ["reason", "detail", "raw", "source_shard_id", "source_sequence_number", "source_sub_sequence"];
    let batches: Vec<RecordBatch> = bad.scan().select(cols).build()?.to_arrow().await?.try_collect().await?;
    let mut out = Vec::new();
    for b in &batches {
        let raw = b.column_by_name("raw").ok_or_else(|| Error::invalid("bad rows without raw"))?;
        let raw = cast(raw, &DataType::LargeBinary)?;
        let raw = raw.as_any().downcast_ref::<LargeBinaryArray>().ok_or_else(|| Error::invalid("raw type"))?;
        let (reason, detail) = (string_col(b, "reason")?, string_col(b, "detail")?);
        let (shard, seq) = (string_col(b, "source_shard_id")?, string_col(b, "source_sequence_number")?);
        let sub =
            b.column_by_name("source_sub_sequence").and_then(|c| c.as_any().downcast_ref::<Int64Array>().cloned());
        for i in (0..b.num_rows()).filter(|&i| raw.is_valid(i) && needle.is_match(raw.value(i))) {
            out.push(BadRow {
                table: bad.identifier().to_string(),
                reason: reason.value(i).to_string(),
                detail: detail.is_valid(i).then(|| detail.value(i).to_string()),
                source_shard_id: shard.value(i).to_string(),
                source_sequence_number: seq.value(i).to_string(),
                source_sub_sequence: sub.as_ref().map_or(0, |s| s.value(i)),
            });
        }
    }
    Ok(out)
}

fn string_col(b: &RecordBatch, name: &str) -> Result<StringArray> {
    let c = b.column_by_name(name).ok_or_else(|| Error::invalid(format!("explain: no column {name}")))?;
    let c = cast(c, &DataType::Utf8)?;
    c.as_any().downcast_ref::<StringArray>().cloned().ok_or_else(|| Error::invalid(format!("explain: column {name}")))
}
