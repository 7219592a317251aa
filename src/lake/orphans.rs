//! Orphan removal: files under a table's location that no snapshot, no metadata file of the
//! metadata log and no statistics file references — left by failed writes, abandoned commits
//! and expiries whose deletes failed — are deleted, but never one younger than the threshold:
//! a young unreferenced file may belong to a commit still in flight (the loader writes its data
//! files before it commits them).

use std::time::Duration;

use futures::TryStreamExt;
use iceberg::TableIdent;
use indicatif::ProgressBar;
use serde::Serialize;

use super::expire::delete_all;
use super::reach::{ManifestCache, referenced};
use crate::aws::S3Settings;
use crate::catalog::FloeCatalog;
use crate::error::{Error, Result};

/// Below this, `floe remove-orphans` warns: a commit can take that long to land.
pub const SAFE_OLDER_THAN: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Default, Serialize)]
pub struct OrphanReport {
    pub table: String,
    pub files_listed: usize,
    pub orphans: usize,
    pub orphan_bytes: u64,
    /// Unreferenced but younger than the threshold: left alone.
    pub too_young: usize,
    pub delete_failures: usize,
    pub dry_run: bool,
    /// Up to 20 of the orphans, for the dry-run report.
    pub examples: Vec<String>,
}

/// Remove `ident`'s orphan files older than `older_than` (see the module docs).
pub async fn remove_orphans(
    catalog: &FloeCatalog,
    ident: &TableIdent,
    s3: &S3Settings,
    older_than: Duration,
    dry_run: bool,
    bar: &ProgressBar,
) -> Result<OrphanReport> {
    let mut report = OrphanReport { table: ident.to_string(), dry_run, ..Default::default() };
    let table = catalog.load_table(ident).await?;
    let meta = table.metadata();
    let location = meta.location().trim_end_matches('/').to_string();
    // listed before the references are read: a file committed meanwhile is then either not
    // listed or referenced, never taken for an orphan
    let Some((store, prefix, _)) = crate::storage::open(&location, s3)? else {
        return Err(Error::invalid(format!("{ident}: cannot list the table location {location:?}")));
    };
    let cutoff = chrono::Utc::now()
        - chrono::Duration::from_std(older_than).map_err(|e| Error::invalid(format!("--older-than: {e}")))?;
    let listed: Vec<object_store::ObjectMeta> = store.list(Some(&prefix)).try_collect().await?;
    report.files_listed = listed.len();

    let table = catalog.load_table(ident).await?;
    let meta = table.metadata();
    let mut cache = ManifestCache::default();
    let refs = referenced(&table, meta.snapshots(), false, &mut cache, bar).await?;
    let mut keep: std::collections::HashSet<String> =
        [refs.manifest_lists, refs.manifests, refs.files].into_iter().flatten().map(|p| normalized(&p)).collect();
    keep.extend(table.metadata_location().map(normalized));
    keep.extend(meta.metadata_log().iter().map(|l| normalized(&l.metadata_file)));
    keep.extend(meta.statistics_iter().map(|s| normalized(&s.statistics_path)));
    keep.extend(meta.partition_statistics_iter().map(|s| normalized(&s.statistics_path)));

    let root = normalized(&location);
    let relative_to = prefix.as_ref().to_string();
    let mut doomed = Vec::new();
    for object in listed {
        let key = object.location.as_ref();
        let rel = key.strip_prefix(&relative_to).unwrap_or(key).trim_start_matches('/');
        let path = format!("{root}/{rel}");
        // pointer files some catalogs keep beside the metadata (Hadoop tables) are never orphans
        if keep.contains(&path) || rel.ends_with("version-hint.text") {
            continue;
        }
        if object.last_modified > cutoff {
            report.too_young += 1;
            continue;
        }
        report.orphans += 1;
        report.orphan_bytes += object.size;
        if report.examples.len() < 20 {
            report.examples.push(path.clone());
        }
        doomed.push(full_path(&location, rel));
    }
    if !dry_run {
        report.delete_failures = delete_all(&table, doomed.into_iter()).await;
    }
    Ok(report)
}

/// One spelling per file: `file:///x` and `/x` are the same file, `s3a://` is `s3://`.
fn normalized(path: &str) -> String {
    let p = path.strip_prefix("file://").unwrap_or(path);
    match p.strip_prefix("s3a://") {
        Some(rest) => format!("s3://{rest}"),
        None => p.to_string(),
    }
}

/// The path FileIO deletes, in the table location's own spelling.
fn full_path(location: &str, rel: &str) -> String {
    format!("{location}/{rel}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_file_compare_equal() {
        assert_eq!(normalized("file:///w/t/data/a.parquet"), normalized("/w/t/data/a.parquet"));
        assert_eq!(normalized("s3a://b/t/m.avro"), "s3://b/t/m.avro");
        assert_eq!(full_path("s3://b/t", "data/x.parquet"), "s3://b/t/data/x.parquet");
    }
}
