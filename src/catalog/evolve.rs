//! A schema change floe makes while it runs (the per-schema columns of `silver::entities`):
//! the new schema added and made current in one metadata commit, guarded like every commit by
//! the table's pointer, so two workers adding columns at once cannot both win.

use iceberg::spec::Schema;
use iceberg::table::Table;

use super::handle::{FloeCatalog, PointerSwap};
use crate::error::{Error, Result};

/// Make `schema` the current schema of `base`'s table. `None`: someone committed since `base`
/// was loaded; nothing changed (reload and plan again).
pub async fn add_schema(catalog: &FloeCatalog, base: &Table, schema: Schema) -> Result<Option<Table>> {
    let ident = base.identifier();
    let location = base
        .metadata_location()
        .ok_or_else(|| Error::invalid(format!("{ident}: the loaded table has no metadata location")))?;
    let built = base.metadata().clone().into_builder(Some(location.to_string())).add_current_schema(schema)?.build()?;
    match catalog.commit_metadata(base, &built.metadata, built.changes).await? {
        PointerSwap::Swapped => Ok(Some(catalog.load_table(ident).await?)),
        PointerSwap::Moved => Ok(None),
    }
}
