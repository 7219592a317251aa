//! `[catalog]`: which Iceberg catalog holds the tables, and where their files live.

use std::path::Path;

use serde::Deserialize;

use super::aws::AwsSettings;
use super::values::{Origin, config_enum, file_url};
use crate::error::Result;

config_enum! {
    /// Which catalog (`catalog.type`).
    pub enum CatalogKind {
        /// Iceberg's SQL catalog on SQLite: the embedded default.
        Sql = "sql",
        /// The AWS Glue Data Catalog (our own `iceberg::Catalog`, catalog/glue.rs).
        Glue = "glue",
        /// Any Iceberg REST catalog (iceberg-catalog-rest), at `catalog.uri`.
        Rest = "rest",
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCatalog {
    r#type: Option<CatalogKind>,
    name: Option<String>,
    namespace: Option<String>,
    uri: Option<String>,
    warehouse: Option<String>,
    catalog_id: Option<String>,
    token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CatalogConfig {
    pub kind: CatalogKind,
    pub name: String,
    pub namespace: String,
    /// The SQL catalog's database URL (`sqlite:…`) or the REST catalog's endpoint; unused by Glue.
    pub uri: String,
    /// Where table data and metadata go: `file://…` (SQL catalog) or `s3://bucket/prefix`; for
    /// REST, the warehouse the server should use (empty: the server's default).
    pub warehouse: String,
    /// Glue: the AWS account id owning the catalog, when it is not the caller's.
    pub catalog_id: Option<String>,
    /// REST: the bearer token sent with every request (prefer `FLOE_CATALOG_TOKEN` to a file).
    pub token: Option<String>,
    pub aws: AwsSettings,
}

impl RawCatalog {
    pub(super) fn validate(self, v: &Origin, warehouse: &Path, aws: &AwsSettings) -> Result<CatalogConfig> {
        let raw = self;
        let kind = raw.r#type.unwrap_or(CatalogKind::Sql);
        let namespace = raw.namespace.unwrap_or_else(|| "floe".to_string());
        let catalog_warehouse = match (kind, raw.warehouse) {
            (_, Some(w)) => w,
            (CatalogKind::Sql, None) => file_url(&warehouse.join("warehouse")),
            (CatalogKind::Rest, None) => String::new(),
            (CatalogKind::Glue, None) => {
                return Err(v.err("catalog.warehouse", "catalog.type = \"glue\" needs an s3:// warehouse location"));
            }
        };
        match kind {
            CatalogKind::Sql
                if !(catalog_warehouse.starts_with("file://") || catalog_warehouse.starts_with("s3://")) =>
            {
                return Err(
                    v.err("catalog.warehouse", format!("expected a file:// or s3:// URL, got {catalog_warehouse:?}"))
                );
            }
            CatalogKind::Glue if !catalog_warehouse.starts_with("s3://") => {
                return Err(v.err(
                    "catalog.warehouse",
                    format!("Glue tables live on S3: expected s3://bucket/prefix, got {catalog_warehouse:?}"),
                ));
            }
            _ => {}
        }
        if kind == CatalogKind::Glue {
            // Glue database names: lower case letters, digits and underscores (what Athena accepts).
            if namespace.is_empty()
                || !namespace.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(v.err(
                    "catalog.namespace",
                    format!("a Glue database name is lower-case letters, digits and _, got {namespace:?}"),
                ));
            }
            if raw.uri.is_some() {
                return Err(v.err(
                    "catalog.uri",
                    "only used by catalog.type = \"sql\"; Glue is reached through aws.endpoint / AWS_ENDPOINT_URL",
                ));
            }
        }
        if kind == CatalogKind::Rest && raw.uri.is_none() {
            return Err(v.err("catalog.uri", "catalog.type = \"rest\" needs the catalog's http(s):// endpoint"));
        }
        if kind != CatalogKind::Rest && raw.token.is_some() {
            return Err(v.err("catalog.token", "only used by catalog.type = \"rest\""));
        }
        let catalog = CatalogConfig {
            kind,
            name: raw.name.unwrap_or_else(|| "floe".to_string()),
            namespace,
            uri: raw.uri.unwrap_or_else(|| format!("sqlite:{}?mode=rwc", warehouse.join("catalog.db").display())),
            warehouse: catalog_warehouse,
            catalog_id: raw.catalog_id.filter(|s| !s.is_empty()),
            token: raw.token.filter(|s| !s.is_empty()),
            aws: aws.clone(),
        };
        if kind == CatalogKind::Sql && !catalog.uri.starts_with("sqlite:") {
            return Err(v.err("catalog.uri", format!("expected a sqlite: URL, got {:?}", catalog.uri)));
        }
        if kind == CatalogKind::Rest && !(catalog.uri.starts_with("http://") || catalog.uri.starts_with("https://")) {
            return Err(
                v.err("catalog.uri", format!("expected the REST catalog's http(s):// URL, got {:?}", catalog.uri))
            );
        }
        Ok(catalog)
    }
}
