//! Decoders turn bronze records into text columns that the SQL transform can type and check.
//! They apply the structural part of the contract (is it UTF-8, JSON, an object; are required
//! fields there with the right JSON type) and record the first failure per record instead of
//! failing the batch.
//!
//! The contract every decoder meets is written once, here: the output starts with the
//! [`CONTROL_COLUMNS`] (read order, the first failure, lineage), then one nullable text column
//! per field the format yields ([`RecordDecoder::columns`]). The checks every format shares —
//! the size limit, empty records, a defect the source found (a corrupt KPL aggregate), valid
//! UTF-8 — run once in [`Decoder`], before a format sees the record.
//!
//! To add a format: a [`RecordDecoder`] in its own file, a [`DecoderKind`] variant, and its arm
//! in [`Decoder::for_table`].
//!
//! - [`json`]: one JSON object per record (the `events` input contract).

pub mod json;
mod prechecks;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, Int64Array, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::bronze::encode::{col, column};
use crate::catalog::tables::{DecoderKind, TableDef};
use crate::error::{Error, Result};

/// The bad-row reasons a decoder gives.
pub mod reasons {
    pub const RECORD_TOO_LARGE: &str = "record_too_large";
    pub const EMPTY_RECORD: &str = "empty_record";
    pub const INVALID_UTF8: &str = "invalid_utf8";
    pub const INVALID_JSON: &str = "invalid_json";
    pub const NOT_AN_OBJECT: &str = "not_an_object";
    pub const MISSING_FIELD: &str = "missing_field";
    pub const WRONG_TYPE: &str = "wrong_type";
    pub const CORRUPT_KPL_AGGREGATE: &str = "corrupt_kpl_aggregate";
    /// A defect the source recorded that this version does not know by name.
    pub const SOURCE_DEFECT: &str = "source_defect";
}

/// `_ord`: the record's place in the batch's read order (0, 1, …); the transform returns it so
/// every result row can be traced back to exactly one bronze record.
pub const ORD: &str = "_ord";
/// `_error`: the first failure the decoder found (a [`reasons`] value), NULL when decoded.
pub const ERROR: &str = "_error";
/// `_error_detail`: what exactly failed (the field, the parser's message).
pub const ERROR_DETAIL: &str = "_error_detail";

/// The columns every decoder's output starts with, in order: [`ORD`], [`ERROR`],
/// [`ERROR_DETAIL`], then the bronze lineage (shard, sequence number, sub-sequence).
pub const CONTROL_COLUMNS: [&str; 6] =
    [ORD, ERROR, ERROR_DETAIL, col::SHARD_ID, col::SEQUENCE_NUMBER, col::SUB_SEQUENCE];

/// Why a record was rejected: a [`reasons`] value and a detail.
pub type Rejection = (&'static str, String);

/// One input format: a UTF-8 record (already past the shared checks) → its fields.
pub trait RecordDecoder: std::fmt::Debug + Send + Sync {
    /// The text columns this format fills, in output order (after the control columns).
    fn columns(&self) -> &[String];
    /// Fill `values` (one slot per [`RecordDecoder::columns`]) from one record, or reject it.
    fn decode_record(&self, text: &str, values: &mut [Option<String>]) -> std::result::Result<(), Rejection>;
}

/// A table's decoder: the shared checks and the output contract around one [`RecordDecoder`].
#[derive(Debug, Clone)]
pub struct Decoder {
    format: Arc<dyn RecordDecoder>,
    max_record_bytes: u64,
    schema: SchemaRef,
}

impl Decoder {
    /// The decoder the table definition names (`decoder = "json"` by default).
    pub fn for_table(def: &TableDef, max_record_bytes: u64) -> Self {
        let format: Arc<dyn RecordDecoder> = match def.decoder {
            DecoderKind::Json => Arc::new(json::JsonDecoder::new(def)),
        };
        Self::new(format, max_record_bytes)
    }

    pub fn new(format: Arc<dyn RecordDecoder>, max_record_bytes: u64) -> Self {
        let mut cols = vec![
            Field::new(ORD, DataType::Int64, false),
            Field::new(ERROR, DataType::Utf8, true),
            Field::new(ERROR_DETAIL, DataType::Utf8, true),
            Field::new(col::SHARD_ID, DataType::Utf8, false),
            Field::new(col::SEQUENCE_NUMBER, DataType::Utf8, false),
            Field::new(col::SUB_SEQUENCE, DataType::Int64, false),
        ];
        cols.extend(format.columns().iter().map(|name| Field::new(name, DataType::Utf8, true)));
        Self { format, max_record_bytes, schema: Arc::new(Schema::new(cols)) }
    }

    /// The schema of [`Decoder::decode`]'s output (the SQL's `bronze` table).
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
                .map(|h| h.join().unwrap_or_else(|_| Err(Error::invalid("a decoder thread panicked"))))
                .collect()
        });
        let parts = parts.into_iter().collect::<Result<Vec<_>>>()?;
        Ok(arrow::compute::concat_batches(&self.schema, &parts)?)
    }

    /// Decode a bronze batch; `first_ord` numbers the rows in read order across batches.
    pub fn decode(&self, bronze: &RecordBatch, first_ord: i64) -> Result<RecordBatch> {
        let data = column::<BinaryArray>(bronze, col::DATA)?;
        let defect = column::<StringArray>(bronze, col::DEFECT)?;
        let n = bronze.num_rows();
        let width = self.format.columns().len();
        let mut error = StringBuilder::with_capacity(n, 0);
        let mut detail = StringBuilder::with_capacity(n, 0);
        let mut cols: Vec<StringBuilder> = (0..width).map(|_| StringBuilder::with_capacity(n, n * 16)).collect();
        let mut values: Vec<Option<String>> = vec![None; width];
        for i in 0..n {
            values.iter_mut().for_each(|v| *v = None);
            let source_defect = (!defect.is_null(i)).then(|| defect.value(i));
            let decoded = prechecks::text(data.value(i), source_defect, self.max_record_bytes)
                .and_then(|text| self.format.decode_record(text, &mut values));
            match decoded {
                Err((reason, d)) => {
                    error.append_value(reason);
                    detail.append_value(d);
                    cols.iter_mut().for_each(|c| c.append_null());
                }
                Ok(()) => {
                    error.append_null();
                    detail.append_null();
                    for (c, v) in cols.iter_mut().zip(values.iter_mut()) {
                        c.append_option(v.take());
                    }
                }
            }
        }
        let lineage = |name: &str| -> Result<ArrayRef> {
            bronze
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| Error::invalid(format!("bronze batch has no column {name}")))
        };
        let mut out: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(first_ord..first_ord + n as i64)),
            Arc::new(error.finish()),
            Arc::new(detail.finish()),
            lineage(col::SHARD_ID)?,
            lineage(col::SEQUENCE_NUMBER)?,
            lineage(col::SUB_SEQUENCE)?,
        ];
        out.extend(cols.iter_mut().map(|c| Arc::new(c.finish()) as ArrayRef));
        Ok(RecordBatch::try_new(self.schema.clone(), out)?)
    }
}
