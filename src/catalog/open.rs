//! Opening the catalog: the only place the catalog properties map is built.
//! The embedded default is Iceberg's SQL catalog on SQLite with a local-directory warehouse —
//! the same catalog layout pyiceberg's `SqlCatalog` reads (the catalog name must match).

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::io::LocalFsStorageFactory;
use iceberg::{Catalog, CatalogBuilder};
use iceberg_catalog_sql::{
    SQL_CATALOG_PROP_BIND_STYLE, SQL_CATALOG_PROP_URI, SQL_CATALOG_PROP_WAREHOUSE, SqlBindStyle, SqlCatalogBuilder,
};

use crate::config::CatalogConfig;
use crate::error::{Error, Result};

pub async fn open_catalog(cfg: &CatalogConfig) -> Result<Arc<dyn Catalog>> {
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
    let props = HashMap::from([
        (SQL_CATALOG_PROP_URI.to_string(), cfg.uri.clone()),
        (SQL_CATALOG_PROP_WAREHOUSE.to_string(), cfg.warehouse.clone()),
        (SQL_CATALOG_PROP_BIND_STYLE.to_string(), SqlBindStyle::QMark.to_string()),
    ]);
    let catalog = SqlCatalogBuilder::default()
        .with_storage_factory(Arc::new(LocalFsStorageFactory))
        .load(&cfg.name, props)
        .await?;
    Ok(Arc::new(catalog))
}
