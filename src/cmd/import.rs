//! `floe import`: stage the archive's files as an import spool ([`crate::lake::import`]), then
//! run the pipeline on it until idle, with checkpoints of its own.

use std::sync::Arc;

use serde::Serialize;

use crate::aws::S3Settings;
use crate::checkpoint::local::LocalCheckpoints;
use crate::cli::{ImportArgs, LakeArgs};
use crate::config::{CheckpointKind, Config, SourceKind};
use crate::error::{Error, Result};
use crate::lake::import::{ArchiveFormat, fetch, list_archive, shard_name, stage, staging_dir};
use crate::model::ShardId;
use crate::telemetry::{Counters, CountersSnapshot};

#[derive(Debug, Serialize)]
pub struct ImportReport {
    pub source: String,
    pub files: usize,
    /// Files imported by an earlier run (their shard is complete): skipped.
    pub already_imported: usize,
    pub records_staged: u64,
    pub dry_run: bool,
    pub counters: Option<CountersSnapshot>,
}

/// The configuration the import runs the pipeline with: the import spool as the source, its
/// own local checkpoints, the same stream (so its bronze is silver's), catalog and tables.
fn import_config(cfg: &Config) -> Config {
    let mut c = cfg.clone();
    c.source.kind = SourceKind::Spool;
    c.source.spool_dir = staging_dir(&cfg.warehouse);
    c.checkpoint = CheckpointKind::Local;
    c.checkpoint_path = cfg.warehouse.join("import-checkpoints.json");
    c
}

pub async fn run(cfg: &Config, args: &ImportArgs) -> Result<ImportReport> {
    let forced = args.format.as_deref().map(ArchiveFormat::parse).transpose()?;
    let sdk = super::open::sdk_config(cfg).await;
    let s3 = S3Settings::resolve(&cfg.aws, sdk.as_ref());
    // a local archive by its absolute path (the storage layer takes URLs and absolute paths)
    let source = match args.source.contains("://") {
        true => args.source.clone(),
        false => {
            std::path::absolute(&args.source).map_err(|e| Error::io(&args.source, e))?.to_string_lossy().to_string()
        }
    };
    let files = list_archive(&source, &s3).await?;
    if files.is_empty() {
        return Err(Error::invalid(format!("{}: no files to import", args.source)));
    }
    let formats = files
        .iter()
        .map(|f| {
            forced.or_else(|| ArchiveFormat::of_name(&f.name)).ok_or_else(|| {
                Error::invalid(format!("{}: cannot tell the format from the name; pass --format", f.location))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let icfg = import_config(cfg);
    let checkpoints = LocalCheckpoints::open(&icfg.checkpoint_path)?;
    let mut report = ImportReport {
        source: args.source.clone(),
        files: files.len(),
        already_imported: 0,
        records_staged: 0,
        dry_run: args.dry_run,
        counters: None,
    };
    let dir = &icfg.source.spool_dir;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let lake = LakeArgs { table: None, dry_run: args.dry_run, json: args.json, quiet: args.quiet };
    let bar = super::lake::byte_bar(files.iter().map(|f| f.size).sum(), &lake, "of the archive staged");
    let mut staged_names = Vec::new();
    for (file, format) in files.iter().zip(formats) {
        bar.inc(file.size);
        let shard = ShardId::new(shard_name(file)).map_err(|e| Error::invalid(e.to_string()))?;
        if checkpoints.get(&shard).await.is_some_and(|c| c.ended) {
            report.already_imported += 1;
            continue;
        }
        if args.dry_run {
            continue;
        }
        let bytes = fetch(&source, &s3, file).await?;
        report.records_staged += stage(file, bytes, format, dir)?;
        staged_names.push(dir.join(shard_name(file)));
    }
    bar.finish_and_clear();
    drop(checkpoints);
    if args.dry_run {
        return Ok(report);
    }
    let opts = super::run::RunOptions { until_idle: true, bronze: true, silver: !args.bronze_only };
    let summary =
        super::run::run(&icfg, opts, crate::shutdown::on_signal(), Arc::new(Counters::default()), None).await?;
    report.counters = Some(summary.counters);
    // every staged file is read to its end and checkpointed: the staging copy is done with
    for path in staged_names {
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(file = %path.display(), error = %e, "could not remove a staged import file");
        }
    }
    Ok(report)
}

pub fn print(r: &ImportReport) {
    println!(
        "{}: {} files ({} imported before){}",
        r.source,
        r.files,
        r.already_imported,
        if r.dry_run { " (dry run: nothing loaded)" } else { "" }
    );
    if let Some(c) = &r.counters {
        println!(
            "  {} records staged; bronze: {} records in {} objects; silver: {} rows, {} bad rows, {} dedup drops",
            r.records_staged, c.records_read, c.bronze_objects, c.silver_rows, c.bad_rows, c.dedup_drops
        );
    }
}
