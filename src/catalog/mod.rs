//! The only code that talks to a catalog.
//!
//! - [`open`]: build the catalog from configuration (SQL catalog on SQLite by default, Glue, REST).
//! - [`handle`]: [`FloeCatalog`], Iceberg's `Catalog` plus each backend's metadata-pointer
//!   compare-and-swap (what floe's own replace/overwrite commits hang on).
//! - [`glue`], [`glue_entry`]: our `iceberg::Catalog` over the AWS Glue Data Catalog, and the
//!   shape of its table entries (what Athena reads).
//! - [`tables`]: `catalog/*.toml` → Iceberg schema, partition spec, properties.
//! - [`setup`]: create the namespace and tables that are missing (`floe init`, start of `run`).
//! - [`commit`]: the [`Committer`] — commit values (data change + progress) into snapshots, with
//!   the watermark re-check and the conflict retry; [`pinned`] is the catalog one attempt sees;
//!   `rebase` checks (and resolves) a commit against what other writers committed meanwhile.
//! - [`manifest_merge`]: when an append folds the small manifests into one (merge-on-append).
//! - [`progress`]: a table's watermarks, read back from its snapshot ancestry.
//! - [`stats`]: live files, small files and counter totals of a table.

pub mod commit;
pub mod evolve;
pub mod glue;
mod glue_databases;
pub mod glue_entry;
pub mod handle;
pub mod manifest_merge;
pub mod open;
mod pinned;
pub mod progress;
mod read_retry;
mod rebase;
mod rest_commit;
pub mod rewrite;
pub mod setup;
pub mod stats;
pub mod tables;

pub use commit::Committer;
pub use handle::FloeCatalog;
