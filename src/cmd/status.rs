//! `floe status`: per shard — lease owner (with DynamoDB leases), checkpoint and its age,
//! watermark, bronze backlog; per table — last snapshot,
//! and the totals its snapshot summaries add up to (records in = rows + dedup drops + rejected).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::bronze::store::BronzeStore;
use crate::catalog::commit::{self, Watermarks};
use crate::checkpoint::ShardCheckpoint;
use crate::checkpoint::dynamodb::LeaseTable;
use crate::checkpoint::local::read_file;
use crate::config::{CheckpointKind, Config};
use crate::error::Result;

/// A data file smaller than this counts as small (compaction would help readers).
pub const SMALL_FILE_BYTES: u64 = 16 << 20;

#[derive(Debug, Serialize)]
pub struct ShardStatus {
    pub shard: String,
    /// The worker holding the shard's lease (`None`: free, or local checkpoints).
    pub owner: Option<String>,
    pub lease_epoch: Option<u64>,
    pub checkpoint: Option<String>,
    /// Seconds since the checkpoint last moved: how far behind this shard's bronze may be.
    pub checkpoint_age_secs: Option<f64>,
    pub ended: bool,
    /// The bronze object that made the checkpoint durable.
    pub last_object: Option<String>,
    pub watermark: Option<String>,
    pub backlog_objects: u64,
    pub backlog_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct TableStatus {
    pub table: String,
    pub snapshot_id: Option<i64>,
    pub snapshots: usize,
    pub rows: u64,
    pub data_files: u64,
    /// Live data files under [`SMALL_FILE_BYTES`]: candidates for compaction.
    pub small_files: u64,
    /// Sums of the `floe.*` counters over the snapshot ancestry.
    pub totals: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub shards: Vec<ShardStatus>,
    pub tables: Vec<TableStatus>,
}

pub async fn status(cfg: &Config) -> Result<Status> {
    let (catalog, tables, _) = super::open_tables(cfg).await?;
    let checkpoints = shard_checkpoints(cfg).await?;
    let objects = BronzeStore::open(&cfg.bronze.location, &cfg.aws)?.list(&cfg.source.stream).await?;
    let mut table_status = Vec::new();
    let mut lowest: Option<Watermarks> = None;
    for m in &tables {
        for ident in [&m.ident, &m.bad_ident] {
            let t = catalog.load_table(ident).await?;
            let w = commit::watermarks(&t);
            lowest = Some(match lowest {
                None => w,
                Some(l) => l.into_iter().filter_map(|(s, p)| w.get(&s).map(|q| (s, p.min(q.clone())))).collect(),
            });
            let (rows, data_files, small_files) = file_stats(&t).await?;
            table_status.push(TableStatus {
                table: ident.name().to_string(),
                snapshot_id: t.metadata().current_snapshot_id(),
                snapshots: t.metadata().snapshots().count(),
                rows,
                data_files,
                small_files,
                totals: totals(&t),
            });
        }
    }
    let wm = lowest.unwrap_or_default();
    let mut shard_names: Vec<String> = checkpoints.keys().cloned().collect();
    shard_names.extend(objects.iter().map(|o| o.key.shard.to_string()));
    shard_names.sort();
    shard_names.dedup();
    let shards = shard_names
        .into_iter()
        .map(|name| {
            let (cp, owner, epoch) = match checkpoints.get(&name) {
                Some((c, o, e)) => (Some(c), o.clone(), *e),
                None => (None, None, None),
            };
            let w = wm.iter().find(|(s, _)| s.as_str() == name).map(|(_, p)| p.clone());
            let backlog: Vec<_> = objects
                .iter()
                .filter(|o| o.key.shard.as_str() == name && w.as_ref().is_none_or(|p| o.key.last > p.seq))
                .collect();
            ShardStatus {
                shard: name.clone(),
                owner,
                lease_epoch: epoch,
                checkpoint: cp.and_then(|c| c.sequence_number.clone()),
                checkpoint_age_secs: cp.and_then(|c| c.updated_at.as_deref()).and_then(age_secs),
                ended: cp.is_some_and(|c| c.ended),
                last_object: cp.and_then(|c| c.last_object.clone()),
                watermark: w.map(|p| p.to_string()),
                backlog_objects: backlog.len() as u64,
                backlog_bytes: backlog.iter().map(|o| o.size).sum(),
            }
        })
        .collect();
    Ok(Status { shards, tables: table_status })
}

/// Checkpoint, lease owner and epoch per shard, from whichever store `checkpoint.type` names.
async fn shard_checkpoints(cfg: &Config) -> Result<BTreeMap<String, (ShardCheckpoint, Option<String>, Option<u64>)>> {
    Ok(match &cfg.checkpoint {
        CheckpointKind::Local => {
            read_file(&cfg.checkpoint_path)?.into_iter().map(|(k, c)| (k, (c, None, None))).collect()
        }
        CheckpointKind::DynamoDb(settings) => {
            let sdk = crate::aws::sdk_config(&cfg.aws).await;
            LeaseTable::new(&sdk, &cfg.source.stream, settings)
                .scan()
                .await?
                .into_iter()
                .map(|l| (l.shard.to_string(), (l.checkpoint, l.owner, Some(l.epoch))))
                .collect()
        }
    })
}

fn age_secs(rfc3339: &str) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?;
    Some((chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_milliseconds().max(0) as f64 / 1e3)
}

/// Rows, live data files and small files of the current snapshot (from the scan plan).
async fn file_stats(t: &iceberg::table::Table) -> Result<(u64, u64, u64)> {
    use futures::TryStreamExt;
    if t.metadata().current_snapshot().is_none() {
        return Ok((0, 0, 0));
    }
    let tasks: Vec<_> = t.scan().build()?.plan_files().await?.try_collect().await?;
    let rows = tasks.iter().filter_map(|f| f.record_count).sum();
    let small = tasks.iter().filter(|f| f.file_size_in_bytes < SMALL_FILE_BYTES).count() as u64;
    Ok((rows, tasks.len() as u64, small))
}

fn totals(t: &iceberg::table::Table) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let meta = t.metadata_ref();
    let Some(id) = meta.current_snapshot_id() else { return out };
    for s in iceberg::util::snapshot::ancestors_of(&meta, id) {
        for (k, v) in &s.summary().additional_properties {
            if k.starts_with(commit::WATERMARK_PREFIX)
                || k.starts_with(commit::LEASE_EPOCH_PREFIX)
                || !k.starts_with("floe.")
            {
                continue;
            }
            if let Ok(n) = v.parse::<u64>() {
                *out.entry(k.trim_start_matches("floe.").to_string()).or_insert(0) += n;
            }
        }
    }
    out
}

pub fn print(s: &Status) {
    println!(
        "{:<40} {:<24} {:>14} {:>8} {:>6} {:>14} {:>10} {:>12}",
        "shard", "owner", "checkpoint", "age s", "ended", "watermark", "backlog", "backlog MB"
    );
    for sh in &s.shards {
        println!(
            "{:<40} {:<24} {:>14} {:>8} {:>6} {:>14} {:>10} {:>12.1}",
            sh.shard,
            sh.owner.as_deref().unwrap_or("-"),
            sh.checkpoint.as_deref().unwrap_or("-"),
            sh.checkpoint_age_secs.map(|a| format!("{a:.0}")).unwrap_or_else(|| "-".into()),
            if sh.ended { "yes" } else { "no" },
            sh.watermark.as_deref().unwrap_or("-"),
            sh.backlog_objects,
            sh.backlog_bytes as f64 / 1e6
        );
    }
    println!();
    for t in &s.tables {
        println!(
            "table {:<20} snapshot {:<22} ({} snapshots) rows {} in {} files ({} small)",
            t.table,
            t.snapshot_id.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
            t.snapshots,
            t.rows,
            t.data_files,
            t.small_files
        );
        for (k, v) in &t.totals {
            println!("    {k:<32} {v:>12}");
        }
    }
}
