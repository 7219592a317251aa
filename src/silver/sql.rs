//! The SQL transforms in `sql/<table>.sql`: compiled in for the built-in tables, or read from
//! `silver.sql_dir`. The transform's contract is checked when it is loaded and again on every
//! result: one output row per input row, with `_ord`, `floe_reason`, `floe_detail` and every
//! column of the table.

use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::catalog::tables::TableDef;
use crate::error::{Error, Result};

pub const BUILT_IN: &[(&str, &str)] = &[
    ("events", include_str!("../../sql/events.sql")),
    ("snowplow_events", include_str!("../../sql/snowplow_events.sql")),
];

/// The result's `floe_reason`: NULL for a row to keep; `duplicate…` for a counted dedup drop;
/// any other value sends the record to the bad-rows table with this reason.
pub const REASON: &str = "floe_reason";
/// The result's `floe_detail`: what exactly failed (kept in the bad row).
pub const DETAIL: &str = "floe_detail";
/// Columns every transform returns besides the table's own: `_ord` (the decoder's, passed
/// through, so each result row names its bronze record), [`REASON`], [`DETAIL`].
pub const CONTROL_COLUMNS: &[&str] = &[super::decode::ORD, REASON, DETAIL];

#[derive(Debug, Clone)]
pub struct Transform {
    pub table: String,
    pub origin: String,
    pub text: String,
}

impl Transform {
    pub fn load(def: &TableDef, dir: Option<&Path>) -> Result<Self> {
        match dir {
            None => BUILT_IN
                .iter()
                .find(|(n, _)| *n == def.name)
                .map(|(n, t)| Transform {
                    table: def.name.clone(),
                    origin: format!("(built-in) sql/{n}.sql"),
                    text: t.to_string(),
                })
                .ok_or_else(|| Error::Definition {
                    path: format!("sql/{}.sql", def.name),
                    message: "no built-in transform for this table; set silver.sql_dir".into(),
                }),
            Some(dir) => {
                let p = dir.join(format!("{}.sql", def.name));
                let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
                Ok(Transform { table: def.name.clone(), origin: p.display().to_string(), text })
            }
        }
    }

    fn context() -> SessionContext {
        // Two cores: more partitions only add repartitioning work to a small batch.
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2))
    }

    /// Run over `bronze` (decoded; each batch one partition, run in parallel — the result comes
    /// back in no particular order, each row naming its record by `_ord`) and `committed`.
    pub async fn run(
        &self,
        bronze_schema: SchemaRef,
        bronze: Vec<RecordBatch>,
        committed_schema: SchemaRef,
        committed: Vec<RecordBatch>,
    ) -> Result<Vec<RecordBatch>> {
        let ctx = Self::context();
        let partitions: Vec<Vec<RecordBatch>> = match bronze.is_empty() {
            true => vec![vec![]],
            false => bronze.into_iter().map(|b| vec![b]).collect(),
        };
        ctx.register_table("bronze", Arc::new(MemTable::try_new(bronze_schema, partitions)?))?;
        ctx.register_table("committed", Arc::new(MemTable::try_new(committed_schema, vec![committed])?))?;
        let df = ctx.sql(&self.text).await.map_err(|e| self.err(e.to_string()))?;
        Ok(df.collect().await?)
    }

    /// Plan the transform against empty inputs and check its output columns (`floe check`).
    pub async fn check(&self, def: &TableDef, bronze_schema: SchemaRef, committed_schema: SchemaRef) -> Result<()> {
        let ctx = Self::context();
        ctx.register_table("bronze", Arc::new(MemTable::try_new(bronze_schema, vec![vec![]])?))?;
        ctx.register_table("committed", Arc::new(MemTable::try_new(committed_schema, vec![vec![]])?))?;
        let df = ctx.sql(&self.text).await.map_err(|e| self.err(e.to_string()))?;
        let schema = df.schema();
        let wanted = CONTROL_COLUMNS.iter().map(|s| s.to_string()).chain(def.columns.iter().map(|c| c.name.clone()));
        for name in wanted {
            if schema.field_with_unqualified_name(&name).is_err() {
                return Err(self.err(format!("the result has no column {name}")));
            }
        }
        Ok(())
    }

    fn err(&self, message: String) -> Error {
        Error::Definition { path: self.origin.clone(), message }
    }
}
