//! Bronze objects: records as received plus where they came from, in Parquet (zstd; default) or
//! gzipped JSON lines. Both hold the same fields, so silver reads either into the same Arrow
//! batch ([`bronze_schema`]).
//!
//! In JSON lines the payload is `data` when it is valid UTF-8 and `data_base64` otherwise, so
//! no byte of the input is changed.

use std::io::{BufRead, Write};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BinaryBuilder, Int64Array, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use base64::Engine;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::config::BronzeFormat;
use crate::error::{Error, Result};
use crate::model::ShardId;
use crate::source::Record;

/// The bronze columns, by name: read them with [`column`], never by position.
pub mod col {
    /// The record as received (binary).
    pub const DATA: &str = "data";
    pub const SHARD_ID: &str = "shard_id";
    /// Decimal string (Kinesis sequence number or spool byte offset).
    pub const SEQUENCE_NUMBER: &str = "sequence_number";
    /// KPL sub-sequence (0 when not aggregated).
    pub const SUB_SEQUENCE: &str = "sub_sequence";
    pub const PARTITION_KEY: &str = "partition_key";
    pub const ARRIVAL_TS: &str = "arrival_ts";
    pub const INGEST_TS: &str = "ingest_ts";
    /// What the source found wrong with the record ([`crate::source::Defect::reason`]), or NULL.
    /// Objects written before this column existed read back with NULL.
    pub const DEFECT: &str = "defect";
}

pub fn bronze_schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new(col::DATA, DataType::Binary, false),
        Field::new(col::SHARD_ID, DataType::Utf8, false),
        Field::new(col::SEQUENCE_NUMBER, DataType::Utf8, false),
        Field::new(col::SUB_SEQUENCE, DataType::Int64, false),
        Field::new(col::PARTITION_KEY, DataType::Utf8, false),
        Field::new(col::ARRIVAL_TS, ts.clone(), false),
        Field::new(col::INGEST_TS, ts, false),
        Field::new(col::DEFECT, DataType::Utf8, true),
    ]))
}

/// A bronze column by name, with the expected array type.
pub fn column<'a, T: Array + 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    let c = batch.column_by_name(name).ok_or_else(|| Error::invalid(format!("bronze batch has no column {name}")))?;
    downcast::<T>(c)
}

/// Records of one shard as an Arrow batch in the bronze schema.
///
/// The variable-width columns are sized exactly before they are filled: grown by doubling, the
/// payload column (a whole object's worth of records, 16 MiB by default, for every shard at once)
/// would be copied at each step and end up to twice its size, which showed in the peak memory.
pub fn to_batch(shard: &ShardId, records: &[Record], ingest_ts_micros: i64) -> Result<RecordBatch> {
    let n = records.len();
    let mut data = BinaryBuilder::with_capacity(n, records.iter().map(|r| r.data.len()).sum());
    let mut seq = StringBuilder::with_capacity(n, records.iter().map(|r| r.position.seq.as_str().len()).sum());
    let mut keys = StringBuilder::with_capacity(n, records.iter().map(|r| r.partition_key.len()).sum());
    let mut shards = StringBuilder::with_capacity(n, n * shard.as_str().len());
    for r in records {
        data.append_value(&r.data);
        seq.append_value(r.position.seq.as_str());
        keys.append_value(&r.partition_key);
        shards.append_value(shard.as_str());
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(data.finish()),
        Arc::new(shards.finish()),
        Arc::new(seq.finish()),
        Arc::new(Int64Array::from_iter_values(records.iter().map(|r| r.position.sub as i64))),
        Arc::new(keys.finish()),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(records.iter().map(|r| r.arrival_ts_micros))
                .with_timezone("UTC"),
        ),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(ingest_ts_micros, n)).with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter(records.iter().map(|r| r.defect.map(crate::source::Defect::reason)))),
    ];
    Ok(RecordBatch::try_new(bronze_schema(), cols)?)
}

/// Parquet footer key carrying the lease epoch of the worker that wrote the object (read back by
/// silver into its commit; JSON lines objects have nowhere to carry it).
pub const LEASE_EPOCH_KEY: &str = "floe.lease_epoch";

/// `records` of `shard` as the bytes of one bronze object, built off the async workers (encoding
/// and compressing is CPU work); `ingest_ts` is now.
pub async fn encode_records(
    shard: &ShardId,
    records: Vec<Record>,
    format: BronzeFormat,
    zstd_level: i32,
    lease_epoch: Option<u64>,
) -> Result<Bytes> {
    let shard = shard.clone();
    // One encode per core at a time: each holds a copy of its records as Arrow and the Parquet
    // writer's buffers, and more at once than there are cores only raises the peak memory
    // (four shards flushing together on two cores), not the throughput.
    let _permit = encode_permits().acquire().await.map_err(|_| Error::invalid("bronze encoders closed"))?;
    let ingest = chrono::Utc::now().timestamp_micros();
    tokio::task::spawn_blocking(move || {
        let batch = to_batch(&shard, &records, ingest)?;
        // the batch holds a copy of every payload: free the records before encoding doubles it again
        drop(records);
        encode(&batch, format, zstd_level, lease_epoch)
    })
    .await
    .map_err(|e| Error::invalid(format!("bronze encoder task failed: {e}")))?
}

/// The process-wide bound on bronze encodes running at once: one per core.
fn encode_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
}

/// Serialise a bronze batch in `format`; `lease_epoch` (workers sharing a stream) goes into the
/// Parquet footer.
pub fn encode(batch: &RecordBatch, format: BronzeFormat, zstd_level: i32, lease_epoch: Option<u64>) -> Result<Bytes> {
    match format {
        BronzeFormat::Parquet => {
            // Payloads and sequence numbers are (nearly) all distinct: a dictionary attempt on
            // them only costs hashing and a dictionary page that is thrown away.
            let props =
                WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::try_new(zstd_level)?))
                    .set_column_dictionary_enabled(col::DATA.into(), false)
                    .set_column_dictionary_enabled(col::SEQUENCE_NUMBER.into(), false)
                    .set_key_value_metadata(lease_epoch.map(|e| {
                        vec![parquet::file::metadata::KeyValue::new(LEASE_EPOCH_KEY.to_string(), e.to_string())]
                    }))
                    .build();
            let mut buf = Vec::new();
            let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
            w.write(batch)?;
            w.close()?;
            Ok(Bytes::from(buf))
        }
        BronzeFormat::JsonLines => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            for line in json_lines(batch)? {
                serde_json::to_writer(&mut gz, &line)?;
                gz.write_all(b"\n").map_err(|e| Error::invalid(format!("gzip: {e}")))?;
            }
            let buf = gz.finish().map_err(|e| Error::invalid(format!("gzip: {e}")))?;
            Ok(Bytes::from(buf))
        }
    }
}

/// The lease epoch a Parquet bronze object was written under, if any.
pub fn lease_epoch(bytes: &Bytes, format: BronzeFormat) -> Option<u64> {
    if format != BronzeFormat::Parquet {
        return None;
    }
    let meta = parquet::file::metadata::ParquetMetaDataReader::new().parse_and_finish(bytes).ok()?;
    meta.file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == LEASE_EPOCH_KEY)
        .and_then(|kv| kv.value.as_deref()?.parse().ok())
}

/// Read a bronze object back into batches of the bronze schema.
pub fn decode(bytes: Bytes, format: BronzeFormat) -> Result<Vec<RecordBatch>> {
    match format {
        BronzeFormat::Parquet => {
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)?
                .with_batch_size(65_536)
                .build()?;
            let schema = bronze_schema();
            reader
                .map(|b| {
                    // re-stamp with our schema: files written by older versions may differ in
                    // metadata, and lack the `defect` column (added later, NULL for them)
                    let b = b?;
                    let mut cols = b.columns().to_vec();
                    if b.column_by_name(col::DEFECT).is_none() {
                        cols.push(arrow::array::new_null_array(&DataType::Utf8, b.num_rows()));
                    }
                    Ok(RecordBatch::try_new(schema.clone(), cols)?)
                })
                .collect()
        }
        BronzeFormat::JsonLines => {
            let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(&bytes[..]));
            let mut lines = Vec::new();
            for line in reader.lines() {
                let line = line.map_err(|e| Error::invalid(format!("bronze jsonl.gz: {e}")))?;
                lines.push(serde_json::from_str::<JsonLine>(&line)?);
            }
            Ok(vec![from_json_lines(&lines)?])
        }
    }
}

#[derive(Serialize, Deserialize)]
struct JsonLine {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    data_base64: Option<String>,
    shard_id: String,
    sequence_number: String,
    sub_sequence: i64,
    partition_key: String,
    arrival_ts: i64,
    ingest_ts: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    defect: Option<String>,
}

fn json_lines(batch: &RecordBatch) -> Result<Vec<JsonLine>> {
    let data = column::<BinaryArray>(batch, col::DATA)?;
    let shard = column::<StringArray>(batch, col::SHARD_ID)?;
    let seq = column::<StringArray>(batch, col::SEQUENCE_NUMBER)?;
    let sub = column::<Int64Array>(batch, col::SUB_SEQUENCE)?;
    let pk = column::<StringArray>(batch, col::PARTITION_KEY)?;
    let arrival = column::<TimestampMicrosecondArray>(batch, col::ARRIVAL_TS)?;
    let ingest = column::<TimestampMicrosecondArray>(batch, col::INGEST_TS)?;
    let defect = column::<StringArray>(batch, col::DEFECT)?;
    Ok((0..batch.num_rows())
        .map(|i| {
            let raw = data.value(i);
            let (text, b64) = match std::str::from_utf8(raw) {
                Ok(s) => (Some(s.to_string()), None),
                Err(_) => (None, Some(base64::engine::general_purpose::STANDARD.encode(raw))),
            };
            JsonLine {
                data: text,
                data_base64: b64,
                shard_id: shard.value(i).to_string(),
                sequence_number: seq.value(i).to_string(),
                sub_sequence: sub.value(i),
                partition_key: pk.value(i).to_string(),
                arrival_ts: arrival.value(i),
                ingest_ts: ingest.value(i),
                defect: (!defect.is_null(i)).then(|| defect.value(i).to_string()),
            }
        })
        .collect())
}

fn from_json_lines(lines: &[JsonLine]) -> Result<RecordBatch> {
    let mut data = Vec::with_capacity(lines.len());
    for l in lines {
        data.push(match (&l.data, &l.data_base64) {
            (Some(s), _) => s.as_bytes().to_vec(),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| Error::invalid(format!("bronze jsonl.gz: bad data_base64: {e}")))?,
            (None, None) => return Err(Error::invalid("bronze jsonl.gz: a line has neither data nor data_base64")),
        });
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(BinaryArray::from_iter_values(data.iter())),
        Arc::new(StringArray::from_iter_values(lines.iter().map(|l| l.shard_id.as_str()))),
        Arc::new(StringArray::from_iter_values(lines.iter().map(|l| l.sequence_number.as_str()))),
        Arc::new(Int64Array::from_iter_values(lines.iter().map(|l| l.sub_sequence))),
        Arc::new(StringArray::from_iter_values(lines.iter().map(|l| l.partition_key.as_str()))),
        Arc::new(TimestampMicrosecondArray::from_iter_values(lines.iter().map(|l| l.arrival_ts)).with_timezone("UTC")),
        Arc::new(TimestampMicrosecondArray::from_iter_values(lines.iter().map(|l| l.ingest_ts)).with_timezone("UTC")),
        Arc::new(StringArray::from_iter(lines.iter().map(|l| l.defect.as_deref()))),
    ];
    Ok(RecordBatch::try_new(bronze_schema(), cols)?)
}

/// Downcast an Arrow column, with an error instead of a panic when the type is not the expected one.
pub fn downcast<T: Array + 'static>(a: &ArrayRef) -> Result<&T> {
    a.as_any().downcast_ref::<T>().ok_or_else(|| Error::invalid(format!("unexpected column type {}", a.data_type())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Position, SequenceNumber};
    use crate::source::Defect;

    fn records() -> Vec<Record> {
        [b"{\"a\":1}".to_vec(), vec![0xff, 0xfe], Vec::new()]
            .into_iter()
            .enumerate()
            .map(|(i, d)| Record {
                data: Bytes::from(d),
                position: Position::new(SequenceNumber::from_u64(10 + i as u64), i as u64),
                partition_key: format!("pk{i}"),
                arrival_ts_micros: 1_000_000 + i as i64,
                defect: (i == 2).then_some(Defect::CorruptKplAggregate),
            })
            .collect()
    }

    #[test]
    fn both_formats_round_trip_every_byte() {
        let shard = ShardId::new("s1").unwrap();
        let batch = to_batch(&shard, &records(), 5).unwrap();
        for format in [BronzeFormat::Parquet, BronzeFormat::JsonLines] {
            let bytes = encode(&batch, format, 3, Some(7)).unwrap();
            let epoch = lease_epoch(&bytes, format);
            assert_eq!(epoch, (format == BronzeFormat::Parquet).then_some(7), "{format:?}");
            let back = decode(bytes, format).unwrap();
            assert_eq!(back.len(), 1);
            assert_eq!(back[0], batch, "{format:?}");
        }
    }

    #[test]
    fn objects_written_before_the_defect_column_read_back_with_null_defects() {
        let shard = ShardId::new("s1").unwrap();
        let batch = to_batch(&shard, &records(), 5).unwrap();
        let old = batch.project(&[0, 1, 2, 3, 4, 5, 6]).unwrap();
        let bytes = encode(&old, BronzeFormat::Parquet, 3, None).unwrap();
        let back = decode(bytes, BronzeFormat::Parquet).unwrap();
        let defect = column::<StringArray>(&back[0], col::DEFECT).unwrap();
        assert_eq!(defect.null_count(), 3);
        assert_eq!(back[0].num_columns(), bronze_schema().fields().len());
    }
}
