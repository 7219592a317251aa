//! Which per-schema columns a batch needs, and of which type: the entities its rows carry,
//! grouped by family (envelope, vendor, name, model), typed from their Iglu schemas and merged
//! into the table's columns.
//!
//! A version's type is decided by the registry alone, never by which events came first: it is
//! the merge of every version of its model up to itself (`1-0-0`, `1-0-1`, …, `1-1-0`, … as the
//! registry has them), lower versions that do not merge left out. So the same bronze gives the
//! same rows and the same bad rows on every retry and on every worker, whatever the batch
//! boundaries, and an admitted version always merges into a column built from admitted ones.

use std::collections::BTreeMap;

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use iceberg::spec::{ListType, NestedField, PrimitiveType, Schema, StructType, Type};
use serde_json::Value;

use super::naming::{SCHEMA_VERSION, column_name};
use super::typing::{merge, numbered, shape};
use crate::error::{Error, Result};
use crate::iglu::Envelope;
use crate::iglu::resolver::Resolved;
use crate::model::snowplow::SchemaKey;
use crate::silver::sql::REASON;

/// Additions of one revision probed at most, looking for a version's predecessors.
const MAX_ADDITIONS: u32 = 200;

/// A column family: the entities of one schema model in one envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub envelope: Envelope,
    pub vendor: String,
    pub name: String,
    pub format: String,
    pub model: u32,
}

impl Family {
    pub fn uri(&self, version: [u32; 3]) -> String {
        let [m, r, a] = version;
        format!("iglu:{}/{}/{}/{m}-{r}-{a}", self.vendor, self.name, self.format)
    }

    pub fn column(&self) -> String {
        let uri = self.uri([self.model, 0, 0]);
        SchemaKey::parse(&uri).map(|k| column_name(self.envelope, &k)).unwrap_or_default()
    }
}

/// One entity of one row.
pub struct Found {
    pub family: usize,
    pub version: [u32; 3],
    /// Which table column it came from (`contexts[2]`, `unstruct_event`), for a bad row.
    pub at: String,
    pub data: Value,
}

/// The entities of a batch's rows (rows already rejected carry none).
pub struct Parsed {
    pub families: Vec<Family>,
    /// Per result batch, per row.
    pub rows: Vec<Vec<Vec<Found>>>,
}

impl Parsed {
    /// Every (family, version) the batch holds, in order.
    pub fn versions(&self) -> BTreeMap<(usize, [u32; 3]), ()> {
        self.rows.iter().flatten().flatten().map(|f| ((f.family, f.version), ())).collect()
    }
}

/// Read the self-describing entities out of `fields` (table columns of JSON text) for every row
/// the SQL kept. The contracts already checked their shape; what does not parse is skipped.
pub fn parse(result: &[RecordBatch], fields: &[(String, Envelope)]) -> Result<Parsed> {
    let mut families: Vec<Family> = Vec::new();
    let mut rows = Vec::with_capacity(result.len());
    for batch in result {
        let reason = batch.column_by_name(REASON).ok_or_else(|| Error::invalid("the result has no reason column"))?;
        let mut texts = Vec::new();
        for (name, envelope) in fields {
            if let Some(c) = batch.column_by_name(name) {
                let c = cast(c, &DataType::Utf8)?;
                texts.push((name.as_str(), *envelope, c));
            }
        }
        let mut per_row = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let mut found = Vec::new();
            if reason.is_null(i) {
                for (name, envelope, c) in &texts {
                    let Some(c) = c.as_any().downcast_ref::<StringArray>() else { continue };
                    if !c.is_null(i) {
                        entities_of(name, *envelope, c.value(i), &mut families, &mut found);
                    }
                }
            }
            per_row.push(found);
        }
        rows.push(per_row);
    }
    Ok(Parsed { families, rows })
}

fn entities_of(field: &str, envelope: Envelope, text: &str, families: &mut Vec<Family>, out: &mut Vec<Found>) {
    let Ok(Value::Object(mut outer)) = serde_json::from_str::<Value>(text) else { return };
    let Some(data) = outer.remove("data") else { return };
    let list: Vec<(String, Value)> = match (envelope, data) {
        (Envelope::Unstruct, d) => vec![(field.to_string(), d)],
        (Envelope::Contexts, Value::Array(items)) => {
            items.into_iter().enumerate().map(|(i, e)| (format!("{field}[{i}]"), e)).collect()
        }
        (Envelope::Contexts, _) => return,
    };
    for (at, entity) in list {
        let Value::Object(mut entity) = entity else { continue };
        let (Some(Value::String(uri)), Some(data)) = (entity.remove("schema"), entity.remove("data")) else {
            continue;
        };
        let Some(key) = SchemaKey::parse(&uri) else { continue };
        let family = Family {
            envelope,
            vendor: key.vendor.to_string(),
            name: key.name.to_string(),
            format: key.format.to_string(),
            model: key.version[0],
        };
        let idx = match families.iter().position(|f| *f == family) {
            Some(i) => i,
            None => {
                families.push(family);
                families.len() - 1
            }
        };
        out.push(Found { family: idx, version: key.version, at, data });
    }
}

/// What a batch's entities need of the table.
pub struct Plan {
    /// The column of each family (by index into [`Parsed::families`]) as it must be; `None`:
    /// the family is not given a column (its schema is unknown and `missing_schema = "load"`,
    /// or it is not an object).
    pub columns: Vec<Option<NestedField>>,
    /// Versions whose events become bad rows, and why.
    pub rejected: BTreeMap<(usize, [u32; 3]), String>,
    /// The table schema with the columns added or widened; `None` when it has them all.
    pub schema: Option<Schema>,
}

/// Plan the columns of `parsed` against `current` (the table's schema, `last_column_id` its
/// metadata's). Blocking: schemas are resolved.
pub fn plan(
    parsed: &Parsed,
    current: &Schema,
    last_column_id: i32,
    resolve: &dyn Fn(&str) -> Result<Resolved>,
) -> Result<Plan> {
    let mut next_id = last_column_id + 1;
    let mut columns: Vec<Option<NestedField>> = vec![None; parsed.families.len()];
    let mut rejected = BTreeMap::new();
    let mut changed = false;
    for ((family_idx, version), ()) in parsed.versions() {
        let family = &parsed.families[family_idx];
        let contribution = match accumulated(family, version, resolve)? {
            Accumulated::Type(t) => wrap(family.envelope, t),
            Accumulated::Untyped => continue,
            Accumulated::Rejected(why) => {
                rejected.insert((family_idx, version), why);
                continue;
            }
        };
        let name = family.column();
        let slot = &mut columns[family_idx];
        let existing = slot.clone().or_else(|| current.field_by_name(&name).map(|f| (**f).clone()));
        match existing {
            Some(col) => match merge(&col.field_type, &contribution, &mut next_id) {
                Ok(t) if t == *col.field_type => *slot = Some(col),
                Ok(t) => {
                    changed = true;
                    *slot = Some(NestedField::optional(col.id, name, t).with_doc(doc(family)));
                }
                Err(why) => {
                    rejected.insert((family_idx, version), format!("cannot join column {name}: {why}"));
                }
            },
            None => {
                changed = true;
                let id = next_id;
                next_id += 1;
                let t = numbered(&contribution, &mut next_id);
                *slot = Some(NestedField::optional(id, name, t).with_doc(doc(family)));
            }
        }
    }
    let schema = match changed {
        false => None,
        true => Some(evolved(current, &columns)?),
    };
    Ok(Plan { columns, rejected, schema })
}

fn doc(family: &Family) -> String {
    let what = match family.envelope {
        Envelope::Unstruct => "the self-describing event",
        Envelope::Contexts => "the contexts",
    };
    format!("{what} of iglu:{}/{}/{}/{}-*-*", family.vendor, family.name, family.format, family.model)
}

/// `current` with each planned column replacing its namesake or appended.
fn evolved(current: &Schema, columns: &[Option<NestedField>]) -> Result<Schema> {
    let mut fields: Vec<_> = current.as_struct().fields().to_vec();
    for col in columns.iter().flatten() {
        match fields.iter_mut().find(|f| f.name == col.name) {
            Some(f) => *f = col.clone().into(),
            None => fields.push(col.clone().into()),
        }
    }
    Ok(Schema::builder()
        .with_schema_id(current.schema_id() + 1)
        .with_identifier_field_ids(current.identifier_field_ids())
        .with_fields(fields)
        .build()?)
}

/// The column type an entity contributes: the struct itself for an unstruct event; a list of
/// it, each element with its `_schema_version`, for contexts.
fn wrap(envelope: Envelope, t: Type) -> Type {
    match envelope {
        Envelope::Unstruct => t,
        Envelope::Contexts => {
            let mut fields =
                vec![NestedField::required(0, SCHEMA_VERSION, Type::Primitive(PrimitiveType::String)).into()];
            if let Type::Struct(s) = t {
                fields.extend(s.fields().iter().filter(|f| f.name != SCHEMA_VERSION).cloned());
            }
            Type::List(ListType::new(NestedField::list_element(0, Type::Struct(StructType::new(fields)), true).into()))
        }
    }
}

enum Accumulated {
    Type(Type),
    /// No column: the schema is unknown or not an object.
    Untyped,
    Rejected(String),
}

/// The merge of every version of `version`'s model up to it, as the registry has them.
fn accumulated(family: &Family, version: [u32; 3], resolve: &dyn Fn(&str) -> Result<Resolved>) -> Result<Accumulated> {
    let [model, revision, addition] = version;
    let mut acc: Option<Type> = None;
    let mut scratch_ids = 0;
    for r in 0..=revision {
        for a in 0..=MAX_ADDITIONS {
            let is_target = (r, a) == (revision, addition);
            let schema = match resolve(&family.uri([model, r, a]))? {
                Resolved::Schema(s) => s,
                Resolved::NotFound(_) if is_target => return Ok(Accumulated::Untyped),
                Resolved::Unusable(why) if is_target => return Ok(Accumulated::Rejected(why)),
                Resolved::NotFound(_) => break,
                Resolved::Unusable(_) => continue,
            };
            let t = match shape(&schema.raw).0 {
                t @ Type::Struct(_) => t,
                _ if is_target => return Ok(Accumulated::Untyped),
                _ => continue,
            };
            acc = match acc.take() {
                None => Some(t),
                Some(prev) => match merge(&prev, &t, &mut scratch_ids) {
                    Ok(m) => Some(m),
                    Err(why) if is_target => {
                        let [m, r, a] = version;
                        return Ok(Accumulated::Rejected(format!(
                            "{m}-{r}-{a} changes a type of an earlier {m}-*-* version: {why}"
                        )));
                    }
                    Err(_) => Some(prev),
                },
            };
            if is_target {
                return Ok(acc.map_or(Accumulated::Untyped, Accumulated::Type));
            }
        }
    }
    Ok(Accumulated::Untyped)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, Schema as ArrowSchema};
    use iceberg::spec::NestedField;
    use serde_json::json;

    use super::*;
    use crate::iglu::resolver::Compiled;

    fn registry(uri: &str) -> Result<Resolved> {
        let props = match uri.rsplit('/').next().unwrap_or_default() {
            "1-0-0" => json!({"a": {"type": "string"}}),
            "1-0-1" => json!({"a": {"type": "string"}, "b": {"type": "integer"}}),
            "1-0-2" => json!({"b": {"type": "string"}}),
            "1-1-0" => json!({"a": {"type": "string"}, "b": {"type": "integer"}, "c": {"type": "boolean"}}),
            _ => return Ok(Resolved::NotFound("not in the test registry".into())),
        };
        let raw = json!({"type": "object", "properties": props, "required": ["a"]});
        let validator = jsonschema::options().build(&raw).map_err(|e| Error::invalid(e.to_string()))?;
        Ok(Resolved::Schema(Arc::new(Compiled { validator, raw })))
    }

    fn batch(versions: &[&str]) -> RecordBatch {
        let text = |v: &str| {
            json!({"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
                   "data": {"schema": format!("iglu:com.acme/cart/jsonschema/{v}"), "data": {"a": "x"}}})
            .to_string()
        };
        let schema = ArrowSchema::new(vec![
            Field::new(REASON, DataType::Utf8, true),
            Field::new("unstruct_event", DataType::Utf8, true),
        ]);
        let reasons: StringArray = versions.iter().map(|_| None::<&str>).collect();
        let texts: StringArray = versions.iter().map(|v| Some(text(v))).collect();
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(reasons), Arc::new(texts)]).unwrap()
    }

    #[test]
    fn a_versions_column_follows_the_registry_not_the_batch() {
        let fields = [("unstruct_event".to_string(), Envelope::Unstruct)];
        let table = Schema::builder()
            .with_fields(vec![NestedField::required(1, "event_id", Type::Primitive(PrimitiveType::String)).into()])
            .build()
            .unwrap();
        let parsed = parse(&[batch(&["1-1-0", "1-0-2", "1-0-0"])], &fields).unwrap();
        let p = plan(&parsed, &table, 1, &registry).unwrap();
        assert_eq!(p.rejected.len(), 1, "{:?}", p.rejected);
        let why = &p.rejected[&(0, [1, 0, 2])];
        assert!(why.starts_with("1-0-2 changes a type of an earlier 1-*-* version: b: long"), "{why}");
        let schema = p.schema.expect("a new column");
        let col = schema.field_by_name("unstruct_event_com_acme_cart_1").expect("the column");
        let Type::Struct(s) = &*col.field_type else { panic!("{col:?}") };
        let names: Vec<&str> = s.fields().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(s.fields()[0].required && !s.fields()[1].required);
        assert_eq!(col.id, 2, "ids follow the table's last column id");

        // a later batch with only the lower versions, against the evolved table: nothing to add,
        // and 1-0-2 is rejected the same way
        let parsed = parse(&[batch(&["1-0-2", "1-0-1"])], &fields).unwrap();
        let again = plan(&parsed, &schema, schema.highest_field_id(), &registry).unwrap();
        assert!(again.schema.is_none());
        assert_eq!(again.rejected.keys().collect::<Vec<_>>(), [&(0, [1, 0, 2])]);
    }
}
