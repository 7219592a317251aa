//! The only code that talks to a catalog.
//!
//! - [`open`]: build the catalog from configuration (SQL catalog on SQLite by default, or Glue).
//! - [`glue`]: our `iceberg::Catalog` over the AWS Glue Data Catalog (VersionId compare-and-swap).
//! - [`tables`]: `catalog/*.toml` → Iceberg schema, partition spec, properties.
//! - [`setup`]: create the namespace and tables that are missing (`floe init`, start of `run`).
//! - [`commit`]: fast-append with the per-shard watermark in the snapshot summary; watermark
//!   recovery from the snapshot ancestry.

pub mod commit;
pub mod glue;
pub mod open;
pub mod setup;
pub mod tables;
