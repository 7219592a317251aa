//! `floe query`: DataFusion SQL over the catalog's tables, printed as a table, CSV or JSON lines.
//! The catalog is the default catalog and the namespace the default schema, so `FROM events` works.

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::prelude::{SessionConfig, SessionContext};
use iceberg_datafusion::{IcebergCatalogProvider, IcebergStaticTableProvider};

use crate::cli::OutputFormat;
use crate::config::Config;
use crate::error::{Error, Result};

/// What to run: SQL text, or a file (an analytics model reading `gold_events` from `source`).
pub enum Query<'a> {
    Sql(&'a str),
    File { path: &'a std::path::Path, source: &'a str },
}

/// Run the query and return its batches; with `as_of`, over the tables as they were then.
pub async fn query(cfg: &Config, q: Query<'_>, as_of: Option<&str>) -> Result<Vec<RecordBatch>> {
    let (catalog, tables, _) = super::open::open_tables(cfg).await?;
    let config = SessionConfig::new()
        .with_default_catalog_and_schema(&cfg.catalog.name, &cfg.catalog.namespace)
        .with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    match as_of {
        None => {
            let provider = IcebergCatalogProvider::try_new(catalog.iceberg().clone()).await?;
            ctx.register_catalog(&cfg.catalog.name, Arc::new(provider));
        }
        Some(when) => {
            let idents: Vec<_> = tables.iter().flat_map(|t| [t.ident.clone(), t.bad_ident.clone()]).collect();
            let loaded = futures::future::try_join_all(idents.iter().map(|i| catalog.load_table(i))).await?;
            let pins = super::as_of::resolve(&loaded, when)?;
            for (table, pin) in loaded.into_iter().zip(pins) {
                let name = table.identifier().name().to_string();
                match pin {
                    Some(snapshot_id) => {
                        let provider =
                            IcebergStaticTableProvider::try_new_from_table_snapshot(table, snapshot_id).await?;
                        ctx.register_table(name.as_str(), Arc::new(provider))?;
                    }
                    None => {
                        tracing::warn!(table = %name, as_of = when, "the table had no snapshot then; not queryable")
                    }
                }
            }
        }
    }
    let sql = match q {
        Query::Sql(sql) => sql.to_string(),
        Query::File { path, source } => super::gold::prepare(&ctx, path, source).await?,
    };
    let df = ctx.sql(&sql).await?;
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
