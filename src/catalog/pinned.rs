//! The catalog as one commit attempt sees it (see [`PinnedBase`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use iceberg::table::Table;
use iceberg::{Catalog, Namespace, NamespaceIdent, TableIdent};

/// The catalog as a transaction sees it during one commit attempt: `load_table` answers with the
/// table the caller checked, so the transaction's requirements (main branch at that snapshot)
/// are computed from it, and every error reaches the caller unretried — the retry decision
/// belongs to [`super::commit::Committer`], which re-checks the watermarks first.
pub(super) struct PinnedBase<'a> {
    inner: &'a dyn Catalog,
    base: Table,
    /// Whether the catalog's error was transient before it was made unretryable for the transaction.
    transient: AtomicBool,
}

impl<'a> PinnedBase<'a> {
    pub(super) fn new(inner: &'a dyn Catalog, base: Table) -> Self {
        Self { inner, base, transient: AtomicBool::new(false) }
    }
    /// Whether the last refused update failed without a definite answer (it may have landed).
    pub(super) fn was_transient(&self) -> bool {
        self.transient.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for PinnedBase<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedBase").field("table", self.base.identifier()).finish()
    }
}

fn not_for_commits() -> iceberg::Error {
    iceberg::Error::new(iceberg::ErrorKind::FeatureUnsupported, "only load_table and update_table are used by a commit")
}

#[async_trait::async_trait]
impl Catalog for PinnedBase<'_> {
    async fn load_table(&self, table: &TableIdent) -> iceberg::Result<Table> {
        if table == self.base.identifier() { Ok(self.base.clone()) } else { self.inner.load_table(table).await }
    }
    async fn update_table(&self, commit: iceberg::TableCommit) -> iceberg::Result<Table> {
        self.inner.update_table(commit).await.map_err(|e| {
            self.transient.store(crate::error::iceberg_is_transient(&e), Ordering::Relaxed);
            e.with_retryable(false)
        })
    }
    async fn list_namespaces(&self, _: Option<&NamespaceIdent>) -> iceberg::Result<Vec<NamespaceIdent>> {
        Err(not_for_commits())
    }
    async fn create_namespace(&self, _: &NamespaceIdent, _: HashMap<String, String>) -> iceberg::Result<Namespace> {
        Err(not_for_commits())
    }
    async fn get_namespace(&self, _: &NamespaceIdent) -> iceberg::Result<Namespace> {
        Err(not_for_commits())
    }
    async fn namespace_exists(&self, _: &NamespaceIdent) -> iceberg::Result<bool> {
        Err(not_for_commits())
    }
    async fn update_namespace(&self, _: &NamespaceIdent, _: HashMap<String, String>) -> iceberg::Result<()> {
        Err(not_for_commits())
    }
    async fn drop_namespace(&self, _: &NamespaceIdent) -> iceberg::Result<()> {
        Err(not_for_commits())
    }
    async fn list_tables(&self, _: &NamespaceIdent) -> iceberg::Result<Vec<TableIdent>> {
        Err(not_for_commits())
    }
    async fn create_table(&self, _: &NamespaceIdent, _: iceberg::TableCreation) -> iceberg::Result<Table> {
        Err(not_for_commits())
    }
    async fn drop_table(&self, _: &TableIdent) -> iceberg::Result<()> {
        Err(not_for_commits())
    }
    async fn purge_table(&self, _: &TableIdent) -> iceberg::Result<()> {
        Err(not_for_commits())
    }
    async fn table_exists(&self, _: &TableIdent) -> iceberg::Result<bool> {
        Err(not_for_commits())
    }
    async fn rename_table(&self, _: &TableIdent, _: &TableIdent) -> iceberg::Result<()> {
        Err(not_for_commits())
    }
    async fn register_table(&self, _: &TableIdent, _: String) -> iceberg::Result<Table> {
        Err(not_for_commits())
    }
}
