//! One file per subcommand. `run` is the composition root that wires the stages together.

pub mod check;
pub mod generate;
pub mod init;
pub mod query;
pub mod run;
pub mod status;

use std::sync::Arc;

use iceberg::Catalog;

use crate::catalog::open::open_catalog;
use crate::catalog::setup::{ManagedTable, SetupReport, ensure_tables};
use crate::catalog::tables::load_defs;
use crate::config::Config;
use crate::error::Result;

/// Open the catalog and make sure every table exists (shared by run, init, query, status).
pub async fn open_tables(cfg: &Config) -> Result<(Arc<dyn Catalog>, Vec<ManagedTable>, SetupReport)> {
    let catalog = open_catalog(&cfg.catalog).await?;
    let defs = load_defs(cfg.silver.tables_dir.as_deref())?;
    let (tables, report) = ensure_tables(&catalog, &cfg.catalog.namespace, &defs).await?;
    Ok((catalog, tables, report))
}
