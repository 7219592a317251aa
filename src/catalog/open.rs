//! Opening the catalog: the only place the catalog properties map is built.
//!
//! - `sql` (embedded default): Iceberg's SQL catalog on SQLite with a local-directory warehouse —
//!   the same catalog layout pyiceberg's `SqlCatalog` reads (the catalog name must match).
//! - `glue`: our Glue catalog (catalog/glue.rs) with the warehouse on S3.
//! - `rest`: any Iceberg REST catalog (iceberg-catalog-rest); the server places tables and may
//!   hand out storage settings, merged over ours.
//!
//! Glue (and a SQL catalog whose warehouse is not local) get a FileIO that resolves `file://` and
//! `s3://` paths. S3 is reached at the configured region/endpoint with credentials from the
//! standard AWS chain (opendal's loader: environment, profile, web identity, ECS, IMDS).

use std::collections::HashMap;
use std::sync::Arc;

use super::read_retry::ReadRetry;
use super::rest_commit::RestEndpoint;
use aws_config::SdkConfig;
use iceberg::io::{FileIOBuilder, LocalFsStorageFactory, S3_ENDPOINT, S3_PATH_STYLE_ACCESS, S3_REGION, StorageFactory};
use iceberg::{CatalogBuilder, Runtime};
use iceberg_catalog_rest::{REST_CATALOG_PROP_URI, REST_CATALOG_PROP_WAREHOUSE, RestCatalogBuilder};
use iceberg_catalog_sql::{
    SQL_CATALOG_PROP_BIND_STYLE, SQL_CATALOG_PROP_URI, SQL_CATALOG_PROP_WAREHOUSE, SqlBindStyle, SqlCatalogBuilder,
};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;

use super::glue::GlueCatalog;
use super::handle::FloeCatalog;
use crate::aws::S3Settings;
use crate::config::{CatalogConfig, CatalogKind};
use crate::error::{Error, Result};

/// The catalog `catalog.type` names, as floe's handle (Iceberg's API plus the pointer swap).
pub async fn open_catalog(cfg: &CatalogConfig, sdk: Option<&SdkConfig>) -> Result<FloeCatalog> {
    let mut props = s3_props(&S3Settings::resolve(&cfg.aws, sdk));
    match cfg.kind {
        CatalogKind::Sql => {
            // SQLite creates the database file but not its directory; the warehouse directory likewise.
            if let Some(path) = cfg.uri.strip_prefix("sqlite:") {
                let path = path.split('?').next().unwrap_or(path);
                if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                }
            }
            if let Some(dir) = cfg.warehouse.strip_prefix("file://") {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            props.extend([
                (SQL_CATALOG_PROP_URI.to_string(), cfg.uri.clone()),
                (SQL_CATALOG_PROP_WAREHOUSE.to_string(), cfg.warehouse.clone()),
                (SQL_CATALOG_PROP_BIND_STYLE.to_string(), SqlBindStyle::QMark.to_string()),
            ]);
            // A local warehouse keeps iceberg's own filesystem storage (the embedded default's
            // measured path); anything else resolves by scheme.
            let storage: Arc<dyn StorageFactory> = if cfg.warehouse.starts_with("file://") {
                Arc::new(LocalFsStorageFactory)
            } else {
                Arc::new(OpenDalResolvingStorageFactory::new())
            };
            let catalog = SqlCatalogBuilder::default().with_storage_factory(storage).load(&cfg.name, props).await?;
            FloeCatalog::sql(Arc::new(catalog), &cfg.uri, &cfg.name)
        }
        CatalogKind::Rest => {
            props.insert(REST_CATALOG_PROP_URI.to_string(), cfg.uri.clone());
            if !cfg.warehouse.is_empty() {
                props.insert(REST_CATALOG_PROP_WAREHOUSE.to_string(), cfg.warehouse.clone());
            }
            if let Some(token) = &cfg.token {
                props.insert("token".to_string(), token.clone());
            }
            let catalog = RestCatalogBuilder::default()
                .with_storage_factory(Arc::new(OpenDalResolvingStorageFactory::new()))
                .load(&cfg.name, props)
                .await?;
            let warehouse = (!cfg.warehouse.is_empty()).then(|| cfg.warehouse.clone());
            let endpoint = RestEndpoint::new(&cfg.uri, warehouse, cfg.token.clone());
            Ok(FloeCatalog::rest(Arc::new(ReadRetry::new(Arc::new(catalog))), endpoint))
        }
        CatalogKind::Glue => {
            let sdk = sdk.ok_or_else(|| Error::invalid("catalog.type = \"glue\" needs the AWS SDK configuration"))?;
            let file_io = FileIOBuilder::new(Arc::new(OpenDalResolvingStorageFactory::new())).with_props(props).build();
            let runtime = Runtime::try_current()?;
            let catalog = GlueCatalog::new(
                aws_sdk_glue::Client::new(sdk),
                cfg.catalog_id.clone(),
                cfg.warehouse.clone(),
                file_io,
                runtime,
            );
            Ok(FloeCatalog::glue(Arc::new(catalog)))
        }
    }
}

/// FileIO properties for S3 (ignored by the local filesystem).
fn s3_props(s3: &S3Settings) -> HashMap<String, String> {
    let mut props = HashMap::from([(S3_PATH_STYLE_ACCESS.to_string(), s3.path_style.to_string())]);
    if let Some(region) = &s3.region {
        props.insert(S3_REGION.to_string(), region.clone());
    }
    if let Some(endpoint) = &s3.endpoint {
        props.insert(S3_ENDPOINT.to_string(), endpoint.clone());
    }
    props
}
