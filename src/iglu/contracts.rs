//! Data contracts: every self-describing JSON an event carries (each context, the unstruct
//! event) is validated against the schema its key names, resolved from the Iglu repositories.
//! The outer wrappers (`…/contexts/…`, `…/unstruct_event/…`) are checked for shape only: they
//! are Snowplow's envelopes, not the user's contracts.

use std::path::Path;

use serde_json::Value;

use super::config::ResolverConfig;
use super::resolver::{Resolved, Resolver};
use crate::error::Result;
use crate::model::snowplow::SchemaKey;

/// The bad-row reasons a contract gives.
pub mod reasons {
    /// The data does not validate against its schema.
    pub const SCHEMA_VIOLATION: &str = "schema_violation";
    /// No repository holds the schema (with `silver.missing_schema = "bad_row"`).
    pub const SCHEMA_NOT_FOUND: &str = "schema_not_found";
    /// A repository holds the schema, but it is not valid JSON Schema.
    pub const INVALID_SCHEMA: &str = "invalid_schema";
    /// Not `{"schema": "iglu:…", "data": …}` of the field's shape.
    pub const INVALID_SELF_DESCRIBING: &str = "invalid_self_describing";
    /// A schema version whose fields cannot merge into its major version's column (a type
    /// change within a major version); see `silver::entities`.
    pub const INCOMPATIBLE_SCHEMA: &str = "incompatible_schema";
}

/// What to do with an entity whose schema no repository has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingSchema {
    /// A bad row (`schema_not_found`): the default, so nothing unvalidated reaches the table.
    BadRow,
    /// Keep the event; the JSON is loaded as sent, unvalidated.
    Load,
}

/// Which envelope a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// `data` is a list of self-describing entities (`contexts`, `derived_contexts`).
    Contexts,
    /// `data` is one self-describing entity (`unstruct_event`).
    Unstruct,
}

/// A contract an event broke: a reason above and what exactly failed.
pub type Violation = (&'static str, String);

#[derive(Debug)]
pub struct Contracts {
    resolver: Resolver,
    missing: MissingSchema,
}

impl Contracts {
    /// Contracts from a resolver file (call from async code: the resolver keeps the runtime).
    pub fn load(resolver_file: &Path, missing: MissingSchema) -> Result<Self> {
        Ok(Self { resolver: Resolver::new(ResolverConfig::load(resolver_file)?)?, missing })
    }

    pub fn new(config: ResolverConfig, missing: MissingSchema) -> Result<Self> {
        Ok(Self { resolver: Resolver::new(config)?, missing })
    }

    /// The schema for `key` as the registries hold it (blocking; see `resolver`).
    pub fn resolve(&self, key: &SchemaKey<'_>, uri: &str) -> Result<Resolved> {
        self.resolver.resolve(key, uri)
    }

    /// Check the self-describing JSON text of `field`. `Err`: a registry did not answer (the
    /// batch must wait, not reject); `Ok(Err(v))`: the event breaks a contract.
    pub fn check(&self, field: &str, envelope: Envelope, text: &str) -> Result<std::result::Result<(), Violation>> {
        let shape = |why: &str| Ok(Err((reasons::INVALID_SELF_DESCRIBING, format!("{field}: {why}"))));
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return shape(&format!("not JSON: {e}")),
        };
        let Some(data) = value.get("data") else {
            return shape("no \"data\" member");
        };
        let entities: Vec<(String, &Value)> = match envelope {
            Envelope::Unstruct => vec![(field.to_string(), data)],
            Envelope::Contexts => match data.as_array() {
                Some(list) => list.iter().enumerate().map(|(i, e)| (format!("{field}[{i}]"), e)).collect(),
                None => return shape("\"data\" is not a list of contexts"),
            },
        };
        for (at, entity) in entities {
            let (Some(uri), Some(data)) = (entity.get("schema").and_then(Value::as_str), entity.get("data")) else {
                return shape(&format!("{at} is not {{\"schema\": …, \"data\": …}}"));
            };
            let Some(key) = SchemaKey::parse(uri) else {
                return shape(&format!("{at}: {uri:?} is not an Iglu schema key"));
            };
            match self.resolver.resolve(&key, uri)? {
                Resolved::Schema(schema) => {
                    if let Some(e) = schema.validator.iter_errors(data).next() {
                        let pointer = e.instance_path().to_string();
                        let pointer = if pointer.is_empty() { "/".to_string() } else { pointer };
                        return Ok(Err((reasons::SCHEMA_VIOLATION, format!("{at} {uri} at {pointer}: {e}"))));
                    }
                }
                Resolved::NotFound(why) if self.missing == MissingSchema::BadRow => {
                    return Ok(Err((reasons::SCHEMA_NOT_FOUND, format!("{at} {uri}: {why}"))));
                }
                Resolved::NotFound(_) => {}
                Resolved::Unusable(why) => return Ok(Err((reasons::INVALID_SCHEMA, format!("{at} {uri}: {why}")))),
            }
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iglu::config::{Location, Repository};

    fn registry() -> (tempfile::TempDir, ResolverConfig) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("schemas/com.acme/cart/jsonschema");
        std::fs::create_dir_all(&p).unwrap();
        let schema = r#"{"$schema":"http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0#",
          "self":{"vendor":"com.acme","name":"cart","format":"jsonschema","version":"1-0-0"},
          "type":"object","properties":{"sku":{"type":"string"},"quantity":{"type":"integer","minimum":1}},
          "required":["sku"],"additionalProperties":false}"#;
        std::fs::write(p.join("1-0-0"), schema).unwrap();
        std::fs::write(p.join("1-0-1"), "{not json").unwrap();
        let repo = Repository {
            name: "local".into(),
            priority: 0,
            vendor_prefixes: vec![],
            location: Location::Directory(dir.path().to_path_buf()),
        };
        (dir, ResolverConfig { repositories: vec![repo], cache_ttl: None })
    }

    fn ue(uri: &str, data: &str) -> String {
        format!(
            r#"{{"schema":"iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0","data":{{"schema":"{uri}","data":{data}}}}}"#
        )
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn entities_are_checked_against_their_schemas() {
        let (_dir, config) = registry();
        let c = Contracts::new(config.clone(), MissingSchema::BadRow).unwrap();
        let check = |env, text: &str| tokio::task::block_in_place(|| c.check("f", env, text).unwrap());
        let cart = "iglu:com.acme/cart/jsonschema/1-0-0";
        assert_eq!(check(Envelope::Unstruct, &ue(cart, r#"{"sku":"a","quantity":2}"#)), Ok(()));
        let (reason, detail) = check(Envelope::Unstruct, &ue(cart, r#"{"sku":"a","quantity":0}"#)).unwrap_err();
        assert_eq!(reason, reasons::SCHEMA_VIOLATION);
        assert!(detail.starts_with("f iglu:com.acme/cart/jsonschema/1-0-0 at /quantity: "), "{detail}");
        let ctx = format!(
            r#"{{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0","data":[{{"schema":"{cart}","data":{{"sku":"a"}}}},{{"schema":"{cart}","data":{{}}}}]}}"#
        );
        let (reason, detail) = check(Envelope::Contexts, &ctx).unwrap_err();
        assert_eq!(reason, reasons::SCHEMA_VIOLATION);
        assert!(detail.starts_with("f[1] "), "{detail}");
        let unknown = "iglu:com.acme/other/jsonschema/1-0-0";
        let (reason, detail) = check(Envelope::Unstruct, &ue(unknown, "{}")).unwrap_err();
        assert_eq!(
            (reason, detail.as_str()),
            (reasons::SCHEMA_NOT_FOUND, "f iglu:com.acme/other/jsonschema/1-0-0: not found in local")
        );
        assert_eq!(
            check(Envelope::Unstruct, &ue("iglu:com.acme/cart/jsonschema/1-0-1", "{}")).unwrap_err().0,
            reasons::INVALID_SCHEMA
        );
        assert_eq!(
            check(Envelope::Contexts, r#"{"schema":"x","data":{}}"#).unwrap_err().0,
            reasons::INVALID_SELF_DESCRIBING
        );
        let lenient = Contracts::new(config, MissingSchema::Load).unwrap();
        assert_eq!(
            tokio::task::block_in_place(|| lenient.check("f", Envelope::Unstruct, &ue(unknown, "{}")).unwrap()),
            Ok(())
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_registry_that_does_not_answer_is_an_error_not_a_bad_row() {
        let repo = Repository {
            name: "down".into(),
            priority: 0,
            vendor_prefixes: vec![],
            location: Location::Http { uri: "http://127.0.0.1:9".into(), api_key: None },
        };
        let c = Contracts::new(ResolverConfig { repositories: vec![repo], cache_ttl: None }, MissingSchema::BadRow)
            .unwrap();
        let r = tokio::task::block_in_place(|| {
            c.check("f", Envelope::Unstruct, &ue("iglu:com.acme/cart/jsonschema/1-0-0", "{}"))
        });
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("down: GET http://127.0.0.1:9/schemas/com.acme/cart/jsonschema/1-0-0 failed 3 times"),
            "{e}"
        );
    }
}
