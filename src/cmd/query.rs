//! `floe query`: DataFusion SQL over the catalog's tables, printed as a table, CSV or JSON lines.
//! The catalog is the default catalog and the namespace the default schema, so `FROM events` works.

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::prelude::{SessionConfig, SessionContext};
use iceberg_datafusion::IcebergCatalogProvider;

use crate::cli::OutputFormat;
use crate::config::Config;
use crate::error::{Error, Result};

/// Run `sql` and return its batches.
pub async fn query(cfg: &Config, sql: &str) -> Result<Vec<RecordBatch>> {
    let (catalog, _, _) = super::open::open_tables(cfg).await?;
    let provider = IcebergCatalogProvider::try_new(catalog.iceberg().clone()).await?;
    let config = SessionConfig::new()
        .with_default_catalog_and_schema(&cfg.catalog.name, &cfg.catalog.namespace)
        .with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    ctx.register_catalog(&cfg.catalog.name, Arc::new(provider));
    let df = ctx.sql(sql).await?;
    Ok(df.collect().await?)
}

pub fn print(batches: &[RecordBatch], format: OutputFormat) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        OutputFormat::Table => {
            println!("{}", arrow::util::pretty::pretty_format_batches(batches)?);
        }
        OutputFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
            for b in batches {
                w.write(b)?;
            }
        }
        OutputFormat::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    use std::io::Write;
    std::io::stdout().flush().map_err(|e| Error::io("stdout", e))
}
