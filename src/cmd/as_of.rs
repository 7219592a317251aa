//! `--as-of`: which snapshot of each table a time-travel query reads.

use iceberg::table::Table;

use crate::error::{Error, Result};

/// Per table, the snapshot current at `when` — a snapshot id (the table that has it reads it,
/// the others read what was current at its commit time) or an RFC 3339 timestamp. `None`: the
/// table had no snapshot yet, or that snapshot has expired. A snapshot id no table has, or an unreadable value, is an error.
pub fn resolve(tables: &[Table], when: &str) -> Result<Vec<Option<i64>>> {
    let at_ms = match when.trim().parse::<i64>() {
        Ok(id) => {
            let owner = tables.iter().find_map(|t| t.metadata().snapshot_by_id(id));
            match owner {
                Some(s) => s.timestamp_ms(),
                None => return Err(Error::invalid(format!("--as-of {when}: no table has snapshot {id}"))),
            }
        }
        Err(_) => chrono::DateTime::parse_from_rfc3339(when.trim())
            .map_err(|e| {
                Error::invalid(format!(
                    "--as-of {when:?}: expected a snapshot id or an RFC 3339 time like 2026-12-01T10:00:00Z ({e})"
                ))
            })?
            .timestamp_millis(),
    };
    let pinned_id = when.trim().parse::<i64>().ok();
    Ok(tables
        .iter()
        .map(|t| {
            let meta = t.metadata();
            if let Some(id) = pinned_id.filter(|id| meta.snapshot_by_id(*id).is_some()) {
                return Some(id);
            }
            // the main branch's history: the last snapshot made current at or before the time
            // (an expired one cannot be read any more: `None`)
            let current_then = meta.history().iter().rfind(|h| h.timestamp_ms <= at_ms)?;
            meta.snapshot_by_id(current_then.snapshot_id).map(|s| s.snapshot_id())
        })
        .collect())
}
