//! Erasure (`floe forget`): every row of a person — in the table, in the bad-rows table and in
//! bronze — is removed by copy-on-write, and the files that held them are deleted.
//!
//! Copy-on-write, not delete files: Athena cannot read deletion vectors and pyiceberg 0.12 cannot
//! read equality deletes, so the data files holding matching rows are rewritten without them and
//! swapped in by one `overwrite` snapshot per table. Then every older snapshot is expired (they
//! still reference the old files, which the expiry deletes), a manifest-only `replace` drops the
//! `deleted` entries that still named the old files (with their column bounds), and that is
//! expired too. Bronze objects holding the person's records are written again without them,
//! under the same keys.
//!
//! What matches: table rows whose `column` is one of the values; bad rows and bronze records
//! whose raw bytes contain one of the values anywhere (a bad row may be malformed JSON, so its
//! fields cannot be trusted — erring towards removing more is the safe side of an erasure).

use std::collections::{BTreeMap, HashSet};

use aho_corasick::AhoCorasick;
use arrow::array::{Array, BinaryArray, BooleanArray, LargeBinaryArray, RecordBatch, StringArray};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::DataType;
use futures::{StreamExt, TryStreamExt};
use iceberg::TableIdent;
use iceberg::scan::FileScanTask;
use iceberg::spec::Operation;
use iceberg::table::Table;
use indicatif::ProgressBar;
use serde::Serialize;

use crate::bronze::encode::{self, col};
use crate::bronze::store::BronzeStore;
use crate::catalog::Committer;
use crate::catalog::commit::{Change, TableCommit, delete_files};
use crate::error::{Error, Result};
use crate::model::{Frontier, Watermarks};
use crate::silver::writer::OpenFiles;

/// Whose rows: `column` holds one of `values`.
#[derive(Debug, Clone)]
pub struct ForgetRequest {
    pub column: String,
    pub values: Vec<String>,
}

impl ForgetRequest {
    /// `col = 'v'`, `col IN ('a', 'b')`, or several of those joined by OR, on one column.
    pub fn parse_where(text: &str) -> Result<Self> {
        use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Value};
        use datafusion::sql::sqlparser::dialect::GenericDialect;
        use datafusion::sql::sqlparser::parser::Parser;
        let bad = |why: &str| Error::invalid(format!("--where {text:?}: {why}"));
        use datafusion::sql::sqlparser::tokenizer::Token;
        let unparsed = |e| bad(&format!("does not parse: {e}"));
        let mut parser = Parser::new(&GenericDialect {}).try_with_sql(text).map_err(unparsed)?;
        let expr = parser.parse_expr().map_err(unparsed)?;
        // the whole text must be the condition: `user_id = 'a'; …` is an error, not `user_id = 'a'`
        let rest = parser.peek_token().token;
        if rest != Token::EOF {
            return Err(bad(&format!("unexpected `{rest}` after the condition")));
        }
        let mut column: Option<String> = None;
        let mut values = Vec::new();
        let mut todo = vec![expr];
        let literal = |e: &Expr| match e {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::Number(s, _) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        };
        while let Some(e) = todo.pop() {
            let (name, vals) = match e {
                Expr::Nested(inner) => {
                    todo.push(*inner);
                    continue;
                }
                Expr::BinaryOp { left, op: BinaryOperator::Or, right } => {
                    todo.push(*left);
                    todo.push(*right);
                    continue;
                }
                Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => match (*left, literal(&right)) {
                    (Expr::Identifier(id), Some(v)) => (id.value, vec![v]),
                    _ => return Err(bad("expected column = 'value'")),
                },
                Expr::InList { expr, list, negated: false } => match *expr {
                    Expr::Identifier(id) => {
                        let vals: Option<Vec<String>> = list.iter().map(literal).collect();
                        (id.value, vals.ok_or_else(|| bad("IN takes literal values only"))?)
                    }
                    _ => return Err(bad("expected column IN ('a', 'b')")),
                },
                _ => return Err(bad("expected column = 'value' or column IN (…), joined by OR")),
            };
            if column.as_ref().is_some_and(|c| *c != name) {
                return Err(bad("all conditions must be on one column"));
            }
            column = Some(name);
            values.extend(vals);
        }
        let column = column.ok_or_else(|| bad("no condition"))?;
        Self::new(column, values)
    }

    pub fn new(column: String, values: Vec<String>) -> Result<Self> {
        let values: Vec<String> =
            values.into_iter().filter(|v| !v.trim().is_empty()).collect::<HashSet<_>>().into_iter().collect();
        if values.is_empty() {
            return Err(Error::invalid("nothing to forget: no values given"));
        }
        Ok(Self { column, values })
    }

    fn raw_matcher(&self) -> Result<AhoCorasick> {
        AhoCorasick::new(&self.values).map_err(|e| Error::invalid(format!("forget: {e}")))
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TableErasure {
    pub table: String,
    pub files_scanned: usize,
    pub files_rewritten: usize,
    pub rows_removed: u64,
    pub snapshot_id: Option<i64>,
    pub snapshots_expired: usize,
    pub files_deleted: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BronzeErasure {
    pub objects_scanned: usize,
    pub objects_rewritten: usize,
    pub records_removed: u64,
}

/// Which rows of a batch go.
enum Matcher<'a> {
    /// The table: `column` is one of `values`.
    Column(&'a str, HashSet<&'a str>),
    /// Bad rows: the raw bytes contain a value.
    Raw(&'a AhoCorasick),
}

impl Matcher<'_> {
    fn hits(&self, b: &RecordBatch) -> Result<Vec<bool>> {
        match self {
            Matcher::Column(name, values) => {
                let c = b.column_by_name(name).ok_or_else(|| Error::invalid(format!("forget: no column {name}")))?;
                let c = cast(c, &DataType::Utf8)?;
                let s = c.as_any().downcast_ref::<StringArray>().ok_or_else(|| Error::invalid("forget: cast"))?;
                Ok((0..s.len()).map(|i| s.is_valid(i) && values.contains(s.value(i))).collect())
            }
            Matcher::Raw(ac) => {
                let c = b.column_by_name("raw").ok_or_else(|| Error::invalid("forget: bad rows without raw"))?;
                // Iceberg's reader hands binary columns over as large binary
                let c = cast(c, &DataType::LargeBinary)?;
                let raw =
                    c.as_any().downcast_ref::<LargeBinaryArray>().ok_or_else(|| Error::invalid("forget: raw type"))?;
                Ok((0..raw.len()).map(|i| raw.is_valid(i) && ac.is_match(raw.value(i))).collect())
            }
        }
    }
}

/// Remove the request's rows from `ident` (the table when `bad` is false, else its bad-rows
/// table) in one overwrite snapshot. `bar` counts files scanned.
pub async fn forget_rows(
    committer: &Committer,
    ident: &TableIdent,
    req: &ForgetRequest,
    bad: bool,
    dry_run: bool,
    bar: &ProgressBar,
) -> Result<TableErasure> {
    let table = committer.catalog().load_table(ident).await?;
    let mut out = TableErasure { table: ident.to_string(), ..Default::default() };
    if table.metadata().current_snapshot().is_none() {
        return Ok(out);
    }
    if !bad && table.metadata().current_schema().field_by_name(&req.column).is_none() {
        return Err(Error::invalid(format!("--where: {ident} has no column {}", req.column)));
    }
    let ac = req.raw_matcher()?;
    let matcher = match bad {
        false => Matcher::Column(&req.column, req.values.iter().map(String::as_str).collect()),
        true => Matcher::Raw(&ac),
    };
    let tasks: Vec<FileScanTask> = table.scan().select_all().build()?.plan_files().await?.try_collect().await?;
    bar.inc_length(tasks.len() as u64);
    let mut writer = if dry_run { None } else { Some(OpenFiles::new(&table)?) };
    let mut remove = HashSet::new();
    for task in tasks {
        out.files_scanned += 1;
        bar.inc(1);
        let path = task.data_file_path.clone();
        let stream = futures::stream::iter([Ok(task)]).boxed();
        let batches: Vec<RecordBatch> = table.reader_builder().build().read(stream)?.stream().try_collect().await?;
        let mut kept = Vec::with_capacity(batches.len());
        let mut removed = 0u64;
        for b in &batches {
            let hits = matcher.hits(b)?;
            removed += hits.iter().filter(|h| **h).count() as u64;
            kept.push(filter_record_batch(b, &BooleanArray::from(hits.iter().map(|h| !h).collect::<Vec<_>>()))?);
        }
        if removed == 0 {
            continue;
        }
        out.files_rewritten += 1;
        out.rows_removed += removed;
        remove.insert(path);
        if let Some(w) = writer.as_mut() {
            w.write(&kept).await?;
        }
    }
    let Some(writer) = writer else { return Ok(out) };
    let added = writer.close().await?;
    if remove.is_empty() {
        delete_files(&table, &added).await;
        return Ok(out);
    }
    let commit = TableCommit {
        ident: ident.clone(),
        change: Change::Rewrite { remove, add: added, operation: Operation::Overwrite },
        planned_after: Watermarks::new(),
        ends_at: Watermarks::new(),
        frontier: Frontier::new(),
        summary: BTreeMap::from([
            ("floe.operation".to_string(), "forget".to_string()),
            ("floe.forgotten-rows".to_string(), out.rows_removed.to_string()),
        ]),
        oldest_arrival_micros: None,
        rebase: None,
    };
    if let crate::catalog::commit::CommitOutcome::Committed { snapshot_id, .. } = committer.commit(commit).await? {
        out.snapshot_id = Some(snapshot_id);
    }
    Ok(out)
}

/// After the overwrite: expire every older snapshot (deleting the old files), drop the `deleted`
/// manifest entries that still name them (a manifest-only replace), and expire again.
pub async fn purge_history(committer: &Committer, table: &Table, out: &mut TableErasure) -> Result<()> {
    use super::expire::{ExpireOptions, expire};
    let opts = ExpireOptions { older_than: std::time::Duration::ZERO, retain_last: 1 };
    let ident = table.identifier();
    let first = expire(committer.catalog(), ident, opts, false, &ProgressBar::hidden()).await?;
    let cleanup = TableCommit {
        ident: ident.clone(),
        change: Change::Rewrite { remove: HashSet::new(), add: Vec::new(), operation: Operation::Replace },
        planned_after: Watermarks::new(),
        ends_at: Watermarks::new(),
        frontier: Frontier::new(),
        summary: BTreeMap::from([("floe.operation".to_string(), "forget-manifests".to_string())]),
        oldest_arrival_micros: None,
        rebase: None,
    };
    committer.commit(cleanup).await?;
    let second = expire(committer.catalog(), ident, opts, false, &ProgressBar::hidden()).await?;
    out.snapshots_expired = first.snapshots_expired + second.snapshots_expired;
    out.files_deleted = first.data_files_deleted + second.data_files_deleted;
    Ok(())
}

/// Rewrite the bronze objects of `stream` holding records that contain a value, without them.
pub async fn forget_bronze(
    store: &BronzeStore,
    stream: &str,
    req: &ForgetRequest,
    zstd_level: i32,
    dry_run: bool,
    bar: &ProgressBar,
) -> Result<BronzeErasure> {
    let ac = req.raw_matcher()?;
    let objects = store.list(stream).await?;
    bar.inc_length(objects.len() as u64);
    let mut out = BronzeErasure::default();
    for o in objects {
        out.objects_scanned += 1;
        bar.inc(1);
        let bytes = store.get(&o.location).await?;
        let epoch = encode::lease_epoch(&bytes, o.key.format);
        let batches = encode::decode(bytes, o.key.format)?;
        let mut kept = Vec::with_capacity(batches.len());
        let mut removed = 0u64;
        for b in &batches {
            let data = encode::column::<BinaryArray>(b, col::DATA)?;
            let keep: Vec<bool> = (0..data.len()).map(|i| !(data.is_valid(i) && ac.is_match(data.value(i)))).collect();
            removed += keep.iter().filter(|k| !**k).count() as u64;
            kept.push(filter_record_batch(b, &BooleanArray::from(keep))?);
        }
        if removed == 0 {
            continue;
        }
        out.objects_rewritten += 1;
        out.records_removed += removed;
        if !dry_run {
            let batch = arrow::compute::concat_batches(&encode::bronze_schema(), &kept)?;
            store.put(&o.key, encode::encode(&batch, o.key.format, zstd_level, epoch)?, epoch).await?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erasure_requests_parse_from_the_forms_operators_write() {
        let r = ForgetRequest::parse_where("user_id = 'u-123'").unwrap();
        assert_eq!((r.column.as_str(), r.values.clone()), ("user_id", vec!["u-123".to_string()]));
        let mut r = ForgetRequest::parse_where("user_id IN ('a', 'b') OR user_id = 'c'").unwrap();
        r.values.sort();
        assert_eq!(r.values, vec!["a", "b", "c"]);
        for bad in ["user_id = ", "user_id > 'a'", "user_id = 'a' OR email = 'b'", "user_id = other", "drop table x"] {
            assert!(ForgetRequest::parse_where(bad).is_err(), "{bad}");
        }
        // trailing text is not dropped: the whole --where must be the condition
        for bad in ["user_id = 1;DROP", "user_id = 'a'; user_id = 'b'", "user_id = 'a' user_id"] {
            assert!(ForgetRequest::parse_where(bad).is_err(), "{bad}");
        }
    }
}
