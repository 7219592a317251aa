//! Reading a table's progress back from its snapshots: the watermark of each shard is the
//! maximum over the current snapshot's ancestry (every floe commit writes the full map, but a
//! snapshot written by another engine carries none).

use iceberg::table::Table;

use crate::model::Watermarks;

/// The table's watermarks: for each shard, the maximum over the current snapshot's ancestry.
pub fn watermarks(table: &Table) -> Watermarks {
    let mut out = Watermarks::new();
    let meta = table.metadata_ref();
    let Some(current) = meta.current_snapshot_id() else { return out };
    for snap in iceberg::util::snapshot::ancestors_of(&meta, current) {
        for (key, value) in out.absorb_summary(&snap.summary().additional_properties) {
            tracing::warn!(table = %table.identifier(), key = %key, value = %value, "ignoring unparseable watermark");
        }
    }
    out
}
