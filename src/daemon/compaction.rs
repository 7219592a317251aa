//! Compaction inside `floe run`: between its commits, the silver loop bin-packs a table's small
//! files once `compaction.interval` has passed since it last looked. It runs only while the
//! table has no commit gathering, in the loop's own task, so it never races this process's
//! loader commits; a compaction that loses to another writer (another worker's compaction) is
//! logged and tried again at the next interval — it never fails the loop.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use iceberg::TableIdent;
use indicatif::ProgressBar;

use crate::catalog::Committer;
use crate::config::CompactionConfig;
use crate::lake::compact::{CompactOptions, compact, plan};

pub struct AutoCompact {
    every: Duration,
    opts: CompactOptions,
    /// When each table was last looked at (by position in the job's tables).
    last: Mutex<Vec<Option<Instant>>>,
}

impl AutoCompact {
    /// `None` when `compaction.interval` is 0 (off).
    pub fn new(cfg: &CompactionConfig, tables: usize) -> Option<Self> {
        if cfg.interval.is_zero() {
            return None;
        }
        let mut opts = CompactOptions::with_target(cfg.target_file_size);
        opts.min_files = cfg.min_files;
        // the first look comes one interval after start: a restart loop does not compact each time
        let now = Some(Instant::now());
        Some(Self { every: cfg.interval, opts, last: Mutex::new(vec![now; tables]) })
    }

    /// Compact table `i` (its idents: the table and its bad-rows table) if it is due.
    pub async fn maybe(&self, committer: &Committer, i: usize, idents: [&TableIdent; 2]) {
        {
            let Ok(mut last) = self.last.lock() else { return };
            let Some(slot) = last.get_mut(i) else { return };
            if slot.is_some_and(|t| t.elapsed() < self.every) {
                return;
            }
            *slot = Some(Instant::now());
        }
        for ident in idents {
            if let Err(e) = self.once(committer, ident).await {
                tracing::warn!(table = %ident, error = %e, "compaction failed; trying again at the next interval");
            }
        }
    }

    async fn once(&self, committer: &Committer, ident: &TableIdent) -> crate::error::Result<()> {
        let table = committer.catalog().load_table(ident).await?;
        let p = plan(&table, &self.opts).await?;
        if p.bins.is_empty() {
            return Ok(());
        }
        let r = compact(committer, &table, &p, &self.opts, &ProgressBar::hidden()).await?;
        tracing::info!(
            table = %ident, files_removed = r.files_removed, files_added = r.files_added,
            mib_read = r.bytes_read as f64 / 1048576.0, seconds = r.seconds, snapshot_id = r.snapshot_id,
            "compacted"
        );
        Ok(())
    }
}
