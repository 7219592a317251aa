//! `floe init`: create the namespace and missing tables; evolve tables with new optional columns.

use crate::config::{CatalogKind, Config};
use crate::error::Result;

pub async fn init(cfg: &Config) -> Result<()> {
    let (_, _, report) = super::open_tables(cfg).await?;
    match cfg.catalog.kind {
        CatalogKind::Sql => println!("catalog {} (namespace {})", cfg.catalog.uri, cfg.catalog.namespace),
        CatalogKind::Glue => println!(
            "Glue database {} ({}), tables under {}",
            cfg.catalog.namespace,
            cfg.catalog.aws.endpoint.as_deref().unwrap_or("AWS"),
            cfg.catalog.warehouse
        ),
    }
    for t in &report.created {
        println!("  created   {t}");
    }
    for t in &report.evolved {
        println!("  evolved   {t}");
    }
    for t in &report.unchanged {
        println!("  unchanged {t}");
    }
    Ok(())
}
