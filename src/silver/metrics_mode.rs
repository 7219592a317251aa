//! Iceberg's per-column metrics mode (`write.metadata.metrics.column.<name> = none`), which
//! iceberg-rust's writer does not apply: columns set to `none` get no lower/upper bounds in the
//! data files floe commits, so manifests do not hold the values of identifier columns (what an
//! erasure must not leave behind). Counts are kept; only the bounds, which hold values, go.

use std::collections::{HashMap, HashSet};

use iceberg::spec::{DataFile, DataFileBuilder, Datum};
use iceberg::table::Table;

use crate::error::{Error, Result};

const PREFIX: &str = "write.metadata.metrics.column.";

/// The field ids of `table`'s columns whose metrics mode is `none`.
pub fn unbounded_columns(table: &Table) -> HashSet<i32> {
    let meta = table.metadata();
    let schema = meta.current_schema();
    meta.properties()
        .iter()
        .filter(|(_, v)| v.trim().eq_ignore_ascii_case("none"))
        .filter_map(|(k, _)| k.strip_prefix(PREFIX))
        .filter_map(|name| schema.field_by_name(name).map(|f| f.id))
        .collect()
}

/// `file` without bounds for the columns `hidden`; `spec_id` is its partition spec (the data
/// file does not expose its own).
pub fn without_bounds(file: DataFile, spec_id: i32, hidden: &HashSet<i32>) -> Result<DataFile> {
    if hidden.is_empty() {
        return Ok(file);
    }
    let keep = |m: &HashMap<i32, Datum>| -> HashMap<i32, Datum> {
        m.iter().filter(|(k, _)| !hidden.contains(k)).map(|(k, v)| (*k, v.clone())).collect()
    };
    let mut b = DataFileBuilder::default();
    b.content(file.content_type())
        .file_path(file.file_path().to_string())
        .file_format(file.file_format())
        .partition(file.partition().clone())
        .record_count(file.record_count())
        .file_size_in_bytes(file.file_size_in_bytes())
        .column_sizes(file.column_sizes().clone())
        .value_counts(file.value_counts().clone())
        .null_value_counts(file.null_value_counts().clone())
        .nan_value_counts(file.nan_value_counts().clone())
        .lower_bounds(keep(file.lower_bounds()))
        .upper_bounds(keep(file.upper_bounds()))
        .key_metadata(file.key_metadata().map(<[u8]>::to_vec))
        .split_offsets(file.split_offsets().map(<[i64]>::to_vec))
        .equality_ids(file.equality_ids())
        .first_row_id(file.first_row_id())
        .partition_spec_id(spec_id)
        .referenced_data_file(file.referenced_data_file())
        .content_offset(file.content_offset())
        .content_size_in_bytes(file.content_size_in_bytes());
    if let Some(order) = file.sort_order_id() {
        b.sort_order_id(order);
    }
    b.build().map_err(|e| Error::invalid(format!("rebuilding data file {}: {e}", file.file_path())))
}
