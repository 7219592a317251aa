//! The Glue entry of an Iceberg table, shaped as Iceberg's own Java catalog writes it — what
//! Athena, Trino, Spark and pyiceberg expect: `table_type = ICEBERG`, `metadata_location`,
//! `previous_metadata_location`, the table location, and the current schema's columns mirrored
//! into the storage descriptor with Hive types (so Athena's schema view and crawlers agree).

use aws_sdk_glue::types::{Column, StorageDescriptor, TableInput};
use iceberg::spec::{NestedField, PrimitiveType, TableMetadata, Type};
use iceberg::{Error, ErrorKind, Result};

/// Glue table parameter naming the table format (Athena and Trino look for `ICEBERG`).
pub const TABLE_TYPE_PROP: &str = "table_type";
pub const METADATA_LOCATION_PROP: &str = "metadata_location";
pub const PREVIOUS_METADATA_LOCATION_PROP: &str = "previous_metadata_location";
/// Namespace property carrying the database location (Iceberg's convention).
pub const LOCATION_PROP: &str = "location";
pub const COMMENT_PROP: &str = "comment";

/// The Glue `TableInput` of an Iceberg table: parameters Athena/Trino read, location, columns.
pub fn table_input(name: &str, metadata: &TableMetadata, location: &str, previous: Option<&str>) -> Result<TableInput> {
    let mut input = TableInput::builder()
        .name(name)
        .table_type("EXTERNAL_TABLE")
        .parameters(TABLE_TYPE_PROP, "ICEBERG")
        .parameters(METADATA_LOCATION_PROP, location)
        .storage_descriptor(storage_descriptor(metadata)?);
    if let Some(previous) = previous {
        input = input.parameters(PREVIOUS_METADATA_LOCATION_PROP, previous);
    }
    if let Some(comment) = metadata.properties().get(COMMENT_PROP) {
        input = input.description(comment);
    }
    input.build().map_err(|e| Error::new(ErrorKind::DataInvalid, format!("Glue table input for {name}: {e}")))
}

fn storage_descriptor(metadata: &TableMetadata) -> Result<StorageDescriptor> {
    let columns =
        metadata.current_schema().as_struct().fields().iter().map(|f| glue_column(f)).collect::<Result<Vec<_>>>()?;
    Ok(StorageDescriptor::builder().location(metadata.location()).set_columns(Some(columns)).build())
}

/// One storage-descriptor column, with the field id and optionality Iceberg's Java catalog records.
fn glue_column(field: &NestedField) -> Result<Column> {
    let mut col = Column::builder()
        .name(&field.name)
        .r#type(hive_type(&field.field_type))
        .parameters("iceberg.field.id", field.id.to_string())
        .parameters("iceberg.field.optional", (!field.required).to_string())
        .parameters("iceberg.field.current", "true");
    if let Some(doc) = &field.doc {
        col = col.comment(doc);
    }
    col.build().map_err(|e| Error::new(ErrorKind::DataInvalid, format!("Glue column {}: {e}", field.name)))
}

/// The Hive type name Glue, Athena and crawlers use for an Iceberg type.
pub fn hive_type(t: &Type) -> String {
    match t {
        Type::Primitive(p) => match p {
            PrimitiveType::Boolean => "boolean".into(),
            PrimitiveType::Int => "int".into(),
            PrimitiveType::Long => "bigint".into(),
            PrimitiveType::Float => "float".into(),
            PrimitiveType::Double => "double".into(),
            PrimitiveType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            PrimitiveType::Date => "date".into(),
            PrimitiveType::Timestamp
            | PrimitiveType::Timestamptz
            | PrimitiveType::TimestampNs
            | PrimitiveType::TimestamptzNs => "timestamp".into(),
            PrimitiveType::Time | PrimitiveType::String | PrimitiveType::Uuid => "string".into(),
            PrimitiveType::Fixed(_) | PrimitiveType::Binary => "binary".into(),
        },
        Type::Struct(s) => {
            let fields: Vec<String> =
                s.fields().iter().map(|f| format!("{}:{}", f.name, hive_type(&f.field_type))).collect();
            format!("struct<{}>", fields.join(","))
        }
        Type::List(l) => format!("array<{}>", hive_type(&l.element_field.field_type)),
        Type::Map(m) => format!("map<{},{}>", hive_type(&m.key_field.field_type), hive_type(&m.value_field.field_type)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::spec::{ListType, MapType, StructType};

    #[test]
    fn hive_types_match_what_athena_reads() {
        let p = |t| Type::Primitive(t);
        assert_eq!(hive_type(&p(PrimitiveType::Timestamptz)), "timestamp");
        assert_eq!(hive_type(&p(PrimitiveType::Long)), "bigint");
        assert_eq!(hive_type(&p(PrimitiveType::Decimal { precision: 10, scale: 2 })), "decimal(10,2)");
        assert_eq!(hive_type(&p(PrimitiveType::Uuid)), "string");
        let inner = StructType::new(vec![
            NestedField::required(3, "a", p(PrimitiveType::Int)).into(),
            NestedField::optional(4, "b", p(PrimitiveType::String)).into(),
        ]);
        let list = Type::List(ListType::new(NestedField::list_element(5, Type::Struct(inner), true).into()));
        assert_eq!(hive_type(&list), "array<struct<a:int,b:string>>");
        let map = Type::Map(MapType::new(
            NestedField::map_key_element(6, p(PrimitiveType::String)).into(),
            NestedField::map_value_element(7, p(PrimitiveType::Double), false).into(),
        ));
        assert_eq!(hive_type(&map), "map<string,double>");
    }
}
