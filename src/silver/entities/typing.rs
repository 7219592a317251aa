//! JSON Schema → Iceberg type, and the merge of two versions' types into one column.
//!
//! The mapping is the Lake Loader's, simplified where Iceberg has one obvious type: `string`
//! (with `format: date-time` → `timestamptz`, `format: date` → `date`), `integer` → `long`,
//! `number` → `double`, `boolean`, `object` with `properties` → a struct of its properties
//! (snake-cased, in name order), `array` with one `items` schema → a list. Anything else — no
//! `type`, several types (except `integer`+`number` → `double`), an object without properties,
//! a tuple array — is kept as its JSON text in a `string`. `"null"` among the types, or a
//! property not in `required`, makes the field optional.
//!
//! Merging (`merge`) only ever adds: a field one version lacks becomes optional, a new field is
//! added as optional, and the same field with another type is an error: that version's events
//! become bad rows (`incompatible_schema`), the column stays as it is.

use std::collections::BTreeSet;

use iceberg::spec::{ListType, NestedField, NestedFieldRef, PrimitiveType, StructType, Type};
use serde_json::Value;

use super::naming::snake_case;

/// The Iceberg type of a JSON Schema (field ids 0: [`merge`] numbers new fields), and whether a
/// value of it may be null.
pub fn shape(schema: &Value) -> (Type, bool) {
    let string = Type::Primitive(PrimitiveType::String);
    let (types, nullable) = types_of(schema);
    let ty = match types.as_slice() {
        ["string"] => match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => Type::Primitive(PrimitiveType::Timestamptz),
            Some("date") => Type::Primitive(PrimitiveType::Date),
            _ => string,
        },
        ["integer"] => Type::Primitive(PrimitiveType::Long),
        ["number"] | ["integer", "number"] | ["number", "integer"] => Type::Primitive(PrimitiveType::Double),
        ["boolean"] => Type::Primitive(PrimitiveType::Boolean),
        ["object"] => object(schema).unwrap_or(string),
        ["array"] => match schema.get("items") {
            Some(items) if items.is_object() => {
                let (element, element_nullable) = shape(items);
                Type::List(ListType::new(NestedField::list_element(0, element, !element_nullable).into()))
            }
            _ => string,
        },
        _ => string,
    };
    (ty, nullable)
}

/// The JSON types a schema allows (without `"null"`), and whether it allows null. A schema with
/// no `type` but an `enum` takes the types of its values.
fn types_of(schema: &Value) -> (Vec<&'static str>, bool) {
    let named = |t: &str| -> Option<&'static str> {
        ["string", "integer", "number", "boolean", "object", "array", "null"].into_iter().find(|n| *n == t)
    };
    let mut types: Vec<&'static str> = match schema.get("type") {
        Some(Value::String(t)) => named(t).into_iter().collect(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter_map(named).collect(),
        _ => match schema.get("enum").and_then(Value::as_array) {
            Some(values) => values
                .iter()
                .map(|v| match v {
                    Value::Null => "null",
                    Value::Bool(_) => "boolean",
                    Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                    Value::Number(_) => "number",
                    Value::String(_) => "string",
                    Value::Array(_) => "array",
                    Value::Object(_) => "object",
                })
                .collect(),
            None => Vec::new(),
        },
    };
    types.sort_unstable();
    types.dedup();
    let nullable = types.contains(&"null");
    types.retain(|t| *t != "null");
    (types, nullable || schema.get("type").is_none() && schema.get("enum").is_none())
}

/// A struct of an object schema's properties; `None` when it has none (kept as JSON text).
fn object(schema: &Value) -> Option<Type> {
    let props = schema.get("properties")?.as_object()?;
    if props.is_empty() {
        return None;
    }
    let required: BTreeSet<&str> =
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let mut names: Vec<&String> = props.keys().collect();
    names.sort();
    let mut fields: Vec<NestedFieldRef> = Vec::with_capacity(names.len());
    for name in names {
        let snake = snake_case(name);
        // two properties that snake-case alike: the first (in name order) has the column
        if fields.iter().any(|f| f.name == snake) {
            continue;
        }
        let (ty, nullable) = shape(&props[name]);
        let required = required.contains(name.as_str()) && !nullable;
        fields.push(NestedField::new(0, snake, ty, required).into());
    }
    Some(Type::Struct(StructType::new(fields)))
}

/// `existing` with what `new` adds (fields numbered from `next_id`), or why they cannot merge.
pub fn merge(existing: &Type, new: &Type, next_id: &mut i32) -> Result<Type, String> {
    match (existing, new) {
        (Type::Primitive(a), Type::Primitive(b)) if a == b => Ok(existing.clone()),
        (Type::Struct(a), Type::Struct(b)) => {
            let mut fields: Vec<NestedFieldRef> = Vec::with_capacity(a.fields().len());
            for f in a.fields() {
                let field = match b.fields().iter().find(|n| n.name == f.name) {
                    Some(n) => {
                        let ty = merge(&f.field_type, &n.field_type, next_id).map_err(|e| at(&f.name, e))?;
                        with(f, ty, f.required && n.required)
                    }
                    None => with(f, (*f.field_type).clone(), false),
                };
                fields.push(field.into());
            }
            for n in b.fields().iter().filter(|n| a.field_by_name(&n.name).is_none()) {
                let ty = numbered(&n.field_type, next_id);
                fields.push(NestedField::new(take(next_id), n.name.clone(), ty, false).into());
            }
            Ok(Type::Struct(StructType::new(fields)))
        }
        (Type::List(a), Type::List(b)) => {
            let (ea, eb) = (&a.element_field, &b.element_field);
            let ty = merge(&ea.field_type, &eb.field_type, next_id).map_err(|e| at("[]", e))?;
            Ok(Type::List(ListType::new(with(ea, ty, ea.required && eb.required).into())))
        }
        _ => Err(format!("{} in the column, {} in this version", describe(existing), describe(new))),
    }
}

/// `t` with every field numbered from `next_id` (a column or field new to the table).
pub fn numbered(t: &Type, next_id: &mut i32) -> Type {
    match t {
        Type::Primitive(_) => t.clone(),
        Type::Struct(s) => Type::Struct(StructType::new(
            s.fields()
                .iter()
                .map(|f| {
                    let id = take(next_id);
                    NestedField::new(id, f.name.clone(), numbered(&f.field_type, next_id), f.required).into()
                })
                .collect(),
        )),
        Type::List(l) => {
            let id = take(next_id);
            let element = numbered(&l.element_field.field_type, next_id);
            Type::List(ListType::new(NestedField::list_element(id, element, l.element_field.required).into()))
        }
        Type::Map(_) => t.clone(),
    }
}

fn take(next_id: &mut i32) -> i32 {
    let id = *next_id;
    *next_id += 1;
    id
}

fn with(f: &NestedField, ty: Type, required: bool) -> NestedField {
    let mut field = NestedField::new(f.id, f.name.clone(), ty, required);
    field.doc = f.doc.clone();
    field
}

fn at(name: &str, e: String) -> String {
    if e.starts_with('/') || e.starts_with('[') { format!("{name}/{e}") } else { format!("{name}: {e}") }
}

fn describe(t: &Type) -> String {
    match t {
        Type::Primitive(p) => p.to_string(),
        Type::Struct(_) => "an object".into(),
        Type::List(_) => "an array".into(),
        Type::Map(_) => "a map".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn struct_of(t: &Type) -> &StructType {
        match t {
            Type::Struct(s) => s,
            other => panic!("not a struct: {other}"),
        }
    }

    #[test]
    fn json_schema_types_map_to_iceberg_types() {
        let schema = json!({
            "type": "object",
            "properties": {
                "sku": {"type": "string", "maxLength": 10},
                "unitPrice": {"type": ["number", "null"]},
                "quantity": {"type": "integer"},
                "inStock": {"type": "boolean"},
                "addedAt": {"type": "string", "format": "date-time"},
                "day": {"type": "string", "format": "date"},
                "color": {"enum": ["red", "blue"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "dims": {"type": "object", "properties": {"widthCm": {"type": "number"}}, "required": ["widthCm"]},
                "free": {"type": "object"},
                "either": {"type": ["string", "integer"]}
            },
            "required": ["sku", "unitPrice", "quantity", "color"]
        });
        let (t, nullable) = shape(&schema);
        assert!(!nullable);
        let s = struct_of(&t);
        let names: Vec<&str> = s.fields().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["added_at", "color", "day", "dims", "either", "free", "in_stock", "quantity", "sku", "tags", "unit_price"]
        );
        let field = |n: &str| s.field_by_name(n).unwrap();
        assert_eq!(*field("added_at").field_type, Type::Primitive(PrimitiveType::Timestamptz));
        assert_eq!(*field("day").field_type, Type::Primitive(PrimitiveType::Date));
        assert_eq!(*field("quantity").field_type, Type::Primitive(PrimitiveType::Long));
        assert!(field("quantity").required && field("sku").required && field("color").required);
        assert!(!field("unit_price").required, "null among the types makes it optional");
        assert_eq!(*field("unit_price").field_type, Type::Primitive(PrimitiveType::Double));
        assert_eq!(*field("free").field_type, Type::Primitive(PrimitiveType::String), "no properties: JSON text");
        assert_eq!(*field("either").field_type, Type::Primitive(PrimitiveType::String));
        assert!(matches!(*field("tags").field_type, Type::List(_)));
        assert!(struct_of(&field("dims").field_type).field_by_name("width_cm").unwrap().required);
    }

    #[test]
    fn versions_merge_by_adding_and_refuse_type_changes() {
        let v1 = shape(&json!({"type":"object","properties":{"a":{"type":"string"}},"required":["a"]})).0;
        let v2 = shape(
            &json!({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"required":["a","b"]}),
        )
        .0;
        let mut next = 10;
        let column = numbered(&v1, &mut next);
        assert_eq!(next, 11);
        let merged = merge(&column, &v2, &mut next).unwrap();
        let s = struct_of(&merged);
        assert_eq!(s.field_by_name("a").unwrap().id, 10, "existing fields keep their ids");
        assert!(s.field_by_name("a").unwrap().required);
        let b = s.field_by_name("b").unwrap();
        assert_eq!((b.id, b.required), (11, false), "a field new to the column is optional");
        // merging the older version again changes nothing
        assert_eq!(merge(&merged, &v1, &mut next).unwrap(), merged);
        let changed = shape(&json!({"type":"object","properties":{"b":{"type":"string"}}})).0;
        let e = merge(&merged, &changed, &mut next).unwrap_err();
        assert_eq!(e, "b: long in the column, string in this version");
    }
}
