//! One file per subcommand. `run` is the composition root that wires the stages together;
//! `present` is what `run` shows a person.

pub mod check;
pub mod generate;
pub mod init;
pub mod present;
pub mod query;
pub mod run;
pub mod status;

use aws_config::SdkConfig;

use crate::catalog::FloeCatalog;
use crate::catalog::open::open_catalog;
use crate::catalog::setup::{ManagedTable, SetupReport, ensure_tables};
use crate::catalog::tables::load_defs;
use crate::config::Config;
use crate::error::Result;

/// Open the catalog and make sure every table exists (shared by run, init, query, status).
pub async fn open_tables(cfg: &Config) -> Result<(FloeCatalog, Vec<ManagedTable>, SetupReport)> {
    let sdk = run::sdk_config(cfg).await;
    open_tables_with(cfg, sdk.as_ref()).await
}

/// [`open_tables`] with the process's AWS SDK configuration.
pub async fn open_tables_with(
    cfg: &Config,
    sdk: Option<&SdkConfig>,
) -> Result<(FloeCatalog, Vec<ManagedTable>, SetupReport)> {
    let catalog = open_catalog(&cfg.catalog, sdk).await?;
    let defs = load_defs(cfg.silver.tables_dir.as_deref())?;
    let (tables, report) = ensure_tables(&catalog, &cfg.catalog.namespace, &defs).await?;
    Ok((catalog, tables, report))
}
