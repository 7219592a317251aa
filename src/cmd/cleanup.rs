//! `floe expire-snapshots` and `floe remove-orphans` over the selected tables.

use crate::cli::{ExpireArgs, OrphanArgs};
use crate::config::Config;
use crate::error::Result;
use crate::lake::expire::{ExpireOptions, ExpireReport, expire};
use crate::lake::orphans::{OrphanReport, SAFE_OLDER_THAN, remove_orphans};

pub async fn expire_snapshots(cfg: &Config, args: &ExpireArgs) -> Result<Vec<ExpireReport>> {
    let (catalog, tables, _) = super::open::open_tables(cfg).await?;
    let opts = ExpireOptions {
        older_than: args.older_than,
        retain_last: usize::try_from(args.retain_last).unwrap_or(usize::MAX),
    };
    let mut out = Vec::new();
    for ident in super::lake::selected(&tables, &args.lake)? {
        let bar = super::lake::count_bar(&args.lake, &format!("manifests of {} read", ident.name()));
        let report = expire(&catalog, &ident, opts, args.lake.dry_run, &bar).await;
        bar.finish_and_clear();
        out.push(report?);
    }
    Ok(out)
}

pub fn print_expiry(rows: &[ExpireReport]) {
    for r in rows {
        let verb = if r.dry_run { "would expire" } else { "expired" };
        println!(
            "{}: {verb} {} of {} snapshots; {} {} manifest lists, {} manifests, {} data files{}",
            r.table,
            r.snapshots_expired,
            r.snapshots_before,
            if r.dry_run { "would delete" } else { "deleted" },
            r.manifest_lists_deleted,
            r.manifests_deleted,
            r.data_files_deleted,
            match r.delete_failures {
                0 => String::new(),
                n => format!(" ({n} deletes failed: left for remove-orphans)"),
            }
        );
    }
}

pub async fn orphans(cfg: &Config, args: &OrphanArgs) -> Result<Vec<OrphanReport>> {
    if args.older_than < SAFE_OLDER_THAN {
        tracing::warn!(
            older_than = ?args.older_than,
            "--older-than is under an hour: a file of a commit still in flight could be taken for an orphan"
        );
    }
    let sdk = super::open::sdk_config(cfg).await;
    let (catalog, tables, _) = super::open::open_tables_with(cfg, sdk.as_ref()).await?;
    let s3 = crate::aws::S3Settings::resolve(&cfg.aws, sdk.as_ref());
    let mut out = Vec::new();
    for ident in super::lake::selected(&tables, &args.lake)? {
        let bar = super::lake::count_bar(&args.lake, &format!("manifests of {} read", ident.name()));
        let report = remove_orphans(&catalog, &ident, &s3, args.older_than, args.lake.dry_run, &bar).await;
        bar.finish_and_clear();
        out.push(report?);
    }
    Ok(out)
}

pub fn print_orphans(rows: &[OrphanReport]) {
    for r in rows {
        println!(
            "{}: {} files listed; {} {} orphans ({:.1} MiB); {} unreferenced but younger than the threshold{}",
            r.table,
            r.files_listed,
            if r.dry_run { "would delete" } else { "deleted" },
            r.orphans,
            r.orphan_bytes as f64 / 1048576.0,
            r.too_young,
            match r.delete_failures {
                0 => String::new(),
                n => format!(" ({n} deletes failed)"),
            }
        );
        if r.dry_run {
            for e in &r.examples {
                println!("  {e}");
            }
        }
    }
}
