//! `floe check`: configuration, table definitions and SQL transforms, validated without
//! touching the catalog, the bronze store or any data (for CI/CD before a deploy).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};

use crate::catalog::tables::load_defs_named;
use crate::config::Config;
use crate::error::Result;
use crate::iglu::config::ResolverConfig;
use crate::silver::decode::Decoder;
use crate::silver::sql::Transform;

pub async fn check(cfg: &Config) -> Result<()> {
    println!("config      {}: ok", cfg.origin);
    let defs = load_defs_named(cfg.silver.tables_dir.as_deref(), cfg.silver.tables.as_deref())?;
    if let Some(file) = &cfg.silver.iglu_resolver {
        let resolver = ResolverConfig::load(file)?;
        let names: Vec<&str> = resolver.repositories.iter().map(|r| r.name.as_str()).collect();
        println!("contracts   {}: repositories {}: ok", file.display(), names.join(", "));
    }
    for def in &defs {
        def.schema()?;
        def.partition_spec()?;
        let transform = Transform::load(def, cfg.silver.sql_dir.as_deref())?;
        let decoder = Decoder::for_table(def, cfg.silver.max_record_bytes);
        let key = def.dedup.as_ref().map(|d| d.key.clone()).unwrap_or_else(|| "_none".into());
        let committed = Arc::new(Schema::new(vec![Field::new(key, DataType::Utf8, true)]));
        transform.check(def, decoder.schema(), committed).await?;
        println!("table       {} ({} columns, bad rows → {}): ok", def.name, def.columns.len(), def.bad_rows_table);
        println!("transform   {}: plans, returns every column: ok", transform.origin);
    }
    Ok(())
}
