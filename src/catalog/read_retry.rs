//! Retries for a catalog's reads. iceberg-rust's REST client makes each call once: a 500, a 503 or
//! a reset connection on a `loadTable` ended the daemon (found by the fault run against the REST
//! catalog, tests/it/rest.rs). The AWS SDK retries Glue's calls itself; this does the same for
//! the REST catalog's idempotent calls. Writes pass through untouched: a create or an update
//! whose answer was lost may have been applied, and only the caller can tell (the committer
//! re-checks the table; see `commit.rs`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use iceberg::table::Table;
use iceberg::{Catalog, Namespace, NamespaceIdent, Result, TableCommit, TableCreation, TableIdent};

use crate::error::iceberg_is_transient;

/// Transient, and not a 4xx answer: the REST client reports any status it does not expect as
/// `Unexpected` with the status in its context — a 401 or 403 will not pass by retrying.
fn worth_retrying(e: &iceberg::Error) -> bool {
    iceberg_is_transient(e) && !e.to_string().contains("status: 4")
}

/// Attempts of one read before its error is the caller's (~6 s of back-off in all).
const ATTEMPTS: u32 = 6;

/// `inner` with its reads retried on transient errors.
#[derive(Debug)]
pub struct ReadRetry {
    inner: Arc<dyn Catalog>,
}

impl ReadRetry {
    pub fn new(inner: Arc<dyn Catalog>) -> Self {
        Self { inner }
    }

    async fn read<T, F: Future<Output = Result<T>>>(&self, what: &str, call: impl Fn() -> F) -> Result<T> {
        let mut backoff = crate::retry::backoff(Duration::from_millis(100), Duration::from_secs(2));
        let mut attempt = 1;
        loop {
            match call().await {
                Err(e) if attempt < ATTEMPTS && worth_retrying(&e) => {
                    tracing::debug!(call = what, attempt, error = %e, "catalog read failed; retrying");
                    tokio::time::sleep(backoff.next_delay()).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[async_trait::async_trait]
impl Catalog for ReadRetry {
    async fn list_namespaces(&self, parent: Option<&NamespaceIdent>) -> Result<Vec<NamespaceIdent>> {
        self.read("list_namespaces", || self.inner.list_namespaces(parent)).await
    }
    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        self.inner.create_namespace(namespace, properties).await
    }
    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        self.read("get_namespace", || self.inner.get_namespace(namespace)).await
    }
    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        self.read("namespace_exists", || self.inner.namespace_exists(namespace)).await
    }
    async fn update_namespace(&self, namespace: &NamespaceIdent, properties: HashMap<String, String>) -> Result<()> {
        self.inner.update_namespace(namespace, properties).await
    }
    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        self.inner.drop_namespace(namespace).await
    }
    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        self.read("list_tables", || self.inner.list_tables(namespace)).await
    }
    async fn create_table(&self, namespace: &NamespaceIdent, creation: TableCreation) -> Result<Table> {
        self.inner.create_table(namespace, creation).await
    }
    async fn load_table(&self, table: &TableIdent) -> Result<Table> {
        self.read("load_table", || self.inner.load_table(table)).await
    }
    async fn drop_table(&self, table: &TableIdent) -> Result<()> {
        self.inner.drop_table(table).await
    }
    async fn purge_table(&self, table: &TableIdent) -> Result<()> {
        self.inner.purge_table(table).await
    }
    async fn table_exists(&self, table: &TableIdent) -> Result<bool> {
        self.read("table_exists", || self.inner.table_exists(table)).await
    }
    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> Result<()> {
        self.inner.rename_table(src, dest).await
    }
    async fn register_table(&self, table: &TableIdent, metadata_location: String) -> Result<Table> {
        self.inner.register_table(table, metadata_location).await
    }
    async fn update_table(&self, commit: TableCommit) -> Result<Table> {
        self.inner.update_table(commit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_retried_refusals_are_not() {
        let err = |status: &str| {
            iceberg::Error::new(iceberg::ErrorKind::Unexpected, "Received response with unexpected status code")
                .with_context("status", status)
        };
        assert!(worth_retrying(&err("500 Internal Server Error")));
        assert!(worth_retrying(&err("503 Service Unavailable")));
        assert!(!worth_retrying(&err("401 Unauthorized")));
        assert!(!worth_retrying(&iceberg::Error::new(iceberg::ErrorKind::TableNotFound, "no such table")));
    }
}
