//! Golden tests for the analytics models in `sql/gold/`: each model runs on fixed input for both
//! source tables — `tests/golden/gold/events.jsonl` and `snowplow_events.jsonl` tell the same
//! story (the same users, clicks, carts and checkouts) in each table's own shape — and must give
//! exactly the rows of `tests/golden/gold/<model>.expected` (JSON lines) on both. The models run
//! through floe's own `query --file` code (`floe::cmd::gold`), over in-memory tables in the
//! tables' Arrow schemas.
//!
//! Run: `cargo test --test it gold_models` (seconds). On a mismatch the message shows the rows
//! the model gave, to compare with the expectation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use floe::catalog::tables::load_defs;
use serde_json::Value;

const SOURCES: &[&str] = &["events", "snowplow_events"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The models: every `sql/gold/*.sql` but the `_source_*` views.
fn models() -> Vec<PathBuf> {
    let mut m: Vec<PathBuf> = std::fs::read_dir(root().join("sql/gold"))
        .expect("sql/gold")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('_')))
        .collect();
    m.sort();
    m
}

/// A session with `table` holding the golden input, in the table's Arrow schema (all nullable:
/// the input names only the columns the story needs).
fn context(table: &str) -> SessionContext {
    let defs = load_defs(None).expect("definitions");
    let def = defs.iter().find(|d| d.name == table).expect("a built-in table");
    let arrow = iceberg::arrow::schema_to_arrow_schema(&def.schema().expect("schema")).expect("arrow schema");
    let fields: Vec<Field> = arrow.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
    let schema = Arc::new(Schema::new(fields));
    let file = std::fs::File::open(root().join(format!("tests/golden/gold/{table}.jsonl"))).expect("golden input");
    let reader = arrow::json::ReaderBuilder::new(schema.clone()).build(std::io::BufReader::new(file)).expect("reader");
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("golden input parses");
    let ctx = SessionContext::new();
    ctx.register_table(table, Arc::new(MemTable::try_new(schema, vec![batches]).expect("table"))).expect("register");
    ctx
}

async fn run(model: &Path, source: &str) -> Vec<Value> {
    let ctx = context(source);
    let sql = floe::cmd::gold::prepare(&ctx, model, source).await.expect("the model's view");
    let batches = ctx.sql(&sql).await.expect("the model plans").collect().await.expect("the model runs");
    let mut buf = Vec::new();
    let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
    for b in &batches {
        w.write(b).expect("json");
    }
    w.finish().expect("json");
    String::from_utf8_lossy(&buf).lines().map(|l| serde_json::from_str(l).expect("a row")).collect()
}

fn expected(model: &Path) -> Vec<Value> {
    let stem = model.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let path = root().join(format!("tests/golden/gold/{stem}.expected"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{} has no expectation: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

#[tokio::test]
async fn gold_models_give_their_golden_rows_on_both_tables() {
    let models = models();
    assert!(models.len() >= 6, "{models:?}");
    let mut failures = Vec::new();
    for model in &models {
        let want = expected(model);
        assert!(!want.is_empty(), "{}: an empty expectation checks nothing", model.display());
        for source in SOURCES {
            let got = run(model, source).await;
            if got != want {
                let rows: Vec<String> = got.iter().map(Value::to_string).collect();
                failures.push(format!("{} on {source} gave:\n{}", model.display(), rows.join("\n")));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} model run(s) differ from their expectation:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[tokio::test]
async fn a_model_without_a_source_view_is_a_clear_error() {
    let ctx = context("events");
    let e = floe::cmd::gold::prepare(&ctx, &root().join("sql/gold/sessions.sql"), "nope").await.unwrap_err();
    assert!(e.to_string().contains("_source_nope.sql for --source nope"), "{e}");
}
