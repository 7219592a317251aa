//! [`Decoder`]: the shared checks and the output contract around one input format.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{Array, ArrayRef, BinaryArray, Int64Array, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::contract::{ERROR, ERROR_DETAIL, ORD, RecordDecoder, Rejection};
use super::{json, prechecks, snowplow};
use crate::bronze::encode::{col, column};
use crate::catalog::tables::{DecoderKind, TableDef};
use crate::error::{Error, Result};
use crate::iglu::{Contracts, Envelope};

/// A table's decoder: the shared checks and the output contract around one [`RecordDecoder`].
#[derive(Debug, Clone)]
pub struct Decoder {
    format: Arc<dyn RecordDecoder>,
    max_record_bytes: u64,
    schema: SchemaRef,
    /// The data contracts (`silver.iglu_resolver`): the format's self-describing columns are
    /// checked against their Iglu schemas after it decoded a record.
    contracts: Option<Arc<Contracts>>,
    /// Text bytes per row of each output column in the last decode, plus an eighth: the next
    /// decode sizes its builders from it. Grown by doubling instead, a column's buffer was copied
    /// several times a round and ended up to twice its size (both cost silver CPU and memory).
    widths: Arc<Vec<AtomicUsize>>,
}

/// Bytes per row a column's buffer starts with before any decode has measured it.
const FIRST_WIDTH: usize = 16;

impl Decoder {
    /// The decoder the table definition names (`decoder = "json"` by default).
    pub fn for_table(def: &TableDef, max_record_bytes: u64) -> Self {
        Self::for_table_with(def, max_record_bytes, None)
    }

    /// [`Decoder::for_table`], checking self-describing JSON against `contracts`.
    pub fn for_table_with(def: &TableDef, max_record_bytes: u64, contracts: Option<Arc<Contracts>>) -> Self {
        let format: Arc<dyn RecordDecoder> = match def.decoder {
            DecoderKind::Json => Arc::new(json::JsonDecoder::new(def)),
            DecoderKind::SnowplowEnrichedTsv => Arc::new(snowplow::SnowplowDecoder::new(def)),
        };
        Self { contracts, ..Self::new(format, max_record_bytes) }
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
        let widths = Arc::new(format.columns().iter().map(|_| AtomicUsize::new(FIRST_WIDTH)).collect());
        Self { format, max_record_bytes, schema: Arc::new(Schema::new(cols)), contracts: None, widths }
    }

    /// The table's text columns of self-describing JSON (the format's envelopes the table has
    /// as `string` columns), and their envelopes: what `silver::entities` types.
    pub fn envelope_columns(&self, def: &TableDef) -> Vec<(String, Envelope)> {
        let names = self.format.columns();
        self.format
            .envelopes()
            .iter()
            .filter_map(|(i, env)| names.get(*i).map(|n| (n.clone(), *env)))
            .filter(|(n, _)| def.columns.iter().any(|c| c.name == *n && c.r#type == "string"))
            .collect()
    }

    /// The schema of [`Decoder::decode`]'s output (the SQL's `bronze` table).
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Decode a bronze batch on up to `threads` threads: one batch per thread, in row order, with
    /// `_ord` numbering across them. Not concatenated: each becomes one partition of the SQL's
    /// input, so the transform runs on as many cores.
    pub fn decode_parallel(&self, bronze: &RecordBatch, threads: usize) -> Result<Vec<RecordBatch>> {
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
        parts.into_iter().collect()
    }

    /// Decode a bronze batch; `first_ord` numbers the rows in read order across batches.
    pub fn decode(&self, bronze: &RecordBatch, first_ord: i64) -> Result<RecordBatch> {
        let data = column::<BinaryArray>(bronze, col::DATA)?;
        let defect = column::<StringArray>(bronze, col::DEFECT)?;
        let n = bronze.num_rows();
        let width = self.format.columns().len();
        let mut error = StringBuilder::with_capacity(n, 0);
        let mut detail = StringBuilder::with_capacity(n, 0);
        // (never more than the batch's own bytes: one round of huge records must not make the
        // next round of many small ones reserve its width for every row)
        let input_bytes = match (data.value_offsets().first(), data.value_offsets().last()) {
            (Some(first), Some(last)) => usize::try_from(last - first).unwrap_or(0),
            _ => 0,
        };
        let capacity = |j: usize| {
            let w = self.widths.get(j).map_or(FIRST_WIDTH, |w| w.load(Ordering::Relaxed));
            n.saturating_mul(w).min(input_bytes)
        };
        let mut cols: Vec<StringBuilder> = (0..width).map(|j| StringBuilder::with_capacity(n, capacity(j))).collect();
        let mut values: Vec<Option<Cow<'_, str>>> = vec![None; width];
        for i in 0..n {
            values.iter_mut().for_each(|v| *v = None);
            let source_defect = (!defect.is_null(i)).then(|| defect.value(i));
            let decoded = prechecks::text(data.value(i), source_defect, self.max_record_bytes)
                .and_then(|text| self.format.decode_record(text, &mut values));
            let decoded = match (decoded, &self.contracts) {
                (Ok(()), Some(contracts)) => self.check_contracts(contracts, &values)?,
                (other, _) => other,
            };
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
                        c.append_option(v.take().as_deref());
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
        if n > 0 {
            for (c, w) in cols.iter().zip(self.widths.iter()) {
                let per_row = c.values_slice().len().div_ceil(n);
                w.store(per_row + per_row / 8 + 1, Ordering::Relaxed);
            }
        }
        out.extend(cols.iter_mut().map(|c| Arc::new(c.finish()) as ArrayRef));
        Ok(RecordBatch::try_new(self.schema.clone(), out)?)
    }

    /// The contracts over one decoded record's self-describing columns: the first violation
    /// rejects it; a registry that does not answer fails the batch (retried later).
    fn check_contracts(
        &self,
        contracts: &Contracts,
        values: &[Option<Cow<'_, str>>],
    ) -> Result<std::result::Result<(), Rejection>> {
        let names = self.format.columns();
        for &(j, envelope) in self.format.envelopes() {
            if let Some(text) = values.get(j).and_then(|v| v.as_deref())
                && let Err(violation) = contracts.check(&names[j], envelope, text)?
            {
                return Ok(Err(violation));
            }
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bronze::encode::to_batch;
    use crate::catalog::tables::load_defs;
    use crate::iglu::MissingSchema;
    use crate::iglu::config::{Location, Repository, ResolverConfig};
    use crate::model::{Position, SequenceNumber, ShardId};
    use crate::source::Record;

    /// The JSON `events` table gets the same data contracts as enriched events.
    #[tokio::test(flavor = "multi_thread")]
    async fn json_events_contexts_are_checked_against_iglu() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("schemas/com.acme/experiment/jsonschema");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(
            p.join("1-0-0"),
            r#"{"type":"object","properties":{"variant":{"type":"integer"}},"required":["variant"]}"#,
        )
        .unwrap();
        let repo = Repository {
            name: "local".into(),
            priority: 0,
            vendor_prefixes: vec![],
            location: Location::Directory(dir.path().to_path_buf()),
        };
        let config = ResolverConfig { repositories: vec![repo], cache_ttl: None };
        let contracts = Arc::new(Contracts::new(config, MissingSchema::BadRow).unwrap());
        let defs = load_defs(None).unwrap();
        let dec = Decoder::for_table_with(&defs[0], 1 << 20, Some(contracts));
        let event = |variant: &str| {
            format!(
                r#"{{"event_id":"e","collector_tstamp":"t","event":"x","platform":"web","contexts":{{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0","data":[{{"schema":"iglu:com.acme/experiment/jsonschema/1-0-0","data":{{"variant":{variant}}}}}]}}}}"#
            )
        };
        let lines = [
            event("1"),
            event("\"b\""),
            r#"{"event_id":"e","collector_tstamp":"t","event":"x","platform":"web"}"#.into(),
        ];
        let bronze = batch(&lines);
        let out = tokio::task::block_in_place(|| dec.decode(&bronze, 0)).unwrap();
        let err = out.column_by_name(ERROR).unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        let detail = out.column_by_name(ERROR_DETAIL).unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        assert!(err.is_null(0) && err.is_null(2), "a valid context and none at all pass");
        assert_eq!(err.value(1), "schema_violation");
        assert!(
            detail.value(1).starts_with("contexts[0] iglu:com.acme/experiment/jsonschema/1-0-0 at /variant: "),
            "{}",
            detail.value(1)
        );
    }

    fn batch(lines: &[String]) -> RecordBatch {
        let recs: Vec<Record> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| Record {
                data: bytes::Bytes::from(l.clone().into_bytes()),
                position: Position::new(SequenceNumber::from_u64(i as u64 + 1), 0),
                partition_key: String::new(),
                arrival_ts_micros: 0,
                defect: None,
            })
            .collect();
        to_batch(&ShardId::new("s").unwrap(), &recs, 0).unwrap()
    }

    #[test]
    fn builders_are_sized_from_the_last_decode_and_never_past_the_input() {
        let defs = load_defs(None).unwrap();
        let dec = Decoder::for_table(&defs[0], 1 << 20);
        let event = |id: usize, url: &str| {
            format!(r#"{{"event_id":"e{id}","collector_tstamp":"t","event":"x","platform":"web","page_url":"{url}"}}"#)
        };
        let url_col = dec.format.columns().iter().position(|c| c == "page_url").unwrap();
        // a round of long values teaches a wide page_url column...
        let long = "u".repeat(10_000);
        let first = dec.decode(&batch(&[event(0, &long), event(1, &long)]), 0).unwrap();
        assert!(dec.widths[url_col].load(Ordering::Relaxed) > 10_000);
        // ...which a round of many short records does not reserve per row: its capacity stops
        // at the batch's own bytes, and the values come out the same as from a fresh decoder
        let short: Vec<String> = (0..1000).map(|i| event(i, "/a")).collect();
        let again = dec.decode(&batch(&short), 2).unwrap();
        let fresh = Decoder::for_table(&defs[0], 1 << 20).decode(&batch(&short), 2).unwrap();
        assert_eq!(again, fresh);
        assert_eq!(first.num_rows(), 2);
        let w = dec.widths[url_col].load(Ordering::Relaxed);
        assert!((2..=4).contains(&w), "learnt from the last round: {w}");
    }
}
