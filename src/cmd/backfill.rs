//! `floe backfill`: [`crate::lake::backfill`] over the selected tables.

use crate::aws::S3Settings;
use crate::bronze::store::BronzeStore;
use crate::catalog::Committer;
use crate::cli::{BackfillArgs, LakeArgs};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::lake::backfill::{BackfillOptions, BackfillReport, backfill};

pub async fn run(cfg: &Config, args: &BackfillArgs) -> Result<Vec<BackfillReport>> {
    if args.from > args.to {
        return Err(Error::invalid(format!("--from {} is after --to {}", args.from, args.to)));
    }
    let sdk = super::open::sdk_config(cfg).await;
    let (catalog, tables, _) = super::open::open_tables_with(cfg, sdk.as_ref()).await?;
    super::lake::managed(&tables, args.table.as_deref())?;
    let store = BronzeStore::open(&cfg.bronze.location, &S3Settings::resolve(&cfg.aws, sdk.as_ref()))?;
    let job = super::run::silver_job(cfg, &catalog, store, tables)?;
    let committer = Committer::new(catalog);
    let opts =
        BackfillOptions { from: args.from, to: args.to, overwrite: args.overwrite, dry_run: args.dry_run, only: None };
    let lake = LakeArgs { table: None, dry_run: args.dry_run, json: args.json, quiet: args.quiet };
    let mut out = Vec::new();
    for t in job.tables.iter().filter(|t| args.table.as_ref().is_none_or(|w| t.managed.ident.name() == w)) {
        let bar = super::lake::byte_bar(0, &lake, &format!("of bronze re-read for {}", t.managed.ident.name()));
        let report = backfill(&job, t, &committer, opts.clone(), &bar).await;
        bar.finish_and_clear();
        out.push(report?);
    }
    Ok(out)
}

pub fn print(rows: &[BackfillReport]) {
    for r in rows {
        let verb = if r.dry_run { "would add" } else { "added" };
        println!(
            "{}: {} bronze objects ({:.1} MiB, {} records the loader passed); {verb} {} rows and {} bad rows; {} rows already present or re-sent, {} bad rows already present",
            r.table,
            r.bronze_objects,
            r.bronze_bytes as f64 / 1048576.0,
            r.records,
            r.rows_added,
            r.bad_rows_added,
            r.dedup_drops,
            r.bad_rows_present
        );
        if r.rows_outside_range > 0 {
            println!(
                "  {} rows of these bronze objects are of days outside the range: left alone (backfill their days to add them)",
                r.rows_outside_range
            );
        }
        if r.overwrite {
            println!(
                "  {} {} files ({} rows) of the range's partitions; {} ids of the range no longer present after the transform",
                if r.dry_run { "would replace" } else { "replaced" },
                r.files_replaced,
                r.rows_replaced,
                r.ids_no_longer_present
            );
        }
    }
}
