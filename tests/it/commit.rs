//! The commit protocol against the real Iceberg SQL catalog: a batch is appended once, a retry
//! of a committed batch is recognised, and a batch planned on a stale watermark is refused.

use std::collections::BTreeMap;

use floe::catalog::Committer;
use floe::catalog::commit::{Change, CommitOutcome, TableCommit};
use floe::catalog::progress::watermarks;
use floe::config::{Config, Overrides};
use floe::error::Error;
use floe::model::{Position, SequenceNumber, ShardId, Watermarks};

fn wm(pairs: &[(&str, u64)]) -> Watermarks {
    pairs.iter().map(|(s, n)| (ShardId::new(*s).unwrap(), Position::new(SequenceNumber::from_u64(*n), 0))).collect()
}

fn batch(ident: &iceberg::TableIdent, after: &[(&str, u64)], ends: &[(&str, u64)]) -> TableCommit {
    TableCommit {
        ident: ident.clone(),
        change: Change::Append(vec![]),
        planned_after: wm(after),
        ends_at: wm(ends),
        summary: BTreeMap::new(),
        oldest_arrival_micros: None,
    }
}

#[tokio::test]
async fn appends_once_recognises_retries_and_refuses_stale_plans() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = Overrides { warehouse: Some(dir.path().to_path_buf()), ..Default::default() };
    let cfg = Config::load(None, Vec::new(), &overrides).unwrap();
    let (catalog, tables, _) = floe::cmd::open_tables(&cfg).await.unwrap();
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
