//! `floe init`: create the namespace and missing tables; evolve tables with new optional columns;
//! create the DynamoDB lease table (on-demand billing) when `checkpoint.type = "dynamodb"`.

use crate::checkpoint::dynamodb::LeaseTable;
use crate::config::{CatalogKind, CheckpointKind, Config};
use crate::error::Result;

pub async fn init(cfg: &Config) -> Result<()> {
    let sdk = super::open::sdk_config(cfg).await;
    if let (CheckpointKind::DynamoDb(settings), Some(sdk)) = (&cfg.checkpoint, &sdk) {
        let created = LeaseTable::new(sdk, &cfg.source.stream, settings).create_if_missing().await?;
        println!("lease table {} {}", settings.table, if created { "created (on-demand)" } else { "exists" });
    }
    let (_, _, report) = super::open::open_tables_with(cfg, sdk.as_ref()).await?;
    match cfg.catalog.kind {
        CatalogKind::Sql | CatalogKind::Rest => {
            println!("catalog {} (namespace {})", cfg.catalog.uri, cfg.catalog.namespace)
        }
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
