//! Which files a set of snapshots references: manifest lists, manifests, data and delete files.
//! What snapshot expiry may delete and what orphan removal must keep are both computed from it.

use std::collections::{HashMap, HashSet};

use iceberg::spec::SnapshotRef;
use iceberg::table::Table;
use indicatif::ProgressBar;

use crate::error::Result;

/// Paths referenced, by kind.
#[derive(Debug, Default)]
pub struct Referenced {
    pub manifest_lists: HashSet<String>,
    pub manifests: HashSet<String>,
    /// Data and delete files.
    pub files: HashSet<String>,
}

impl Referenced {
    pub fn contains(&self, path: &str) -> bool {
        self.files.contains(path) || self.manifests.contains(path) || self.manifest_lists.contains(path)
    }
}

/// A manifest's entries as (file path, alive), read once however many snapshots share it.
#[derive(Debug, Default)]
pub struct ManifestCache(HashMap<String, Vec<(String, bool)>>);

/// The files `snapshots` of `table` reference. `live_only`: a file only a `deleted` entry names
/// is not counted (it is not part of that snapshot). `bar` counts manifests.
pub async fn referenced<'a>(
    table: &Table,
    snapshots: impl IntoIterator<Item = &'a SnapshotRef>,
    live_only: bool,
    cache: &mut ManifestCache,
    bar: &ProgressBar,
) -> Result<Referenced> {
    let mut out = Referenced::default();
    for snapshot in snapshots {
        out.manifest_lists.insert(snapshot.manifest_list().to_string());
        let list = table.manifest_list_reader(snapshot).load().await?;
        for mf in list.entries() {
            out.manifests.insert(mf.manifest_path.clone());
            if !cache.0.contains_key(&mf.manifest_path) {
                let manifest = mf.load_manifest(table.file_io()).await?;
                let entries = manifest.entries().iter().map(|e| (e.file_path().to_string(), e.is_alive())).collect();
                cache.0.insert(mf.manifest_path.clone(), entries);
                bar.inc(1);
            }
            if let Some(entries) = cache.0.get(&mf.manifest_path) {
                out.files.extend(entries.iter().filter(|(_, alive)| *alive || !live_only).map(|(p, _)| p.clone()));
            }
        }
    }
    Ok(out)
}
