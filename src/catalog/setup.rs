//! Create what is missing — the namespace, each table from its definition, each table's bad-rows
//! table — and evolve existing tables by adding new optional columns and the properties their
//! definition names that they lack. Anything else that differs
//! (a changed type, a dropped or newly required column) is refused before anything is written.

use std::collections::HashMap;

use iceberg::spec::{FormatVersion, Schema, UnboundPartitionSpec};
use iceberg::table::Table;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use iceberg::{NamespaceIdent, TableCreation, TableIdent};

use super::commit;
use super::handle::FloeCatalog;
use super::tables::{TableDef, bad_rows_partition_spec, bad_rows_schema};
use crate::error::{Error, Result};

/// A table definition with the identifiers of its table and its bad-rows table.
#[derive(Debug, Clone)]
pub struct ManagedTable {
    pub def: TableDef,
    pub ident: TableIdent,
    pub bad_ident: TableIdent,
}

/// What `ensure_tables` did, for `floe init` to report.
#[derive(Debug, Default)]
pub struct SetupReport {
    pub created: Vec<String>,
    pub evolved: Vec<String>,
    pub unchanged: Vec<String>,
}

pub async fn ensure_tables(
    catalog: &FloeCatalog,
    namespace: &str,
    defs: &[TableDef],
) -> Result<(Vec<ManagedTable>, SetupReport)> {
    let ns = NamespaceIdent::new(namespace.to_string());
    if !catalog.iceberg().namespace_exists(&ns).await?
        && let Err(e) = catalog.iceberg().create_namespace(&ns, HashMap::new()).await
    {
        // another process (a second worker, `floe query` beside `floe run`) created it first
        if !catalog.iceberg().namespace_exists(&ns).await? {
            return Err(e.into());
        }
    }
    let mut report = SetupReport::default();
    let mut out = Vec::new();
    for def in defs {
        let ident = TableIdent::new(ns.clone(), def.name.clone());
        let bad_ident = TableIdent::new(ns.clone(), def.bad_rows_table.clone());
        let props: HashMap<String, String> = def.properties.clone().into_iter().collect();
        ensure_one(catalog, &ident, def.schema()?, def.partition_spec()?, props.clone(), &mut report).await?;
        ensure_one(catalog, &bad_ident, bad_rows_schema()?, bad_rows_partition_spec()?, props, &mut report).await?;
        out.push(ManagedTable { def: def.clone(), ident, bad_ident });
    }
    Ok((out, report))
}

async fn ensure_one(
    catalog: &FloeCatalog,
    ident: &TableIdent,
    schema: Schema,
    spec: UnboundPartitionSpec,
    properties: HashMap<String, String>,
    report: &mut SetupReport,
) -> Result<()> {
    if !catalog.iceberg().table_exists(ident).await? {
        let creation = TableCreation::builder()
            .name(ident.name().to_string())
            .schema(schema.clone())
            .partition_spec(spec)
            .format_version(FormatVersion::V2)
            .properties(properties.clone())
            .build();
        match catalog.iceberg().create_table(ident.namespace(), creation).await {
            Ok(_) => {
                report.created.push(ident.name().to_string());
                return Ok(());
            }
            // created by another process in between: carry on as with an existing table
            Err(_) if catalog.iceberg().table_exists(ident).await? => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut table = catalog.iceberg().load_table(ident).await?;
    let props_added = add_missing_properties(catalog, &mut table, &properties).await?;
    let to_add = plan_evolution(&table, &schema)?;
    if to_add.is_empty() {
        match props_added.is_empty() {
            true => report.unchanged.push(ident.name().to_string()),
            false => report.evolved.push(format!("{} (properties: {})", ident.name(), props_added.join(", "))),
        }
        return Ok(());
    }
    let mut update = Transaction::new(&table).update_schema();
    for f in &to_add {
        let ty = (*f.field_type).clone();
        let c = match &f.doc {
            Some(d) => AddColumn::builder().name(f.name.clone()).field_type(ty).doc(d.clone()).build(),
            None => AddColumn::optional(f.name.clone(), ty),
        };
        update = update.add_column(c);
    }
    let tx = update.apply(Transaction::new(&table))?;
    let table = tx.commit(catalog.iceberg().as_ref()).await?;
    // Scans use the snapshot's schema: an empty append carrying the watermark makes the new
    // column readable right away (DESIGN.md §6).
    commit::carry_forward(catalog, &table, "schema-evolution").await?;
    report.evolved.push(format!(
        "{} (+{})",
        ident.name(),
        to_add.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
    ));
    Ok(())
}

/// Set the definition's properties the table does not have yet (a table created before the
/// definition named them — the metrics modes that keep identifiers out of manifests, say). A
/// property the table has with another value is left as it is: someone set it on purpose.
async fn add_missing_properties(
    catalog: &FloeCatalog,
    table: &mut Table,
    wanted: &HashMap<String, String>,
) -> Result<Vec<String>> {
    let have = table.metadata().properties();
    let mut missing: Vec<(&String, &String)> = wanted.iter().filter(|(k, _)| !have.contains_key(*k)).collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    missing.sort();
    let mut update = Transaction::new(table).update_table_properties();
    for (k, v) in &missing {
        update = update.set((*k).clone(), (*v).clone());
    }
    let tx = update.apply(Transaction::new(table))?;
    *table = tx.commit(catalog.iceberg().as_ref()).await?;
    Ok(missing.into_iter().map(|(k, _)| k.clone()).collect())
}

/// Columns of `wanted` that the table lacks; an error for any change Iceberg or our readers
/// cannot take.
fn plan_evolution(table: &Table, wanted: &Schema) -> Result<Vec<iceberg::spec::NestedFieldRef>> {
    let current = table.metadata().current_schema();
    let name = table.identifier().name();
    let mut add = Vec::new();
    for f in wanted.as_struct().fields() {
        match current.field_by_name(&f.name) {
            Some(existing) if existing.field_type != f.field_type => {
                return Err(Error::Definition {
                    path: format!("catalog/{name}.toml"),
                    message: format!(
                        "column {}: the table has type {}, the definition says {}; type changes are not supported",
                        f.name, existing.field_type, f.field_type
                    ),
                });
            }
            Some(_) => {}
            None if f.required => {
                return Err(Error::Definition {
                    path: format!("catalog/{name}.toml"),
                    message: format!("new column {} must be optional: existing rows have no value for it", f.name),
                });
            }
            None => add.push(f.clone()),
        }
    }
    for f in current.as_struct().fields() {
        if wanted.field_by_name(&f.name).is_none() && f.required {
            return Err(Error::Definition {
                path: format!("catalog/{name}.toml"),
                message: format!(
                    "required column {} is missing from the definition; dropping columns is not supported",
                    f.name
                ),
            });
        }
    }
    Ok(add)
}
