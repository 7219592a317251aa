//! Opening what the configuration names, shared by the subcommands: the AWS SDK configuration
//! (once per process) and the catalog with floe's tables.

use aws_config::SdkConfig;

use crate::catalog::FloeCatalog;
use crate::catalog::open::open_catalog;
use crate::catalog::setup::{ManagedTable, SetupReport, ensure_tables};
use crate::catalog::tables::load_defs_named;
use crate::config::{CatalogKind, CheckpointKind, Config, SourceKind};
use crate::error::Result;

/// Open the catalog and make sure every table exists (shared by run, init, query, status).
pub async fn open_tables(cfg: &Config) -> Result<(FloeCatalog, Vec<ManagedTable>, SetupReport)> {
    let sdk = sdk_config(cfg).await;
    open_tables_with(cfg, sdk.as_ref()).await
}

/// [`open_tables`] with the process's AWS SDK configuration.
pub async fn open_tables_with(
    cfg: &Config,
    sdk: Option<&SdkConfig>,
) -> Result<(FloeCatalog, Vec<ManagedTable>, SetupReport)> {
    let catalog = open_catalog(&cfg.catalog, sdk).await?;
    let defs = load_defs_named(cfg.silver.tables_dir.as_deref(), cfg.silver.tables.as_deref())?;
    let (tables, report) = ensure_tables(&catalog, &cfg.catalog.namespace, &defs).await?;
    Ok((catalog, tables, report))
}

/// The AWS SDK configuration, loaded once for every AWS client of this process — `None` when
/// nothing configured uses the SDK (the embedded default).
pub async fn sdk_config(cfg: &Config) -> Option<SdkConfig> {
    let needed = cfg.source.kind == SourceKind::Kinesis
        || matches!(cfg.checkpoint, CheckpointKind::DynamoDb(_))
        || cfg.catalog.kind == CatalogKind::Glue
        || cfg.bronze.location.starts_with("s3://")
        || cfg.catalog.warehouse.starts_with("s3://");
    match needed {
        true => Some(crate::aws::sdk_config(&cfg.aws).await),
        false => None,
    }
}
