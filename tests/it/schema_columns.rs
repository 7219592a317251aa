//! One column per schema, the Lake Loader way, through the real binary and read back by
//! pyiceberg and DuckDB (tests/it/readers/entity_columns.py): the columns appear when their
//! schemas are first seen (a struct for the unstruct event, a list of structs for contexts),
//! rows committed before read them as null, a minor version adds its field to the same column,
//! and a version that changes a type is a bad row while the column stays as it was.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Lake, assert_success, enriched_line, reader_with};

const UE: &str = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0";
const CTX: &str = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0";
const CART: &str = "unstruct_event_com_acme_add_to_cart_1";
const PRODUCT: &str = "contexts_com_acme_product_1";

fn put_schema(root: &Path, name: &str, version: &str, properties: Value, required: &[&str]) {
    let dir = root.join("schemas/com.acme").join(name).join("jsonschema");
    std::fs::create_dir_all(&dir).expect("registry dir");
    let schema = json!({
        "$schema": "http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0#",
        "self": {"vendor": "com.acme", "name": name, "format": "jsonschema", "version": version},
        "type": "object", "properties": properties, "required": required, "additionalProperties": false
    });
    std::fs::write(dir.join(version), schema.to_string()).expect("write schema");
}

fn cart(version: &str, data: Value) -> String {
    json!({"schema": UE, "data": {"schema": format!("iglu:com.acme/addToCart/jsonschema/{version}"), "data": data}})
        .to_string()
}

fn products(items: &[Value]) -> String {
    let data: Vec<Value> =
        items.iter().map(|d| json!({"schema": "iglu:com.acme/product/jsonschema/1-0-0", "data": d})).collect();
    json!({"schema": CTX, "data": data}).to_string()
}

fn run(lake: &Lake, resolver: &Path, file: &str, lines: &[String]) {
    std::fs::write(lake.spool().join(file), lines.join("\n") + "\n").expect("write spool");
    let out = lake
        .floe()
        .env("FLOE_SILVER_TABLES", "snowplow_events")
        .env("FLOE_SILVER_IGLU_RESOLVER", resolver)
        .args(["run", "--until-idle", "--json"])
        .output()
        .expect("spawn floe");
    assert_success(&out, &["run", file]);
}

#[test]
fn each_schema_gets_a_typed_column_that_minor_versions_widen() {
    let lake = Lake::new();
    let base = lake.enriched_base(21);
    let none = |id: &str| {
        enriched_line(
            &base,
            id,
            &[("contexts", String::new()), ("unstruct_event", String::new()), ("derived_contexts", String::new())],
        )
    };
    let registry = lake.dir.path().join("registry");
    put_schema(
        &registry,
        "addToCart",
        "1-0-0",
        json!({"sku": {"type": "string"}, "quantity": {"type": "integer"}, "addedAt": {"type": "string", "format": "date-time"}}),
        &["sku", "quantity"],
    );
    put_schema(
        &registry,
        "product",
        "1-0-0",
        json!({"id": {"type": "string"}, "unitPrice": {"type": ["number", "null"]}}),
        &["id"],
    );
    let resolver = lake.dir.path().join("resolver.json");
    let config = json!({
        "schema": "iglu:com.snowplowanalytics.iglu/resolver-config/jsonschema/1-0-2",
        "data": {"cacheSize": 500, "cacheTtl": 600, "repositories": [
            {"name": "acme", "priority": 0, "vendorPrefixes": ["com.acme"],
             "connection": {"embedded": {"path": registry}}}
        ]}
    });
    std::fs::write(&resolver, config.to_string()).expect("resolver file");
    let id = |n: u32| format!("00000000-0000-4000-a000-{n:012}");

    // 1. events without entities: committed before any per-schema column exists
    run(&lake, &resolver, "1-plain.tsv", &[none(&id(1)), none(&id(2))]);

    // 2. the first add-to-cart events, with product contexts
    let with = |n: u32, ue: String, ctx: String| {
        enriched_line(&base, &id(n), &[("unstruct_event", ue), ("contexts", ctx), ("derived_contexts", String::new())])
    };
    run(
        &lake,
        &resolver,
        "2-first.tsv",
        &[
            with(
                3,
                cart("1-0-0", json!({"sku": "SKU-1", "quantity": 2, "addedAt": "2026-12-01T10:00:00+01:00"})),
                products(&[json!({"id": "p1", "unitPrice": 9.5}), json!({"id": "p2", "unitPrice": null})]),
            ),
            with(4, cart("1-0-0", json!({"sku": "SKU-2", "quantity": 1})), String::new()),
        ],
    );

    // 3. a minor version adds a field; a later one changes a type
    put_schema(
        &registry,
        "addToCart",
        "1-0-1",
        json!({"sku": {"type": "string"}, "quantity": {"type": "integer"}, "addedAt": {"type": "string", "format": "date-time"}, "coupon": {"type": "string"}}),
        &["sku", "quantity"],
    );
    put_schema(
        &registry,
        "addToCart",
        "1-0-2",
        json!({"sku": {"type": "string"}, "quantity": {"type": "string"}}),
        &["sku"],
    );
    run(
        &lake,
        &resolver,
        "3-minor.tsv",
        &[
            with(5, cart("1-0-1", json!({"sku": "SKU-3", "quantity": 5, "coupon": "WINTER"})), String::new()),
            with(6, cart("1-0-2", json!({"sku": "SKU-4", "quantity": "five"})), String::new()),
        ],
    );

    let seen = reader_with("entity_columns.py", &[lake.catalog_db(), lake.warehouse()]);
    let ty = |col: &str| seen["types"][col].as_str().unwrap_or_else(|| panic!("no column {col}: {seen}")).to_string();
    let cart_type = ty(CART);
    assert!(cart_type.starts_with("struct<"), "{cart_type}");
    for field in
        ["added_at: optional timestamptz", "coupon: optional string", "quantity: required long", "sku: required string"]
    {
        assert!(cart_type.contains(field), "{field} in {cart_type}");
    }
    let product_type = ty(PRODUCT);
    assert!(product_type.starts_with("list<"), "{product_type}");
    for field in ["_schema_version: required string", "id: required string", "unit_price: optional double"] {
        assert!(product_type.contains(field), "{field} in {product_type}");
    }
    let py = &seen["pyiceberg"];
    assert_eq!(py, &seen["duckdb"], "pyiceberg and DuckDB read the per-schema columns alike");
    for n in [1, 2] {
        assert_eq!(py[id(n)][CART], "null", "a row committed before the column reads it as null");
        assert_eq!(py[id(n)][PRODUCT], "null");
    }
    let value =
        |n: u32, col: &str| -> Value { serde_json::from_str(py[id(n)][col].as_str().expect("a value")).expect("json") };
    assert_eq!(
        value(3, CART),
        json!({"sku": "SKU-1", "quantity": 2, "added_at": "2026-12-01T09:00:00+00:00", "coupon": null})
    );
    assert_eq!(
        value(3, PRODUCT),
        json!([
            {"_schema_version": "1-0-0", "id": "p1", "unit_price": 9.5},
            {"_schema_version": "1-0-0", "id": "p2", "unit_price": null}
        ])
    );
    assert_eq!(value(4, PRODUCT), Value::Null);
    assert_eq!(value(5, CART)["coupon"], "WINTER", "the minor version's field is in the same column");
    assert!(py.get(id(6)).is_none(), "a type change is not loaded");
    let bad: Vec<(String, String)> = serde_json::from_value(seen["bad"].clone()).expect("bad rows");
    let changed: Vec<&(String, String)> = bad.iter().filter(|(r, _)| r == "incompatible_schema").collect();
    assert_eq!(changed.len(), 1, "{bad:?}");
    let detail = &changed[0].1;
    assert!(
        detail.starts_with("unstruct_event iglu:com.acme/addToCart/jsonschema/1-0-2: ") && detail.contains("quantity"),
        "{detail}"
    );
}
