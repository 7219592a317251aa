//! The commit protocol against the real Iceberg SQL catalog: a batch is appended once, a retry
//! of a committed batch is recognised, and a batch planned on a stale watermark is refused.

use std::collections::BTreeMap;

use floe::catalog::commit::{Change, CommitOutcome, TableCommit};
use floe::catalog::progress::watermarks;
use floe::catalog::setup::ManagedTable;
use floe::catalog::{Committer, FloeCatalog};
use floe::config::{Config, Overrides};
use floe::error::Error;
use floe::model::{Frontier, Position, SequenceNumber, ShardId, Watermarks};

fn wm(pairs: &[(&str, u64)]) -> Watermarks {
    pairs.iter().map(|(s, n)| (ShardId::new(*s).unwrap(), Position::new(SequenceNumber::from_u64(*n), 0))).collect()
}

fn batch(ident: &iceberg::TableIdent, after: &[(&str, u64)], ends: &[(&str, u64)]) -> TableCommit {
    TableCommit {
        ident: ident.clone(),
        change: Change::Append(vec![]),
        planned_after: wm(after),
        ends_at: wm(ends),
        frontier: Frontier::new(),
        summary: BTreeMap::new(),
        oldest_arrival_micros: None,
        rebase: None,
    }
}

/// The embedded default's SQL catalog with floe's tables, in a fresh directory (kept alive by
/// the returned guard).
async fn embedded_catalog() -> (tempfile::TempDir, FloeCatalog, Vec<ManagedTable>) {
    let dir = tempfile::tempdir().unwrap();
    let overrides = Overrides { warehouse: Some(dir.path().to_path_buf()), ..Default::default() };
    let cfg = Config::load(None, Vec::new(), &overrides).unwrap();
    let (catalog, tables, _) = floe::cmd::open_tables(&cfg).await.unwrap();
    (dir, catalog, tables)
}

#[tokio::test]
async fn appends_once_recognises_retries_and_refuses_stale_plans() {
    let (_dir, catalog, tables) = embedded_catalog().await;
    let ident = tables[0].ident.clone();
    let committer = Committer::new(catalog.clone());

    let first = committer.commit(batch(&ident, &[], &[("a", 10), ("b", 5)])).await.unwrap();
    assert!(matches!(first, CommitOutcome::Committed { .. }));
    // the same batch again (an ambiguous commit retried): nothing new is appended
    let again = committer.commit(batch(&ident, &[], &[("a", 10), ("b", 5)])).await.unwrap();
    assert_eq!(again, CommitOutcome::AlreadyCovered);
    // a batch planned before the first commit, covering more: refused, not appended over it
    let stale = committer.commit(batch(&ident, &[], &[("a", 20)])).await;
    assert!(matches!(stale, Err(Error::CommitConflict { .. })), "{stale:?}");
    // planned on the current watermark: fine; other shards' watermarks are carried forward
    committer.commit(batch(&ident, &[("a", 10)], &[("a", 20)])).await.unwrap();
    let table = catalog.load_table(&ident).await.unwrap();
    assert_eq!(watermarks(&table), wm(&[("a", 20), ("b", 5)]));
    assert_eq!(table.metadata().snapshots().count(), 2);
    // every snapshot carries the full map, so the current one alone tells the whole story
    let summary = &table.metadata().current_snapshot().unwrap().summary().additional_properties;
    assert_eq!(summary.get("floe.watermark.b").map(String::as_str), Some("5"));
}

/// The SQL catalog's pointer swap: refused when the table moved on since the expected metadata,
/// done (and seen by the catalog) when it still points there.
#[tokio::test]
async fn the_sql_catalog_swaps_the_metadata_pointer_only_from_where_it_is() {
    use floe::catalog::handle::PointerSwap;
    let (_dir, catalog, tables) = embedded_catalog().await;
    let ident = tables[0].ident.clone();
    let before = catalog.load_table(&ident).await.unwrap();
    let first = before.metadata_location().unwrap().to_string();
    Committer::new(catalog.clone()).commit(batch(&ident, &[], &[("a", 1)])).await.unwrap();
    let after = catalog.load_table(&ident).await.unwrap();
    let second = after.metadata_location().unwrap().to_string();
    assert_ne!(first, second);

    // expected the old pointer: the table moved since, so nothing changes
    let stale = catalog.swap_metadata_pointer(&ident, &first, &first, before.metadata()).await.unwrap();
    assert_eq!(stale, PointerSwap::Moved);
    assert_eq!(catalog.load_table(&ident).await.unwrap().metadata_location(), Some(second.as_str()));
    // expected the current pointer: swapped (here back to the first metadata file, which exists)
    let done = catalog.swap_metadata_pointer(&ident, &second, &first, before.metadata()).await.unwrap();
    assert_eq!(done, PointerSwap::Swapped);
    let now = catalog.load_table(&ident).await.unwrap();
    assert_eq!(now.metadata_location(), Some(first.as_str()));
    assert_eq!(watermarks(&now), Watermarks::new(), "the catalog reads the swapped-in metadata");
    // the other table of the namespace is untouched
    let bad = catalog.load_table(&tables[0].bad_ident).await.unwrap();
    assert_ne!(bad.metadata_location(), Some(first.as_str()));
}
