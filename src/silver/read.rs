//! Fetching a batch's bronze objects and keeping only the records past the watermarks.

use std::collections::BTreeMap;

use arrow::array::{BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::compute::{concat_batches, filter_record_batch};
use futures::{StreamExt, TryStreamExt};

use crate::bronze::encode::{self, bronze_schema, col, column};
use crate::bronze::store::{BronzeObject, BronzeStore};
use crate::error::{Error, Result};
use crate::model::{Position, SequenceNumber, ShardId, Watermarks};

/// Bronze objects fetched at once.
const FETCH_CONCURRENCY: usize = 4;

/// The records of a batch.
pub struct ReadBronze {
    /// The records of the batch, in read order; row i has `_ord` i.
    pub bronze: RecordBatch,
    pub positions: Vec<(ShardId, Position)>,
    /// Per shard in the batch, its last position.
    pub ends: Watermarks,
    /// Per shard, the newest lease epoch its objects were written under (leases only).
    pub epochs: BTreeMap<ShardId, u64>,
    /// The bronze object of each run of rows: (first row, object location), in row order.
    pub objects: Vec<(usize, String)>,
}

impl ReadBronze {
    /// The bronze object row `row` was read from.
    pub fn object_of(&self, row: usize) -> Option<&str> {
        object_of(&self.objects, row)
    }
}

/// The object of `row` in an index of (first row, object) runs.
pub fn object_of(objects: &[(usize, String)], row: usize) -> Option<&str> {
    let i = objects.partition_point(|(start, _)| *start <= row);
    objects.get(i.checked_sub(1)?).map(|(_, o)| o.as_str())
}

/// Fetch and decode the planned objects, keeping only records past `after` (objects left by
/// a retried flush may overlap: the per-shard cursor skips what was already taken).
pub async fn read(
    store: &BronzeStore,
    planned: BTreeMap<ShardId, Vec<BronzeObject>>,
    after: &Watermarks,
) -> Result<ReadBronze> {
    let jobs: Vec<BronzeObject> = planned.into_values().flatten().collect();
    let fetched: Vec<(BronzeObject, Vec<RecordBatch>, Option<u64>)> = futures::stream::iter(jobs)
        .map(|o| {
            let store = store.clone();
            async move {
                let bytes = store.get(&o.location).await?;
                let format = o.key.format;
                let epoch = encode::lease_epoch(&bytes, format);
                let batches = tokio::task::spawn_blocking(move || encode::decode(bytes, format))
                    .await
                    .map_err(|e| Error::invalid(format!("bronze decoder task failed: {e}")))?
                    .map_err(|e| Error::invalid(format!("bronze object {} cannot be read: {e}", o.location)))?;
                Ok::<_, Error>((o, batches, epoch))
            }
        })
        .buffered(FETCH_CONCURRENCY)
        .try_collect()
        .await?;
    let mut cursors = after.clone();
    let mut kept = Vec::new();
    let mut positions = Vec::new();
    let mut epochs: BTreeMap<ShardId, u64> = BTreeMap::new();
    let mut objects = Vec::new();
    let mut rows = 0usize;
    for (object, batches, epoch) in fetched {
        objects.push((rows, object.location.to_string()));
        let shard = object.key.shard.clone();
        if let Some(e) = epoch {
            let max = epochs.entry(shard.clone()).or_insert(e);
            *max = (*max).max(e);
        }
        for b in batches {
            let seq = column::<StringArray>(&b, col::SEQUENCE_NUMBER)?;
            let sub = column::<Int64Array>(&b, col::SUB_SEQUENCE)?;
            let mut mask = Vec::with_capacity(b.num_rows());
            for i in 0..b.num_rows() {
                let pos = Position::new(SequenceNumber::new(seq.value(i))?, sub.value(i).max(0) as u64);
                let past = cursors.is_past(&shard, &pos);
                if past {
                    cursors.set(shard.clone(), pos.clone());
                    positions.push((shard.clone(), pos));
                }
                mask.push(past);
            }
            let b = filter_record_batch(&b, &BooleanArray::from(mask))?;
            if b.num_rows() > 0 {
                rows += b.num_rows();
                kept.push(b);
            }
        }
    }
    let bronze = concat_batches(&bronze_schema(), &kept)?;
    let ends: Watermarks = cursors.into_iter().filter(|(s, p)| after.get(s) != Some(p)).collect();
    Ok(ReadBronze { bronze, positions, ends, epochs, objects })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_find_their_object() {
        let objects = vec![(0, "a".to_string()), (3, "b".to_string()), (3, "c".to_string()), (5, "d".to_string())];
        let of = |r| object_of(&objects, r);
        assert_eq!(
            [of(0), of(2), of(3), of(4), of(5), of(99)],
            [Some("a"), Some("a"), Some("c"), Some("c"), Some("d"), Some("d")]
        );
        assert_eq!(object_of(&[], 0), None);
    }
}
