//! An `iceberg::Catalog` over the AWS Glue Data Catalog, written against `aws-sdk-glue`.
//!
//! Why our own: the published `iceberg-catalog-glue` 0.10.1 refuses `timestamptz` columns on
//! create and on every commit, and floe's commits need Glue's `UpdateTable`-with-`VersionId`
//! compare-and-swap (DESIGN.md §6, docs/adr/0005).
//!
//! The entry's shape — what Athena, Trino, Spark and pyiceberg expect — is [`super::glue_entry`].
//!
//! Commits: `update_table` reads the entry (metadata location + `VersionId`), applies the
//! commit's requirements and updates to the metadata it points at, writes the new metadata file,
//! then calls `UpdateTable` with that `VersionId`. If anyone committed in between, Glue refuses
//! with `ConcurrentModificationException`, surfaced as a retryable `CatalogCommitConflicts`.
//! [`GlueCatalog::swap_metadata_pointer`] offers the same swap to floe's own commits.

use std::collections::HashMap;
use std::str::FromStr;

use async_trait::async_trait;
use aws_sdk_glue::config::http::HttpResponse;
use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_glue::operation::create_table::CreateTableError;
use aws_sdk_glue::operation::get_table::GetTableError;
use aws_sdk_glue::operation::update_table::UpdateTableError;
use iceberg::io::FileIO;

use super::glue_entry::{LOCATION_PROP, METADATA_LOCATION_PROP, TABLE_TYPE_PROP, table_input};
use iceberg::spec::{TableMetadata, TableMetadataBuilder};
use iceberg::table::Table;
use iceberg::{
    Catalog, Error, ErrorKind, MetadataLocation, Namespace, NamespaceIdent, Result, Runtime, TableCommit,
    TableCreation, TableIdent,
};

pub struct GlueCatalog {
    pub(super) client: aws_sdk_glue::Client,
    /// The account owning the catalog, when it is not the caller's.
    pub(super) catalog_id: Option<String>,
    /// `s3://bucket/prefix`: databases without a location put their tables under it.
    pub(super) warehouse: String,
    file_io: FileIO,
    runtime: Runtime,
}

impl std::fmt::Debug for GlueCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlueCatalog").field("catalog_id", &self.catalog_id).field("warehouse", &self.warehouse).finish()
    }
}

/// A Glue table entry as floe needs it: where the current metadata is and which version of the
/// entry that was read from (the token of the compare-and-swap).
struct Entry {
    metadata_location: String,
    version_id: Option<String>,
}

impl GlueCatalog {
    pub fn new(
        client: aws_sdk_glue::Client,
        catalog_id: Option<String>,
        warehouse: String,
        file_io: FileIO,
        runtime: Runtime,
    ) -> Self {
        Self { client, catalog_id, warehouse: warehouse.trim_end_matches('/').to_string(), file_io, runtime }
    }

    pub(super) fn database_name(namespace: &NamespaceIdent) -> Result<&str> {
        match namespace.as_ref().as_slice() {
            [name] => Ok(name.as_str()),
            _ => Err(Error::new(
                ErrorKind::DataInvalid,
                format!("Glue databases are one level deep; namespace {namespace:?} has {} levels", namespace.len()),
            )),
        }
    }

    async fn entry(&self, ident: &TableIdent) -> Result<Entry> {
        let db = Self::database_name(ident.namespace())?;
        let out = self
            .client
            .get_table()
            .set_catalog_id(self.catalog_id.clone())
            .database_name(db)
            .name(ident.name())
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(GetTableError::EntityNotFoundException(_)) => {
                    Error::new(ErrorKind::TableNotFound, format!("Glue has no table {ident}"))
                }
                _ => sdk_error("GetTable", e),
            })?;
        let table = out.table().ok_or_else(|| {
            Error::new(ErrorKind::Unexpected, format!("Glue GetTable {ident}: no table in the answer"))
        })?;
        let params = table.parameters();
        let is_iceberg = params.and_then(|p| p.get(TABLE_TYPE_PROP)).is_some_and(|t| t.eq_ignore_ascii_case("iceberg"));
        let metadata_location =
            params.and_then(|p| p.get(METADATA_LOCATION_PROP)).filter(|_| is_iceberg).ok_or_else(|| {
                Error::new(
                    ErrorKind::DataInvalid,
                    format!(
                        "Glue table {ident} is not an Iceberg table (no table_type=ICEBERG with a metadata_location)"
                    ),
                )
            })?;
        Ok(Entry { metadata_location: metadata_location.clone(), version_id: table.version_id().map(str::to_string) })
    }

    fn table(&self, ident: TableIdent, location: String, metadata: TableMetadata) -> Result<Table> {
        Table::builder()
            .file_io(self.file_io.clone())
            .metadata_location(location)
            .identifier(ident)
            .metadata(metadata)
            .runtime(self.runtime.clone())
            .build()
    }

    /// Create the Glue entry of a table whose metadata file is written.
    async fn register(&self, ident: TableIdent, metadata_location: String, metadata: TableMetadata) -> Result<Table> {
        let db = Self::database_name(ident.namespace())?;
        self.client
            .create_table()
            .set_catalog_id(self.catalog_id.clone())
            .database_name(db)
            .table_input(table_input(ident.name(), &metadata, &metadata_location, None)?)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(CreateTableError::AlreadyExistsException(_)) => {
                    Error::new(ErrorKind::TableAlreadyExists, format!("Glue table {ident} already exists"))
                }
                _ => sdk_error("CreateTable", e),
            })?;
        self.table(ident, metadata_location, metadata)
    }

    /// Point the Glue entry of `ident` at `new_location` (whose metadata is `metadata`) if and
    /// only if it still points at `expected`: `Ok(false)` when it moved. The entry's `VersionId`
    /// makes the check and the swap one atomic step on Glue's side.
    pub async fn swap_metadata_pointer(
        &self,
        ident: &TableIdent,
        expected: &str,
        new_location: &str,
        metadata: &TableMetadata,
    ) -> Result<bool> {
        let entry = self.entry(ident).await?;
        if entry.metadata_location != expected {
            return Ok(false);
        }
        self.swap_entry(ident, &entry, new_location, metadata).await
    }

    /// `UpdateTable` with the entry's `VersionId`: `Ok(false)` when someone updated it since.
    async fn swap_entry(
        &self,
        ident: &TableIdent,
        entry: &Entry,
        location: &str,
        metadata: &TableMetadata,
    ) -> Result<bool> {
        let db = Self::database_name(ident.namespace())?;
        let input = table_input(ident.name(), metadata, location, Some(&entry.metadata_location))?;
        let sent = self
            .client
            .update_table()
            .set_catalog_id(self.catalog_id.clone())
            .database_name(db)
            .table_input(input)
            .set_version_id(entry.version_id.clone())
            // Iceberg keeps its own history in metadata files; Glue's per-update table versions
            // would only pile up against the account's version quota.
            .skip_archive(true)
            .send()
            .await;
        match sent {
            Ok(_) => {
                crate::crashpoint::hit(crate::crashpoint::GLUE_AFTER_UPDATE_TABLE);
                Ok(true)
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateTableError::ConcurrentModificationException(_)) => Ok(false),
                Some(UpdateTableError::EntityNotFoundException(_)) => Err(Error::new(
                    ErrorKind::TableNotFound,
                    format!("Glue table {ident} was dropped during the commit"),
                )),
                _ => Err(sdk_error("UpdateTable", e)),
            },
        }
    }

    async fn database_location(&self, db: &str) -> Result<String> {
        let ns = self.get_namespace(&NamespaceIdent::new(db.to_string())).await?;
        Ok(match ns.properties().get(LOCATION_PROP) {
            Some(l) => l.trim_end_matches('/').to_string(),
            None => format!("{}/{db}.db", self.warehouse),
        })
    }
}

/// An SDK failure as an iceberg error, classified while the SDK error is still typed: no
/// answer, a 5xx or throttling is retryable (the daemon waits it out); any other refusal (access
/// denied, invalid input) is not, so a misconfiguration stops floe with the service's message.
pub(super) fn sdk_error<E>(op: &str, e: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (retryable, detail) =
        crate::aws::sdk_failure(&e, &["ThrottlingException", "InternalServiceException", "OperationTimeoutException"]);
    let kind = if retryable { ErrorKind::Unexpected } else { ErrorKind::DataInvalid };
    Error::new(kind, format!("Glue {op}: {detail}")).with_retryable(retryable).with_source(e)
}

#[async_trait]
impl Catalog for GlueCatalog {
    async fn list_namespaces(&self, parent: Option<&NamespaceIdent>) -> Result<Vec<NamespaceIdent>> {
        self.glue_databases(parent).await
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        self.glue_create_database(namespace, properties).await
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        self.glue_get_database(namespace).await
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        match self.get_namespace(namespace).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NamespaceNotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn update_namespace(&self, namespace: &NamespaceIdent, properties: HashMap<String, String>) -> Result<()> {
        self.glue_update_database(namespace, properties).await
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        let db = Self::database_name(namespace)?;
        if !self.list_tables(namespace).await?.is_empty() {
            return Err(Error::new(
                ErrorKind::PreconditionFailed,
                format!("Glue database {db} still has Iceberg tables"),
            ));
        }
        self.client
            .delete_database()
            .set_catalog_id(self.catalog_id.clone())
            .name(db)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteDatabase", e))?;
        Ok(())
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        let db = Self::database_name(namespace)?;
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .get_tables()
                .set_catalog_id(self.catalog_id.clone())
                .database_name(db)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| sdk_error("GetTables", e))?;
            out.extend(
                page.table_list()
                    .iter()
                    .filter(|t| {
                        t.parameters()
                            .and_then(|p| p.get(TABLE_TYPE_PROP))
                            .is_some_and(|v| v.eq_ignore_ascii_case("iceberg"))
                    })
                    .map(|t| TableIdent::new(namespace.clone(), t.name().to_string())),
            );
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    async fn create_table(&self, namespace: &NamespaceIdent, creation: TableCreation) -> Result<Table> {
        let db = Self::database_name(namespace)?;
        let ident = TableIdent::new(namespace.clone(), creation.name.clone());
        let location = match &creation.location {
            Some(l) => l.trim_end_matches('/').to_string(),
            None => format!("{}/{}", self.database_location(db).await?, creation.name),
        };
        let creation = TableCreation { location: Some(location.clone()), ..creation };
        let metadata = TableMetadataBuilder::from_table_creation(creation)?.build()?.metadata;
        let metadata_location = MetadataLocation::new_with_metadata(location, &metadata);
        metadata.write_to(&self.file_io, &metadata_location).await?;
        self.register(ident, metadata_location.to_string(), metadata).await
    }

    async fn load_table(&self, ident: &TableIdent) -> Result<Table> {
        let entry = self.entry(ident).await?;
        let metadata = TableMetadata::read_from(&self.file_io, &entry.metadata_location).await?;
        self.table(ident.clone(), entry.metadata_location, metadata)
    }

    async fn drop_table(&self, ident: &TableIdent) -> Result<()> {
        let db = Self::database_name(ident.namespace())?;
        self.client
            .delete_table()
            .set_catalog_id(self.catalog_id.clone())
            .database_name(db)
            .name(ident.name())
            .send()
            .await
            .map_err(|e| sdk_error("DeleteTable", e))?;
        Ok(())
    }

    async fn purge_table(&self, ident: &TableIdent) -> Result<()> {
        let table = self.load_table(ident).await?;
        self.drop_table(ident).await?;
        iceberg::drop_table_data(&table).await
    }

    async fn table_exists(&self, ident: &TableIdent) -> Result<bool> {
        match self.entry(ident).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::TableNotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> Result<()> {
        Err(Error::new(
            ErrorKind::FeatureUnsupported,
            format!("Glue cannot rename tables ({src} → {dest}): create the new table and register its metadata"),
        ))
    }

    async fn register_table(&self, ident: &TableIdent, metadata_location: String) -> Result<Table> {
        let metadata = TableMetadata::read_from(&self.file_io, &metadata_location).await?;
        self.register(ident.clone(), metadata_location, metadata).await
    }

    async fn update_table(&self, commit: TableCommit) -> Result<Table> {
        let ident = commit.identifier().clone();
        let entry = self.entry(&ident).await?;
        let metadata = TableMetadata::read_from(&self.file_io, &entry.metadata_location).await?;
        let current = self.table(ident.clone(), entry.metadata_location.clone(), metadata)?;
        // Requirements are checked against the metadata of the entry version we hold; the
        // VersionId in the swap makes check-and-swap one atomic step on Glue's side.
        let staged = commit.apply(current)?;
        let staged_location = MetadataLocation::from_str(staged.metadata_location_result()?)?;
        staged.metadata().write_to(staged.file_io(), &staged_location).await?;
        match self.swap_entry(&ident, &entry, &staged_location.to_string(), staged.metadata()).await? {
            true => Ok(staged),
            false => Err(Error::new(
                ErrorKind::CatalogCommitConflicts,
                format!("Glue table {ident} changed since version {:?} was read", entry.version_id),
            )
            .with_retryable(true)),
        }
    }
}
