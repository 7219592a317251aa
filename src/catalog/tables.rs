//! Table definitions: `catalog/<table>.toml` → Iceberg schema, partition spec and properties.
//! The definitions shipped with floe are compiled in; `silver.tables_dir` points at your own.
//!
//! A definition also says which input field each column comes from (`from`), which is how the
//! decoder learns the contract: required fields, JSON types, and which fields are unknown.

use std::collections::BTreeMap;
use std::path::Path;

use iceberg::spec::{NestedField, PrimitiveType, Schema, Transform, Type, UnboundPartitionSpec};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::TableName;

/// The definitions that ship with floe, by table name.
/// The first is the one loaded when `silver.tables` names none.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("events", include_str!("../../catalog/events.toml")),
    ("snowplow_events", include_str!("../../catalog/snowplow_events.toml")),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableDef {
    pub doc: Option<String>,
    /// The table that receives this table's rejected records.
    pub bad_rows_table: String,
    /// How the input records are decoded (`json`: one JSON object per record, the default;
    /// `snowplow-enriched-tsv`: Snowplow enriched events). `format` is accepted as its alias.
    #[serde(default, alias = "format")]
    pub decoder: DecoderKind,
    pub columns: Vec<ColumnDef>,
    #[serde(default)]
    pub partition: Vec<PartitionDef>,
    #[serde(default)]
    pub identifier: Vec<String>,
    pub dedup: Option<DedupDef>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    #[serde(skip)]
    pub name: String,
}

/// The input format of a table's records (`decoder = "…"` in its definition).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecoderKind {
    /// One JSON object per record, fields by name.
    #[default]
    Json,
    /// One Snowplow enriched event per record: the 131 atomic fields, tab-separated, in the
    /// canonical order; columns are atomic fields by name.
    SnowplowEnrichedTsv,
}

impl DecoderKind {
    /// The name a definition gives it (and a bad row's `format`).
    pub fn name(self) -> &'static str {
        match self {
            DecoderKind::Json => "json",
            DecoderKind::SnowplowEnrichedTsv => "snowplow-enriched-tsv",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDef {
    pub name: String,
    pub r#type: String,
    #[serde(default)]
    pub required: bool,
    pub doc: Option<String>,
    /// Where the value comes from: `input` (the JSON field of the same name; the default), `json`
    /// (the input field kept as JSON text, any JSON type), `extra` (every input field no column
    /// names, as one JSON object), or `derived` (computed by the SQL transform).
    #[serde(default = "default_from")]
    pub from: String,
}

fn default_from() -> String {
    "input".to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionDef {
    pub column: String,
    pub transform: String,
}

/// Dedup on `key` against rows committed within the lookback window around `time`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupDef {
    pub key: String,
    pub time: String,
}

impl TableDef {
    pub fn parse(name: &str, text: &str, origin: &str) -> Result<Self> {
        let def_err = |m: String| Error::Definition { path: origin.to_string(), message: m };
        TableName::new(name).map_err(|e| def_err(e.to_string()))?;
        let mut def: TableDef = toml::from_str(text).map_err(|e| def_err(e.message().to_string()))?;
        def.name = name.to_string();
        def.schema().map_err(|e| def_err(e.to_string()))?;
        def.partition_spec().map_err(|e| def_err(e.to_string()))?;
        for c in &def.columns {
            if !["input", "json", "extra", "derived"].contains(&c.from.as_str()) {
                return Err(def_err(format!(
                    "column {}: from = {:?}: expected input, json, extra or derived",
                    c.name, c.from
                )));
            }
            if def.decoder == DecoderKind::SnowplowEnrichedTsv {
                check_atomic(c).map_err(def_err)?;
            }
        }
        if let Some(d) = &def.dedup {
            for col in [&d.key, &d.time] {
                if !def.columns.iter().any(|c| &c.name == col) {
                    return Err(def_err(format!("dedup names column {col}, which the table does not have")));
                }
            }
        }
        TableName::new(def.bad_rows_table.clone()).map_err(|e| def_err(e.to_string()))?;
        Ok(def)
    }

    /// The Iceberg schema for a new table (field ids in column order, from 1).
    pub fn schema(&self) -> Result<Schema> {
        let mut fields = Vec::new();
        let mut ids = Vec::new();
        for (i, c) in self.columns.iter().enumerate() {
            let id = i as i32 + 1;
            let ty = Type::Primitive(primitive(&c.r#type).ok_or_else(|| {
                Error::invalid(format!(
                    "column {}: unknown type {:?} (use boolean, int, long, float, double, decimal(P,S), date, timestamp, timestamptz, string, binary)",
                    c.name, c.r#type
                ))
            })?);
            let mut f = if c.required {
                NestedField::required(id, &c.name, ty)
            } else {
                NestedField::optional(id, &c.name, ty)
            };
            if let Some(d) = &c.doc {
                f = f.with_doc(d);
            }
            if self.identifier.contains(&c.name) {
                ids.push(id);
            }
            fields.push(f.into());
        }
        if ids.len() != self.identifier.len() {
            return Err(Error::invalid("identifier names a column the table does not have"));
        }
        Ok(Schema::builder().with_schema_id(0).with_fields(fields).with_identifier_field_ids(ids).build()?)
    }

    pub fn partition_spec(&self) -> Result<UnboundPartitionSpec> {
        let mut b = UnboundPartitionSpec::builder();
        for p in &self.partition {
            let id = self
                .columns
                .iter()
                .position(|c| c.name == p.column)
                .ok_or_else(|| Error::invalid(format!("partition column {} is not a column", p.column)))?
                as i32
                + 1;
            let t = match p.transform.as_str() {
                "identity" => Transform::Identity,
                "year" => Transform::Year,
                "month" => Transform::Month,
                "day" => Transform::Day,
                "hour" => Transform::Hour,
                other => {
                    return Err(Error::invalid(format!(
                        "partition transform {other:?}: use identity, year, month, day or hour"
                    )));
                }
            };
            let name =
                if t == Transform::Identity { p.column.clone() } else { format!("{}_{}", p.column, p.transform) };
            b = b.add_partition_field(id, name, t)?;
        }
        Ok(b.build())
    }

    /// Names of the input fields the table knows (columns from `input` or `json`).
    pub fn input_columns(&self) -> impl Iterator<Item = &ColumnDef> {
        self.columns.iter().filter(|c| c.from == "input" || c.from == "json")
    }
}

fn primitive(s: &str) -> Option<PrimitiveType> {
    Some(match s {
        "boolean" => PrimitiveType::Boolean,
        "int" => PrimitiveType::Int,
        "long" => PrimitiveType::Long,
        "float" => PrimitiveType::Float,
        "double" => PrimitiveType::Double,
        "date" => PrimitiveType::Date,
        "timestamp" => PrimitiveType::Timestamp,
        "timestamptz" => PrimitiveType::Timestamptz,
        "string" => PrimitiveType::String,
        "binary" => PrimitiveType::Binary,
        other => {
            // decimal(P,S): P in 1..=38, S in 0..=P (Iceberg's bounds)
            let (p, sc) = other.strip_prefix("decimal(")?.strip_suffix(')')?.split_once(',')?;
            let (precision, scale): (u32, u32) = (p.trim().parse().ok()?, sc.trim().parse().ok()?);
            if !(1..=38).contains(&precision) || scale > precision {
                return None;
            }
            PrimitiveType::Decimal { precision, scale }
        }
    })
}

/// A column of an enriched-TSV table: an input column must be an atomic field, of a type its
/// checked text casts to.
fn check_atomic(c: &ColumnDef) -> std::result::Result<(), String> {
    use crate::model::snowplow::{ATOMIC_FIELDS, AtomicKind, atomic_index};
    if c.from == "extra" || c.from == "derived" {
        return match c.from.as_str() {
            "extra" => Err(format!("column {}: an enriched event has no unknown fields (from = \"extra\")", c.name)),
            _ => Ok(()),
        };
    }
    let Some(i) = atomic_index(&c.name) else {
        return Err(format!("column {}: not one of the 131 atomic fields of a Snowplow enriched event", c.name));
    };
    let kind = ATOMIC_FIELDS[i].1;
    let fits = match kind {
        AtomicKind::Text | AtomicKind::Contexts | AtomicKind::Unstruct => c.r#type == "string",
        AtomicKind::Int => ["int", "long", "string"].contains(&c.r#type.as_str()),
        AtomicKind::Double => ["double", "string"].contains(&c.r#type.as_str()),
        AtomicKind::Decimal => c.r#type.starts_with("decimal(") || ["double", "string"].contains(&c.r#type.as_str()),
        AtomicKind::Bool => ["boolean", "string"].contains(&c.r#type.as_str()),
        AtomicKind::Tstamp => ["timestamptz", "timestamp", "string"].contains(&c.r#type.as_str()),
    };
    match fits {
        true => Ok(()),
        false => Err(format!(
            "column {}: type {:?} does not hold the atomic field's values (Snowplow types it {})",
            c.name,
            c.r#type,
            kind.iceberg_type()
        )),
    }
}

/// The tables this configuration loads (`silver.tables`): the named definitions, in that order;
/// with no names, every definition in `dir`, or the first built-in one (`events`).
pub fn load_defs_named(dir: Option<&Path>, names: Option<&[String]>) -> Result<Vec<TableDef>> {
    let all = load_defs(dir)?;
    let Some(names) = names else {
        return Ok(match dir {
            Some(_) => all,
            None => all.into_iter().take(1).collect(),
        });
    };
    if names.is_empty() {
        return Err(Error::invalid("silver.tables is empty: name at least one table"));
    }
    names
        .iter()
        .map(|n| {
            all.iter().find(|d| &d.name == n).cloned().ok_or_else(|| {
                let known: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
                Error::invalid(format!(
                    "silver.tables names {n:?}, which has no definition (known: {})",
                    known.join(", ")
                ))
            })
        })
        .collect()
}

/// Every table definition: from `dir` when given (every `*.toml`), else the built-in ones.
pub fn load_defs(dir: Option<&Path>) -> Result<Vec<TableDef>> {
    let mut defs = Vec::new();
    match dir {
        None => {
            for (name, text) in BUILT_IN {
                defs.push(TableDef::parse(name, text, &format!("(built-in) catalog/{name}.toml"))?);
            }
        }
        Some(dir) => {
            let mut paths: Vec<_> = std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            paths.sort();
            for p in paths {
                let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
                let name = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
                defs.push(TableDef::parse(&name, &text, &p.display().to_string())?);
            }
        }
    }
    if defs.is_empty() {
        return Err(Error::invalid("no table definitions found"));
    }
    Ok(defs)
}

/// The bad-rows table every source table sends its rejects to. Its shape is fixed, the same for
/// every table and format, so that tooling (and people) can rely on it: the rule that failed
/// (`reason`), the message (`detail`), the record as received, where it came from (shard,
/// sequence, bronze object) and, for contract failures, the schema. Columns are only ever added
/// (optional), so tables created by an older floe evolve on start.
pub fn bad_rows_schema() -> Result<Schema> {
    let s = |t| Type::Primitive(t);
    let fields = vec![
        NestedField::required(1, "reason", s(PrimitiveType::String))
            .with_doc("the rule that failed, e.g. invalid_json"),
        NestedField::optional(2, "detail", s(PrimitiveType::String))
            .with_doc("what exactly failed (field name, parser message)"),
        NestedField::required(3, "raw", s(PrimitiveType::Binary)).with_doc("the record exactly as received"),
        NestedField::required(4, "source_shard_id", s(PrimitiveType::String)),
        NestedField::required(5, "source_sequence_number", s(PrimitiveType::String)),
        NestedField::required(6, "source_sub_sequence", s(PrimitiveType::Long)),
        NestedField::required(7, "arrival_tstamp", s(PrimitiveType::Timestamptz)),
        NestedField::required(8, "failed_tstamp", s(PrimitiveType::Timestamptz)),
        NestedField::optional(9, "format", s(PrimitiveType::String))
            .with_doc("the record format the table decodes: json or snowplow-enriched-tsv"),
        NestedField::optional(10, "schema_key", s(PrimitiveType::String))
            .with_doc("the Iglu schema the failure is about (data-contract and per-schema-column rules)"),
        NestedField::optional(11, "bronze_object", s(PrimitiveType::String))
            .with_doc("the bronze object the record was read from: where to re-drive it from"),
    ];
    Ok(Schema::builder().with_schema_id(0).with_fields(fields.into_iter().map(Into::into)).build()?)
}

pub fn bad_rows_partition_spec() -> Result<UnboundPartitionSpec> {
    Ok(UnboundPartitionSpec::builder().add_partition_field(7, "arrival_tstamp_day", Transform::Day)?.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_definitions_parse() {
        let defs = load_defs(None).unwrap();
        let events = defs.iter().find(|d| d.name == "events").unwrap();
        assert_eq!(events.bad_rows_table, "events_bad");
        assert!(events.schema().unwrap().field_by_name("collector_tstamp").is_some());
        assert_eq!(events.partition_spec().unwrap().fields().len(), 1);
        bad_rows_schema().unwrap();
    }

    #[test]
    fn the_snowplow_table_takes_every_atomic_field_with_its_type() {
        let defs = load_defs_named(None, Some(&["snowplow_events".to_string()])).unwrap();
        let d = &defs[0];
        assert_eq!(d.decoder, DecoderKind::SnowplowEnrichedTsv);
        assert_eq!(d.input_columns().count(), crate::model::snowplow::ATOMIC_FIELD_COUNT);
        for (c, (name, kind)) in d.input_columns().zip(crate::model::snowplow::ATOMIC_FIELDS) {
            assert_eq!((c.name.as_str(), c.r#type.as_str()), (name, kind.iceberg_type()));
        }
        let schema = d.schema().unwrap();
        let tr_total = schema.field_by_name("tr_total").unwrap();
        assert_eq!(*tr_total.field_type, Type::Primitive(PrimitiveType::Decimal { precision: 18, scale: 2 }));
        assert_eq!(d.partition_spec().unwrap().fields().len(), 2);
        assert_eq!(load_defs_named(None, None).unwrap().len(), 1, "events alone by default");
        let e = load_defs_named(None, Some(&["nope".to_string()])).unwrap_err().to_string();
        assert!(e.contains("\"nope\"") && e.contains("known: events, snowplow_events"), "{e}");
    }

    #[test]
    fn an_enriched_table_names_atomic_fields_only() {
        let t = "bad_rows_table = \"x_bad\"\ndecoder = \"snowplow-enriched-tsv\"\n[[columns]]\nname = \"tenant\"\ntype = \"string\"\n";
        let e = TableDef::parse("x", t, "x.toml").unwrap_err().to_string();
        assert!(e.contains("column tenant: not one of the 131 atomic fields"), "{e}");
        let t = t.replace("tenant", "txn_id").replace("\"string\"", "\"boolean\"");
        let e = TableDef::parse("x", &t, "x.toml").unwrap_err().to_string();
        assert!(e.contains("Snowplow types it int"), "{e}");
        assert_eq!(primitive("decimal(18, 2)"), Some(PrimitiveType::Decimal { precision: 18, scale: 2 }));
        assert_eq!(primitive("decimal(2,3)"), None);
    }

    #[test]
    fn unknown_type_is_a_clear_error() {
        let t = "bad_rows_table = \"x_bad\"\n[[columns]]\nname = \"a\"\ntype = \"varchar\"\n";
        let e = TableDef::parse("x", t, "x.toml").unwrap_err().to_string();
        assert!(e.contains("x.toml") && e.contains("unknown type \"varchar\""), "{e}");
    }
}
