//! The analytics starter models in `sql/gold/`: each reads one view, `gold_events`, which the
//! model's folder defines once per source table (`_source_<table>.sql`), so one model runs
//! unchanged on `events` (JSON) and on `snowplow_events` (Snowplow enriched events).
//!
//! `gold_events` has one row per event: `event_id`, `tstamp` (collector time), `user_key` (the
//! business user id, else the cookie id), `event_name` (`page_view`, `add_to_cart`, `checkout`,
//! `click`, or the source's own name), `page_url`, `product` (the first `sku` in the event's
//! self-describing JSON) and `revenue`.

use std::path::Path;

use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};

/// The name of the view every model reads.
pub const VIEW: &str = "gold_events";

/// The SQL to run for `query --file`: the file's text, and for a file that reads `gold_events`,
/// the view from `_source_<source>.sql` beside it put in front as a common table expression (the
/// Iceberg catalog's schema cannot hold a view, and a CTE needs none).
pub async fn prepare(_ctx: &SessionContext, file: &Path, source: &str) -> Result<String> {
    let sql = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
    if !sql.contains(VIEW) {
        return Ok(sql);
    }
    let view = source_view(file.parent().unwrap_or(Path::new(".")), source)?;
    Ok(with_view(&view, &sql))
}

/// `_source_<source>.sql` in `dir`.
fn source_view(dir: &Path, source: &str) -> Result<String> {
    let path = dir.join(format!("_source_{source}.sql"));
    let text = std::fs::read_to_string(&path).map_err(|_| {
        Error::invalid(format!(
            "no {} for --source {source}: the models in {} read `{VIEW}`, which each source table defines there",
            path.display(),
            dir.display()
        ))
    })?;
    Ok(text.trim().trim_end_matches(';').to_string())
}

/// `model` with `gold_events` defined in front: joined to the model's own `WITH` when it has one.
fn with_view(view: &str, model: &str) -> String {
    let body: String = model.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    let body = body.trim();
    let cte = format!("WITH {VIEW} AS (\n{view}\n)");
    match body.get(..5) {
        Some(w) if w.eq_ignore_ascii_case("with ") || w.eq_ignore_ascii_case("with\n") => {
            format!("{cte},\n{}", &body[5..])
        }
        _ => format!("{cte}\n{body}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_joins_the_models_own_ctes() {
        assert_eq!(
            with_view("SELECT 1", "-- c\nSELECT * FROM gold_events"),
            "WITH gold_events AS (\nSELECT 1\n)\nSELECT * FROM gold_events"
        );
        assert_eq!(
            with_view("SELECT 1", "WITH a AS (SELECT * FROM gold_events) SELECT * FROM a"),
            "WITH gold_events AS (\nSELECT 1\n),\na AS (SELECT * FROM gold_events) SELECT * FROM a"
        );
    }
}
