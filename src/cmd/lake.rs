//! What the lake-operation subcommands share: which tables they act on, and their progress bar.

use std::io::IsTerminal;

use iceberg::TableIdent;
use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::setup::ManagedTable;
use crate::cli::LakeArgs;
use crate::error::{Error, Result};

/// The tables `--table` names (every floe table and its bad-rows table without it). An unknown
/// name is an error that lists the known ones.
pub fn selected(tables: &[ManagedTable], args: &LakeArgs) -> Result<Vec<TableIdent>> {
    let all: Vec<TableIdent> = tables.iter().flat_map(|t| [t.ident.clone(), t.bad_ident.clone()]).collect();
    let Some(want) = &args.table else { return Ok(all) };
    match all.iter().find(|i| i.name() == want || i.to_string() == *want) {
        Some(ident) => Ok(vec![ident.clone()]),
        None => Err(Error::invalid(format!(
            "--table {want}: no such floe table (known: {})",
            all.iter().map(|i| i.name().to_string()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// The floe tables `--table` names (every one without it): the operations that act on a table
/// and its bad rows together. An unknown name is an error that lists the known ones.
pub fn managed<'a>(tables: &'a [ManagedTable], want: Option<&str>) -> Result<Vec<&'a ManagedTable>> {
    let Some(want) = want else { return Ok(tables.iter().collect()) };
    let chosen: Vec<_> = tables.iter().filter(|t| t.ident.name() == want).collect();
    if chosen.is_empty() {
        let known: Vec<_> = tables.iter().map(|t| t.ident.name().to_string()).collect();
        return Err(Error::invalid(format!("--table {want}: no such floe table (known: {})", known.join(", "))));
    }
    Ok(chosen)
}

/// A byte-counting progress bar with ETA, hidden when stderr is not a terminal, with `--quiet`
/// or `--json`.
pub fn byte_bar(total: u64, args: &LakeArgs, what: &str) -> ProgressBar {
    if args.quiet || args.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let template = format!(
        "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{binary_bytes}}/{{binary_total_bytes}} {what} · ETA {{eta}}"
    );
    bar.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar
}

/// A counting spinner (manifests read), hidden like [`byte_bar`].
pub fn count_bar(args: &LakeArgs, what: &str) -> ProgressBar {
    if args.quiet || args.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    let template = format!("{{spinner}} [{{elapsed_precise}}] {{human_pos}} {what}");
    bar.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_spinner()));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// A bar counting seconds (of stream time, say) with ETA, hidden like [`byte_bar`].
pub fn seconds_bar(total: u64, args: &LakeArgs, what: &str) -> ProgressBar {
    let bar = byte_bar(total, args, what);
    if !bar.is_hidden() {
        let template = format!("{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} s {what} · ETA {{eta}}");
        bar.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    }
    bar
}
