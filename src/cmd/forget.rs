//! `floe forget`: [`crate::lake::forget`] over the selected tables, their bad rows and bronze.

use serde::Serialize;

use crate::aws::S3Settings;
use crate::bronze::store::BronzeStore;
use crate::catalog::Committer;
use crate::cli::{ForgetArgs, LakeArgs};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::lake::forget::{BronzeErasure, ForgetRequest, TableErasure, forget_bronze, forget_rows, purge_history};

#[derive(Debug, Serialize)]
pub struct ForgetReport {
    pub column: String,
    pub values: usize,
    pub dry_run: bool,
    pub tables: Vec<TableErasure>,
    pub bronze: Option<BronzeErasure>,
}

pub async fn run(cfg: &Config, args: &ForgetArgs) -> Result<ForgetReport> {
    let req = match (&args.r#where, &args.ids_file) {
        (Some(w), _) => ForgetRequest::parse_where(w)?,
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            ForgetRequest::new(args.column.clone(), text.lines().map(|l| l.trim().to_string()).collect())?
        }
        (None, None) => return Err(Error::invalid("give --where or --ids-file")),
    };
    let sdk = super::open::sdk_config(cfg).await;
    let (catalog, tables, _) = super::open::open_tables_with(cfg, sdk.as_ref()).await?;
    let lake = LakeArgs { table: args.table.clone(), dry_run: args.dry_run, json: args.json, quiet: args.quiet };
    let chosen = super::lake::managed(&tables, args.table.as_deref())?;
    let committer = Committer::new(catalog.clone());
    let mut report = ForgetReport {
        column: req.column.clone(),
        values: req.values.len(),
        dry_run: args.dry_run,
        tables: Vec::new(),
        bronze: None,
    };
    for t in chosen {
        for (ident, bad) in [(&t.ident, false), (&t.bad_ident, true)] {
            let bar = super::lake::count_bar(&lake, &format!("files of {} scanned", ident.name()));
            let erased = forget_rows(&committer, ident, &req, bad, args.dry_run, &bar).await;
            bar.finish_and_clear();
            let mut erased = erased?;
            if erased.snapshot_id.is_some() && !args.keep_history {
                let table = catalog.load_table(ident).await?;
                purge_history(&committer, &table, &mut erased).await?;
            }
            report.tables.push(erased);
        }
    }
    if !args.no_bronze {
        let store = BronzeStore::open(&cfg.bronze.location, &S3Settings::resolve(&cfg.aws, sdk.as_ref()))?;
        let bar = super::lake::count_bar(&lake, "bronze objects scanned");
        let erased = forget_bronze(&store, &cfg.source.stream, &req, cfg.bronze.zstd_level, args.dry_run, &bar).await;
        bar.finish_and_clear();
        report.bronze = Some(erased?);
    }
    Ok(report)
}

pub fn print(r: &ForgetReport) {
    let verb = if r.dry_run { "would remove" } else { "removed" };
    println!(
        "forget {} value(s) of {}{}",
        r.values,
        r.column,
        if r.dry_run { " (dry run: nothing changed)" } else { "" }
    );
    for t in &r.tables {
        println!(
            "  {}: {verb} {} rows from {} of {} files; {} snapshots expired, {} files deleted",
            t.table, t.rows_removed, t.files_rewritten, t.files_scanned, t.snapshots_expired, t.files_deleted
        );
    }
    if let Some(b) = &r.bronze {
        println!(
            "  bronze: {verb} {} records from {} of {} objects",
            b.records_removed, b.objects_rewritten, b.objects_scanned
        );
    }
}
