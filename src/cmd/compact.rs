//! `floe compact`: plan and run [`crate::lake::compact`] on the selected tables.

use serde::Serialize;

use crate::catalog::Committer;
use crate::cli::CompactArgs;
use crate::config::Config;
use crate::error::Result;
use crate::lake::compact::{CompactOptions, CompactReport, compact, plan};

/// One table's plan (`--dry-run`) or what was done.
#[derive(Debug, Serialize)]
pub struct TableCompaction {
    pub table: String,
    pub live_files: usize,
    pub planned_bins: usize,
    pub planned_input_files: usize,
    pub planned_input_bytes: u64,
    pub done: Option<CompactReport>,
}

pub async fn run(cfg: &Config, args: &CompactArgs) -> Result<Vec<TableCompaction>> {
    let (catalog, tables, _) = super::open::open_tables(cfg).await?;
    let idents = super::lake::selected(&tables, &args.lake)?;
    let mut opts = CompactOptions::with_target(args.target_file_size);
    opts.small_below = args.small_below.unwrap_or(opts.small_below);
    opts.min_files = usize::try_from(args.min_files).unwrap_or(usize::MAX);
    opts.partition = args.partition.clone();
    let committer = Committer::new(catalog.clone());
    let mut out = Vec::new();
    for ident in idents {
        let table = catalog.load_table(&ident).await?;
        let p = plan(&table, &opts).await?;
        let mut row = TableCompaction {
            table: ident.to_string(),
            live_files: p.live_files,
            planned_bins: p.bins.len(),
            planned_input_files: p.input_files(),
            planned_input_bytes: p.input_bytes(),
            done: None,
        };
        if !args.lake.dry_run && !p.bins.is_empty() {
            let bar = super::lake::byte_bar(p.input_bytes(), &args.lake, &format!("of {} rewritten", ident.name()));
            let report = compact(&committer, &table, &p, &opts, &bar).await;
            bar.finish_and_clear();
            row.done = Some(report?);
        }
        out.push(row);
    }
    Ok(out)
}

pub fn print(rows: &[TableCompaction], dry_run: bool) {
    for r in rows {
        match &r.done {
            Some(d) => println!(
                "{}: {} small files in {} partitions → {} files ({:.1} MiB → {:.1} MiB, {} rows) in {:.1} s; snapshot {}",
                r.table,
                d.files_removed,
                d.partitions,
                d.files_added,
                d.bytes_read as f64 / 1048576.0,
                d.bytes_written as f64 / 1048576.0,
                d.rows,
                d.seconds,
                d.snapshot_id.map(|s| s.to_string()).unwrap_or_default()
            ),
            None if r.planned_bins == 0 => println!("{}: nothing to compact ({} live files)", r.table, r.live_files),
            None => println!(
                "{}: {} {} small files ({:.1} MiB) into {} files{}",
                r.table,
                if dry_run { "would rewrite" } else { "rewrote" },
                r.planned_input_files,
                r.planned_input_bytes as f64 / 1048576.0,
                r.planned_bins,
                if dry_run { " (dry run: nothing changed)" } else { "" }
            ),
        }
    }
}
