//! `floe status`: per shard — lease owner (with DynamoDB leases), checkpoint and its age,
//! watermark, bronze backlog; per table — last snapshot,
//! and the totals its snapshot summaries add up to (records in = rows + dedup drops + rejected).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::bronze::store::BronzeStore;
use crate::catalog::progress::progress;
use crate::catalog::stats::{file_stats, totals};
use crate::checkpoint::ShardCheckpoint;
use crate::checkpoint::dynamodb::LeaseTable;
use crate::checkpoint::local::read_file;
use crate::config::{CheckpointKind, Config};
use crate::error::Result;
use crate::model::Watermarks;

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
    /// The worker whose silver last committed the shard (with leases; `None`: not recorded).
    pub silver_worker: Option<String>,
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
    /// Live data files under [`crate::catalog::stats::SMALL_FILE_BYTES`]: candidates for compaction.
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
    let sdk = super::open::sdk_config(cfg).await;
    let (catalog, tables, _) = super::open::open_tables_with(cfg, sdk.as_ref()).await?;
    let checkpoints = shard_checkpoints(cfg, sdk.as_ref()).await?;
    let s3 = crate::aws::S3Settings::resolve(&cfg.aws, sdk.as_ref());
    let objects = BronzeStore::open(&cfg.bronze.location, &s3)?.list(&cfg.source.stream).await?;
    let mut table_status = Vec::new();
    let mut lowest: Option<Watermarks> = None;
    let mut silver_workers = BTreeMap::new();
    for m in &tables {
        for ident in [&m.ident, &m.bad_ident] {
            let t = catalog.load_table(ident).await?;
            let p = progress(&t);
            if ident == &m.ident {
                silver_workers.extend(p.workers);
            }
            let w = p.watermarks;
            lowest = Some(match lowest {
                None => w,
                Some(l) => l.lower_of(&w),
            });
            let stats = file_stats(&t).await?;
            table_status.push(TableStatus {
                table: ident.name().to_string(),
                snapshot_id: t.metadata().current_snapshot_id(),
                snapshots: t.metadata().snapshots().count(),
                rows: stats.rows,
                data_files: stats.data_files,
                small_files: stats.small_files,
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
                silver_worker: silver_workers.get(&name).cloned(),
                backlog_objects: backlog.len() as u64,
                backlog_bytes: backlog.iter().map(|o| o.size).sum(),
            }
        })
        .collect();
    Ok(Status { shards, tables: table_status })
}

/// Checkpoint, lease owner and epoch per shard, from whichever store `checkpoint.type` names.
async fn shard_checkpoints(
    cfg: &Config,
    sdk: Option<&aws_config::SdkConfig>,
) -> Result<BTreeMap<String, (ShardCheckpoint, Option<String>, Option<u64>)>> {
    Ok(match &cfg.checkpoint {
        CheckpointKind::Local => {
            read_file(&cfg.checkpoint_path)?.into_iter().map(|(k, c)| (k, (c, None, None))).collect()
        }
        CheckpointKind::DynamoDb(settings) => {
            let sdk =
                sdk.ok_or_else(|| crate::error::Error::invalid("DynamoDB leases need the AWS SDK configuration"))?;
            LeaseTable::new(sdk, &cfg.source.stream, settings)
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

pub fn print(s: &Status) {
    let headers = ["shard", "owner", "checkpoint", "age s", "ended", "watermark", "silver by", "backlog", "backlog MB"];
    let rows: Vec<[String; 9]> = s
        .shards
        .iter()
        .map(|sh| {
            [
                sh.shard.clone(),
                sh.owner.clone().unwrap_or_else(|| "-".into()),
                sh.checkpoint.clone().unwrap_or_else(|| "-".into()),
                sh.checkpoint_age_secs.map(|a| format!("{a:.0}")).unwrap_or_else(|| "-".into()),
                if sh.ended { "yes" } else { "no" }.to_string(),
                sh.watermark.clone().unwrap_or_else(|| "-".into()),
                sh.silver_worker.clone().unwrap_or_else(|| "-".into()),
                sh.backlog_objects.to_string(),
                format!("{:.1}", sh.backlog_bytes as f64 / 1e6),
            ]
        })
        .collect();
    for line in aligned(&headers, &rows) {
        println!("{line}");
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

/// Lines of a table whose columns are as wide as their widest cell: the first two (shard,
/// owner) left-aligned, the others right-aligned; a long shard id or checkpoint never shifts
/// the columns after it.
fn aligned<const N: usize>(headers: &[&str; N], rows: &[[String; N]]) -> Vec<String> {
    let mut widths: [usize; N] = headers.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; N]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| if i < 2 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    std::iter::once(line(*headers)).chain(rows.iter().map(|r| line(r.each_ref().map(String::as_str)))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_whatever_the_length_of_a_shard_id() {
        let long = "gen-20261201T192656.294-42-000.ndjson-with-a-much-longer-name".to_string();
        let rows = [
            [long, "-".into(), "123".into(), "5".into(), "no".into(), "120".into(), "3".into(), "1.0".into()],
            [
                "s".into(),
                "worker-1".into(),
                "49650000000000000000000000001".into(),
                "-".into(),
                "yes".into(),
                "-".into(),
                "0".into(),
                "0.0".into(),
            ],
        ];
        let lines =
            aligned(&["shard", "owner", "checkpoint", "age s", "ended", "watermark", "backlog", "backlog MB"], &rows);
        let col = |line: &str, word: &str| line.find(word).map(|i| i + word.len());
        // right-aligned columns end at the same place on every line
        let end = col(&lines[0], "backlog MB").unwrap();
        assert!(lines.iter().all(|l| l.len() == end), "{lines:#?}");
        assert_eq!(col(&lines[1], "123"), col(&lines[2], "49650000000000000000000000001"), "{lines:#?}");
        assert_eq!(lines[1].find("-  "), lines[2].find("worker-1"), "{lines:#?}");
    }
}
