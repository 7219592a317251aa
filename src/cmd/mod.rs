//! One file per subcommand. `run` is the composition root that wires the stages together;
//! `present` is what `run` shows a person.

pub mod as_of;
pub mod backfill;
pub mod check;
pub mod cleanup;
pub mod compact;
pub mod explain;
pub mod forget;
pub mod generate;
pub mod gold;
pub mod import;
pub mod init;
pub mod lake;
pub mod open;
pub mod present;
pub mod query;
pub mod replay;
pub mod run;
pub mod status;

pub use open::{open_tables, open_tables_with, sdk_config};
