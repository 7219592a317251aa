//! One column per schema, the Lake Loader way: each self-describing entity an event carries is
//! loaded into a typed column of its schema's family — `unstruct_event_<vendor>_<name>_<model>`
//! (a struct) and `contexts_<vendor>_<name>_<model>` (a list of structs, each with its
//! `_schema_version`) — added to the table by schema evolution the first time the family is
//! seen, and widened when a later minor version adds fields. The JSON text columns stay as they
//! are, so nothing is lost when a schema is unknown (`silver.missing_schema = "load"`).
//!
//! - [`naming`]: the column and field names.
//! - [`typing`]: JSON Schema → Iceberg type, and the merge of versions.
//! - [`plan`]: which columns a batch needs; which versions cannot merge.
//! - [`build`]: the values, through arrow-json, appended to the SQL's result.
//!
//! Runs between the SQL and the dedup, so a row rejected here is a bad row like any other.

pub mod build;
pub mod naming;
pub mod plan;
pub mod typing;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use iceberg::table::Table;

use super::table_files::TableFiles;
use crate::catalog::evolve::add_schema;
use crate::catalog::handle::FloeCatalog;
use crate::error::{Error, Result};
use crate::iglu::{Contracts, Envelope};

/// Schema changes tried against a table another writer keeps moving, before the batch fails
/// (and is retried as a whole).
const EVOLVE_ATTEMPTS: usize = 5;

/// A table's per-schema columns: where its entities are, and where their schemas are.
#[derive(Debug)]
pub struct Entities {
    contracts: Arc<Contracts>,
    /// The table's columns of self-describing JSON text, and their envelopes.
    fields: Vec<(String, Envelope)>,
    catalog: FloeCatalog,
}

impl Entities {
    pub fn new(contracts: Arc<Contracts>, fields: Vec<(String, Envelope)>, catalog: FloeCatalog) -> Self {
        Self { contracts, fields, catalog }
    }

    /// Give `result`'s rows their per-schema columns: plan them against the table `files` are
    /// written for, evolve the table when it lacks one (`files` then go on in the new schema),
    /// and append the values.
    pub async fn apply(self: &Arc<Self>, result: Vec<RecordBatch>, files: &mut TableFiles) -> Result<Vec<RecordBatch>> {
        let me = self.clone();
        let (result, parsed) = blocking(move || {
            let parsed = plan::parse(&result, &me.fields)?;
            Ok((result, parsed))
        })
        .await?;
        if parsed.families.is_empty() {
            return Ok(result);
        }
        let parsed = Arc::new(parsed);
        let mut attempt = 0;
        let plan = loop {
            attempt += 1;
            let plan = self.plan(&parsed, files.table()).await?;
            let Some(schema) = plan.schema.clone() else { break plan };
            let table = files.table().identifier().clone();
            match add_schema(&self.catalog, files.table(), schema).await? {
                Some(evolved) => {
                    tracing::info!(table = %table, columns = ?added(files.table(), &evolved), "per-schema columns added");
                    files.use_table(evolved).await?;
                }
                None if attempt < EVOLVE_ATTEMPTS => {
                    let reloaded = self.catalog.load_table(&table).await?;
                    files.use_table(reloaded).await?;
                }
                None => {
                    return Err(Error::CommitConflict {
                        table: table.to_string(),
                        message: "the table kept changing while per-schema columns were added".into(),
                    });
                }
            }
        };
        let arrow = iceberg::arrow::schema_to_arrow_schema(files.table().metadata().current_schema())?;
        let fields: BTreeMap<String, _> = arrow.fields().iter().map(|f| (f.name().clone(), f.clone())).collect();
        blocking(move || build::append(result, &parsed, &plan, &fields)).await
    }

    async fn plan(self: &Arc<Self>, parsed: &Arc<plan::Parsed>, table: &Table) -> Result<plan::Plan> {
        let (me, parsed) = (self.clone(), parsed.clone());
        let current = table.metadata().current_schema().clone();
        let last_id = table.metadata().last_column_id();
        blocking(move || {
            let resolve = |uri: &str| match crate::model::snowplow::SchemaKey::parse(uri) {
                Some(key) => me.contracts.resolve(&key, uri),
                None => Err(Error::invalid(format!("{uri} is not an Iglu schema key"))),
            };
            plan::plan(&parsed, &current, last_id, &resolve)
        })
        .await
    }
}

/// The columns `after` has that `before` lacks (for the log).
fn added(before: &Table, after: &Table) -> Vec<String> {
    let old = before.metadata().current_schema();
    after
        .metadata()
        .current_schema()
        .as_struct()
        .fields()
        .iter()
        .filter(|f| old.field_by_name(&f.name).is_none_or(|o| o.field_type != f.field_type))
        .map(|f| f.name.clone())
        .collect()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::invalid(format!("per-schema column task failed: {e}")))?
}
