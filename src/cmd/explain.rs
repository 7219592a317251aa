//! `floe explain`: [`crate::lake::explain`], printed for a person or as JSON.

use crate::aws::S3Settings;
use crate::bronze::store::BronzeStore;
use crate::cli::ExplainArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::lake::explain::{Explanation, explain};
use crate::model::Hour;

pub async fn run(cfg: &Config, args: &ExplainArgs) -> Result<Explanation> {
    let sdk = super::open::sdk_config(cfg).await;
    let (catalog, tables, _) = super::open::open_tables_with(cfg, sdk.as_ref()).await?;
    let chosen = super::lake::managed(&tables, args.table.as_deref())?;
    let m = chosen.first().ok_or_else(|| Error::invalid("no floe table is defined"))?;
    let store = BronzeStore::open(&cfg.bronze.location, &S3Settings::resolve(&cfg.aws, sdk.as_ref()))?;
    let since = args.since.map(|d| Hour(crate::lake::days::days_since_epoch(d) * 24));
    let lookback_hours = (cfg.silver.dedup_lookback.as_secs() / 3600) as i64 + 1;
    explain(&catalog, &store, &cfg.source.stream, m, &args.event_id, since, lookback_hours).await
}

pub fn print(e: &Explanation) {
    println!("event {}", e.event_id);
    if e.rows.is_empty() {
        println!("  no row in the table");
    }
    for r in &e.rows {
        println!(
            "  row in {} from shard {} at {}.{}",
            r.table, r.source_shard_id, r.source_sequence_number, r.source_sub_sequence
        );
        println!("    data file {}", r.data_file);
        if let Some(s) = r.added_by_snapshot {
            println!("    added by snapshot {s} ({})", r.added_by_operation.as_deref().unwrap_or("expired since"));
        }
    }
    for b in &e.bad_rows {
        println!(
            "  bad row in {}: {}{} (shard {} at {}.{})",
            b.table,
            b.reason,
            b.detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default(),
            b.source_shard_id,
            b.source_sequence_number,
            b.source_sub_sequence
        );
    }
    if let Some((from, to)) = &e.bronze_hours_searched {
        println!("  bronze records (hours {from} to {to}):");
    }
    if e.bronze.is_empty() {
        println!("    none");
    }
    for b in &e.bronze {
        println!(
            "    {} #{} (shard {} at {}.{}): {}",
            b.object, b.position, b.shard, b.sequence_number, b.sub_sequence, b.outcome
        );
    }
}
