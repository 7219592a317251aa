//! An `iceberg::Catalog` over the AWS Glue Data Catalog, written against `aws-sdk-glue`.
//!
//! Why our own: the published `iceberg-catalog-glue` 0.10.1 refuses `timestamptz` columns on
//! create and on every commit, and floe's commits need Glue's `UpdateTable`-with-`VersionId`
//! compare-and-swap (DESIGN.md §6, docs/adr/0005).
//!
//! The Glue entry of a table is what Athena, Trino, Spark and pyiceberg expect of an Iceberg table
//! registered by Iceberg's own Java catalog: `table_type = ICEBERG`, `metadata_location`,
//! `previous_metadata_location`, the table location, and the current schema's columns mirrored
//! into the storage descriptor with Hive types (so Athena's schema view and crawlers agree).
//!
//! Commits: `update_table` reads the entry (metadata location + `VersionId`), applies the
//! commit's requirements and updates to the metadata it points at, writes the new metadata file,
//! then calls `UpdateTable` with that `VersionId`. If anyone committed in between, Glue refuses
//! with `ConcurrentModificationException`, surfaced as a retryable `CatalogCommitConflicts`.

use std::collections::HashMap;
use std::str::FromStr;

use async_trait::async_trait;
use aws_sdk_glue::config::http::HttpResponse;
use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_glue::operation::create_database::CreateDatabaseError;
use aws_sdk_glue::operation::create_table::CreateTableError;
use aws_sdk_glue::operation::get_database::GetDatabaseError;
use aws_sdk_glue::operation::get_table::GetTableError;
use aws_sdk_glue::operation::update_table::UpdateTableError;
use aws_sdk_glue::types::{Column, DatabaseInput, StorageDescriptor, TableInput};
use iceberg::io::FileIO;
use iceberg::spec::{NestedField, PrimitiveType, TableMetadata, TableMetadataBuilder, Type};
use iceberg::table::Table;
use iceberg::{
    Catalog, Error, ErrorKind, MetadataLocation, Namespace, NamespaceIdent, Result, Runtime, TableCommit,
    TableCreation, TableIdent,
};

/// Glue table parameter naming the table format (Athena and Trino look for `ICEBERG`).
pub const TABLE_TYPE_PROP: &str = "table_type";
pub const METADATA_LOCATION_PROP: &str = "metadata_location";
pub const PREVIOUS_METADATA_LOCATION_PROP: &str = "previous_metadata_location";
/// Namespace property carrying the database location (Iceberg's convention).
const LOCATION_PROP: &str = "location";
const COMMENT_PROP: &str = "comment";

pub struct GlueCatalog {
    client: aws_sdk_glue::Client,
    /// The account owning the catalog, when it is not the caller's.
    catalog_id: Option<String>,
    /// `s3://bucket/prefix`: databases without a location put their tables under it.
    warehouse: String,
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

    fn database_name(namespace: &NamespaceIdent) -> Result<&str> {
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

    async fn database_location(&self, db: &str) -> Result<String> {
        let ns = self.get_namespace(&NamespaceIdent::new(db.to_string())).await?;
        Ok(match ns.properties().get(LOCATION_PROP) {
            Some(l) => l.trim_end_matches('/').to_string(),
            None => format!("{}/{db}.db", self.warehouse),
        })
    }
}

/// The Glue `TableInput` of an Iceberg table: parameters Athena/Trino read, location, columns.
fn table_input(name: &str, metadata: &TableMetadata, location: &str, previous: Option<&str>) -> Result<TableInput> {
    let mut input = TableInput::builder()
        .name(name)
        .table_type("EXTERNAL_TABLE")
        .parameters(TABLE_TYPE_PROP, "ICEBERG")
        .parameters(METADATA_LOCATION_PROP, location)
        .storage_descriptor(storage_descriptor(metadata)?);
    if let Some(previous) = previous {
        input = input.parameters(PREVIOUS_METADATA_LOCATION_PROP, previous);
    }
    if let Some(comment) = metadata.properties().get(COMMENT_PROP) {
        input = input.description(comment);
    }
    input.build().map_err(|e| Error::new(ErrorKind::DataInvalid, format!("Glue table input for {name}: {e}")))
}

fn storage_descriptor(metadata: &TableMetadata) -> Result<StorageDescriptor> {
    let columns =
        metadata.current_schema().as_struct().fields().iter().map(|f| glue_column(f)).collect::<Result<Vec<_>>>()?;
    Ok(StorageDescriptor::builder().location(metadata.location()).set_columns(Some(columns)).build())
}

/// One storage-descriptor column, with the field id and optionality Iceberg's Java catalog records.
fn glue_column(field: &NestedField) -> Result<Column> {
    let mut col = Column::builder()
        .name(&field.name)
        .r#type(hive_type(&field.field_type))
        .parameters("iceberg.field.id", field.id.to_string())
        .parameters("iceberg.field.optional", (!field.required).to_string())
        .parameters("iceberg.field.current", "true");
    if let Some(doc) = &field.doc {
        col = col.comment(doc);
    }
    col.build().map_err(|e| Error::new(ErrorKind::DataInvalid, format!("Glue column {}: {e}", field.name)))
}

/// The Hive type name Glue, Athena and crawlers use for an Iceberg type.
pub fn hive_type(t: &Type) -> String {
    match t {
        Type::Primitive(p) => match p {
            PrimitiveType::Boolean => "boolean".into(),
            PrimitiveType::Int => "int".into(),
            PrimitiveType::Long => "bigint".into(),
            PrimitiveType::Float => "float".into(),
            PrimitiveType::Double => "double".into(),
            PrimitiveType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            PrimitiveType::Date => "date".into(),
            PrimitiveType::Timestamp
            | PrimitiveType::Timestamptz
            | PrimitiveType::TimestampNs
            | PrimitiveType::TimestamptzNs => "timestamp".into(),
            PrimitiveType::Time | PrimitiveType::String | PrimitiveType::Uuid => "string".into(),
            PrimitiveType::Fixed(_) | PrimitiveType::Binary => "binary".into(),
        },
        Type::Struct(s) => {
            let fields: Vec<String> =
                s.fields().iter().map(|f| format!("{}:{}", f.name, hive_type(&f.field_type))).collect();
            format!("struct<{}>", fields.join(","))
        }
        Type::List(l) => format!("array<{}>", hive_type(&l.element_field.field_type)),
        Type::Map(m) => format!("map<{},{}>", hive_type(&m.key_field.field_type), hive_type(&m.value_field.field_type)),
    }
}

/// An SDK failure as an iceberg error, classified while the SDK error is still typed: no
/// answer, a 5xx or throttling is retryable (the daemon waits it out); any other refusal (access
/// denied, invalid input) is not, so a misconfiguration stops floe with the service's message.
fn sdk_error<E>(op: &str, e: SdkError<E, HttpResponse>) -> Error
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
        if parent.is_some() {
            return Ok(Vec::new()); // Glue databases do not nest
        }
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .get_databases()
                .set_catalog_id(self.catalog_id.clone())
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| sdk_error("GetDatabases", e))?;
            out.extend(page.database_list().iter().map(|d| NamespaceIdent::new(d.name().to_string())));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        let db = Self::database_name(namespace)?;
        let location = properties.get(LOCATION_PROP).cloned().unwrap_or_else(|| format!("{}/{db}.db", self.warehouse));
        let mut input = DatabaseInput::builder().name(db).location_uri(&location);
        for (k, v) in &properties {
            match k.as_str() {
                LOCATION_PROP => {}
                COMMENT_PROP => input = input.description(v),
                _ => input = input.parameters(k, v),
            }
        }
        let input =
            input.build().map_err(|e| Error::new(ErrorKind::DataInvalid, format!("Glue database {db}: {e}")))?;
        self.client
            .create_database()
            .set_catalog_id(self.catalog_id.clone())
            .database_input(input)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(CreateDatabaseError::AlreadyExistsException(_)) => {
                    Error::new(ErrorKind::NamespaceAlreadyExists, format!("Glue database {db} already exists"))
                }
                _ => sdk_error("CreateDatabase", e),
            })?;
        let mut props = properties;
        props.insert(LOCATION_PROP.to_string(), location);
        Ok(Namespace::with_properties(namespace.clone(), props))
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        let db = Self::database_name(namespace)?;
        let out =
            self.client.get_database().set_catalog_id(self.catalog_id.clone()).name(db).send().await.map_err(|e| {
                match e.as_service_error() {
                    Some(GetDatabaseError::EntityNotFoundException(_)) => {
                        Error::new(ErrorKind::NamespaceNotFound, format!("Glue has no database {db}"))
                    }
                    _ => sdk_error("GetDatabase", e),
                }
            })?;
        let database = out.database().ok_or_else(|| {
            Error::new(ErrorKind::Unexpected, format!("Glue GetDatabase {db}: no database in the answer"))
        })?;
        let mut props: HashMap<String, String> = database.parameters().cloned().unwrap_or_default();
        if let Some(l) = database.location_uri() {
            props.insert(LOCATION_PROP.to_string(), l.to_string());
        }
        if let Some(d) = database.description() {
            props.insert(COMMENT_PROP.to_string(), d.to_string());
        }
        Ok(Namespace::with_properties(namespace.clone(), props))
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        match self.get_namespace(namespace).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NamespaceNotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn update_namespace(&self, namespace: &NamespaceIdent, properties: HashMap<String, String>) -> Result<()> {
        let db = Self::database_name(namespace)?;
        let mut input = DatabaseInput::builder().name(db);
        for (k, v) in &properties {
            match k.as_str() {
                LOCATION_PROP => input = input.location_uri(v),
                COMMENT_PROP => input = input.description(v),
                _ => input = input.parameters(k, v),
            }
        }
        let input =
            input.build().map_err(|e| Error::new(ErrorKind::DataInvalid, format!("Glue database {db}: {e}")))?;
        self.client
            .update_database()
            .set_catalog_id(self.catalog_id.clone())
            .name(db)
            .database_input(input)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateDatabase", e))?;
        Ok(())
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
        let db = Self::database_name(ident.namespace())?.to_string();
        let entry = self.entry(&ident).await?;
        let metadata = TableMetadata::read_from(&self.file_io, &entry.metadata_location).await?;
        let current = self.table(ident.clone(), entry.metadata_location.clone(), metadata)?;
        // Requirements are checked against the metadata of the entry version we hold; the
        // VersionId below makes check-and-swap one atomic step on Glue's side.
        let staged = commit.apply(current)?;
        let staged_location = MetadataLocation::from_str(staged.metadata_location_result()?)?;
        staged.metadata().write_to(staged.file_io(), &staged_location).await?;
        let staged_location = staged_location.to_string();
        let input = table_input(ident.name(), staged.metadata(), &staged_location, Some(&entry.metadata_location))?;
        self.client
            .update_table()
            .set_catalog_id(self.catalog_id.clone())
            .database_name(&db)
            .table_input(input)
            .set_version_id(entry.version_id.clone())
            // Iceberg keeps its own history in metadata files; Glue's per-update table versions
            // would only pile up against the account's version quota.
            .skip_archive(true)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(UpdateTableError::ConcurrentModificationException(_)) => Error::new(
                    ErrorKind::CatalogCommitConflicts,
                    format!("Glue table {ident} changed since version {:?} was read", entry.version_id),
                )
                .with_retryable(true),
                Some(UpdateTableError::EntityNotFoundException(_)) => {
                    Error::new(ErrorKind::TableNotFound, format!("Glue table {ident} was dropped during the commit"))
                }
                _ => sdk_error("UpdateTable", e),
            })?;
        Ok(staged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::spec::{ListType, MapType, StructType};

    #[test]
    fn hive_types_match_what_athena_reads() {
        let p = |t| Type::Primitive(t);
        assert_eq!(hive_type(&p(PrimitiveType::Timestamptz)), "timestamp");
        assert_eq!(hive_type(&p(PrimitiveType::Long)), "bigint");
        assert_eq!(hive_type(&p(PrimitiveType::Decimal { precision: 10, scale: 2 })), "decimal(10,2)");
        assert_eq!(hive_type(&p(PrimitiveType::Uuid)), "string");
        let inner = StructType::new(vec![
            NestedField::required(3, "a", p(PrimitiveType::Int)).into(),
            NestedField::optional(4, "b", p(PrimitiveType::String)).into(),
        ]);
        let list = Type::List(ListType::new(NestedField::list_element(5, Type::Struct(inner), true).into()));
        assert_eq!(hive_type(&list), "array<struct<a:int,b:string>>");
        let map = Type::Map(MapType::new(
            NestedField::map_key_element(6, p(PrimitiveType::String)).into(),
            NestedField::map_value_element(7, p(PrimitiveType::Double), false).into(),
        ));
        assert_eq!(hive_type(&map), "map<string,double>");
    }
}
