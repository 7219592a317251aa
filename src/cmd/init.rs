//! `floe init`: create the namespace and missing tables; evolve tables with new optional columns.

use crate::config::Config;
use crate::error::Result;

pub async fn init(cfg: &Config) -> Result<()> {
    let (_, _, report) = super::open_tables(cfg).await?;
    println!("catalog {} (namespace {})", cfg.catalog.uri, cfg.catalog.namespace);
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
