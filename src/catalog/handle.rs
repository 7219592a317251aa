//! The catalog as floe holds it: the `iceberg::Catalog` for everything Iceberg's API covers, and
//! beside it the one primitive floe's own commits need that the trait does not offer — the
//! backend's compare-and-swap of a table's metadata pointer.
//!
//! iceberg-rust can only fast-append; a replace or overwrite commit (compaction, backfill
//! `--overwrite`, erasure) is built by floe from the spec API, written as a new metadata file,
//! and made current with [`FloeCatalog::swap_metadata_pointer`]:
//! - SQL catalog: the table's row in `iceberg_tables` is updated only where it still holds the
//!   expected metadata location (one SQL statement, atomic in the database);
//! - Glue: `UpdateTable` with the entry's `VersionId` ([`GlueCatalog::swap_metadata_pointer`]);
//! - REST: the protocol has no pointer to swap — the server writes the metadata — so a REST
//!   commit is a set of updates guarded by requirements (`assert-ref-snapshot-id`), sent to
//!   the server's `updateTable`; asking a REST catalog for a pointer swap is an error.

use std::sync::Arc;

use std::str::FromStr;

use iceberg::spec::TableMetadata;
use iceberg::table::Table;
use iceberg::{Catalog, MetadataLocation, TableIdent, TableUpdate};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use super::glue::GlueCatalog;
use super::rest_commit::RestEndpoint;
use crate::error::{Error, Result};

/// What a compare-and-swap of the metadata pointer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointerSwap {
    /// The table now points at the new metadata.
    Swapped,
    /// The table no longer pointed at the expected metadata: someone committed in between.
    Moved,
}

/// How a backend swaps the pointer.
#[derive(Clone)]
enum Pointer {
    /// The SQL catalog's own database (a second, lazily opened pool on the same file).
    Sql {
        pool: SqlitePool,
        catalog_name: String,
    },
    Glue(Arc<GlueCatalog>),
    /// REST catalogs take requirement-guarded updates instead (see the module docs).
    Rest(Arc<RestEndpoint>),
}

/// The catalog handle `open_catalog` returns.
#[derive(Clone)]
pub struct FloeCatalog {
    iceberg: Arc<dyn Catalog>,
    pointer: Pointer,
}

impl std::fmt::Debug for FloeCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.pointer {
            Pointer::Sql { .. } => "sql",
            Pointer::Glue(_) => "glue",
            Pointer::Rest(_) => "rest",
        };
        f.debug_struct("FloeCatalog").field("kind", &kind).finish()
    }
}

impl FloeCatalog {
    /// The SQL catalog at database `uri` (`sqlite:…`), registered under `catalog_name`.
    pub fn sql(iceberg: Arc<dyn Catalog>, uri: &str, catalog_name: &str) -> Result<Self> {
        let options: SqliteConnectOptions =
            uri.parse().map_err(|e| Error::invalid(format!("catalog.uri {uri:?} is not a SQLite URL: {e}")))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options.busy_timeout(std::time::Duration::from_secs(10)));
        Ok(Self { iceberg, pointer: Pointer::Sql { pool, catalog_name: catalog_name.to_string() } })
    }

    pub fn glue(glue: Arc<GlueCatalog>) -> Self {
        Self { iceberg: glue.clone(), pointer: Pointer::Glue(glue) }
    }

    pub fn rest(iceberg: Arc<dyn Catalog>, endpoint: RestEndpoint) -> Self {
        Self { iceberg, pointer: Pointer::Rest(Arc::new(endpoint)) }
    }

    /// The catalog through Iceberg's own API (load, create, fast-append commits, DataFusion).
    pub fn iceberg(&self) -> &Arc<dyn Catalog> {
        &self.iceberg
    }

    pub async fn load_table(&self, ident: &TableIdent) -> Result<Table> {
        Ok(self.iceberg.load_table(ident).await?)
    }

    /// Commit a metadata change floe built itself: `metadata` is `base`'s metadata with
    /// `updates` applied. SQL and Glue: `metadata` is written as the next metadata file and the
    /// pointer swapped from `base`'s; REST: `updates` are sent, guarded by `base`'s UUID and
    /// `main` snapshot. `Moved`: someone committed since `base` was loaded; nothing changed.
    pub async fn commit_metadata(
        &self,
        base: &Table,
        metadata: &TableMetadata,
        updates: Vec<TableUpdate>,
    ) -> Result<PointerSwap> {
        let ident = base.identifier();
        if let Pointer::Rest(rest) = &self.pointer {
            let applied = rest.commit(base, updates).await?;
            return Ok(if applied { PointerSwap::Swapped } else { PointerSwap::Moved });
        }
        let expected = base
            .metadata_location()
            .ok_or_else(|| Error::invalid(format!("{ident}: the loaded table has no metadata location")))?;
        // a new file name (next version, new UUID): `with_new_metadata` alone keeps the base's
        // name, and writing there would truncate the metadata file every reader is pointed at
        let location = MetadataLocation::from_str(expected)?.with_next_version().with_new_metadata(metadata);
        metadata.write_to(base.file_io(), &location).await?;
        let location = location.to_string();
        let swapped = self.swap_metadata_pointer(ident, expected, &location, metadata).await?;
        if swapped == PointerSwap::Moved
            && let Err(e) = base.file_io().delete(&location).await
        {
            tracing::debug!(file = %location, error = %e, "could not delete an unused metadata file");
        }
        Ok(swapped)
    }

    /// Make `new_location` (already written; its content is `metadata`) the table's current
    /// metadata if and only if the table still points at `expected`.
    pub async fn swap_metadata_pointer(
        &self,
        ident: &TableIdent,
        expected: &str,
        new_location: &str,
        metadata: &TableMetadata,
    ) -> Result<PointerSwap> {
        let swapped = match &self.pointer {
            Pointer::Sql { pool, catalog_name } => {
                // The JDBC layout iceberg-catalog-sql and pyiceberg share: one row per table.
                let done = sqlx::query(
                    "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ? \
                     WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND metadata_location = ?",
                )
                .bind(new_location)
                .bind(expected)
                .bind(catalog_name)
                .bind(ident.namespace().join("."))
                .bind(ident.name())
                .bind(expected)
                .execute(pool)
                .await
                .map_err(|e| {
                    Error::Iceberg(iceberg::Error::new(
                        iceberg::ErrorKind::Unexpected,
                        format!("SQL catalog: swapping the metadata pointer of {ident}: {e}"),
                    ))
                })?;
                done.rows_affected() == 1
            }
            Pointer::Glue(glue) => glue.swap_metadata_pointer(ident, expected, new_location, metadata).await?,
            Pointer::Rest(_) => {
                return Err(Error::invalid(format!(
                    "{ident}: a REST catalog commits requirement-guarded updates, not a metadata pointer swap"
                )));
            }
        };
        Ok(if swapped { PointerSwap::Swapped } else { PointerSwap::Moved })
    }
}
