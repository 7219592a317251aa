//! Data contracts from Iglu: enriched events whose contexts and unstruct events are valid,
//! invalid, or name a schema no repository has, through the real binary with a resolver file
//! naming a local directory (tests/iglu/local) and a static registry served over HTTP from
//! 127.0.0.1 (tests/iglu/static) — and Snowplow's own Python Iglu client, pointed at the same
//! resolver file, agreeing event by event (tests/it/readers/iglu_compare.py).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::{Lake, assert_success, enriched_line, python, reader_with};

/// A static Iglu registry on 127.0.0.1, stopped when dropped; its request log goes to a file.
struct StaticRegistry {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl StaticRegistry {
    fn start(root: &Path, log: PathBuf) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/readers/static_registry.py");
        let err = std::fs::File::create(&log).expect("registry log");
        let mut child = Command::new(python())
            .arg(script)
            .arg(root)
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("start the static registry");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("registry port");
        let port = line.trim().parse().unwrap_or_else(|_| panic!("registry printed {line:?}"));
        Self { child, port, log }
    }
    fn requests(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter(|l| l.contains("GET /schemas/")).map(str::to_string).collect()
    }
}

impl Drop for StaticRegistry {
    fn drop(&mut self) {
        // best effort: the process may already be gone
        if self.child.kill().is_ok() {
            let _reaped = self.child.wait();
        }
    }
}

fn repo_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/iglu").join(name)
}

const UE: &str = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0";
const CTX: &str = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0";

/// The contract cases: (what, field, self-describing JSON, the verdict floe and the client give).
fn cases() -> Vec<(&'static str, &'static str, String, &'static str)> {
    let ue = |schema: &str, data: &str| format!(r#"{{"schema":"{UE}","data":{{"schema":"{schema}","data":{data}}}}}"#);
    let ctx =
        |schema: &str, data: &str| format!(r#"{{"schema":"{CTX}","data":[{{"schema":"{schema}","data":{data}}}]}}"#);
    let cart = "iglu:com.example/add_to_cart/jsonschema/1-0-0";
    vec![
        (
            "a valid add to cart",
            "unstruct_event",
            ue(cart, r#"{"sku":"SKU-1","quantity":2,"currency":"EUR"}"#),
            "valid",
        ),
        (
            "a quantity that is text",
            "unstruct_event",
            ue(cart, r#"{"sku":"SKU-1","quantity":"two"}"#),
            "schema_violation",
        ),
        ("no sku", "unstruct_event", ue(cart, r#"{"quantity":1}"#), "schema_violation"),
        (
            "a member the schema forbids",
            "unstruct_event",
            ue(cart, r#"{"sku":"S","quantity":1,"coupon":"X"}"#),
            "schema_violation",
        ),
        (
            "a schema no repository has",
            "unstruct_event",
            ue("iglu:com.example/wishlist/jsonschema/1-0-0", "{}"),
            "schema_not_found",
        ),
        (
            "a version no repository has",
            "unstruct_event",
            ue("iglu:com.example/add_to_cart/jsonschema/1-0-7", r#"{"sku":"S","quantity":1}"#),
            "schema_not_found",
        ),
        (
            "an empty link target (static registry)",
            "unstruct_event",
            ue("iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1", r#"{"targetUrl":""}"#),
            "schema_violation",
        ),
        (
            "a valid link click (static registry)",
            "unstruct_event",
            ue(
                "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1",
                r#"{"targetUrl":"https://x.example"}"#,
            ),
            "valid",
        ),
        (
            "an experiment variant out of range (a context)",
            "contexts",
            ctx("iglu:com.example/experiment/jsonschema/1-0-2", r#"{"name":"a","variant":12}"#),
            "schema_violation",
        ),
        (
            "an unknown derived context",
            "derived_contexts",
            ctx("iglu:com.acme.enrich/geo/jsonschema/1-0-0", "{}"),
            "schema_not_found",
        ),
    ]
}

#[test]
fn contracts_from_iglu_agree_with_snowplows_iglu_client() {
    let lake = Lake::new();
    let base = lake.enriched_base(5);
    let cases = cases();
    let lines: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(i, (_, field, json, _))| {
            enriched_line(&base, &format!("00000000-0000-4000-9000-{i:012}"), &[(field, json.clone())])
        })
        .collect();
    std::fs::write(lake.spool().join("contracts.tsv"), lines.join("\n") + "\n").expect("write cases");

    let registry = StaticRegistry::start(&repo_dir("static"), lake.dir.path().join("registry.log"));
    let resolver = lake.dir.path().join("resolver.json");
    let config = serde_json::json!({
        "schema": "iglu:com.snowplowanalytics.iglu/resolver-config/jsonschema/1-0-2",
        "data": {"cacheSize": 500, "cacheTtl": 600, "repositories": [
            {"name": "shop contracts", "priority": 1, "vendorPrefixes": ["com.example"],
             "connection": {"embedded": {"path": repo_dir("local")}}},
            {"name": "static registry", "priority": 0, "vendorPrefixes": ["com.snowplowanalytics"],
             "connection": {"http": {"uri": format!("http://127.0.0.1:{}", registry.port)}}}
        ]}
    });
    std::fs::write(&resolver, config.to_string()).expect("resolver file");

    let out = lake
        .floe()
        .env("FLOE_SILVER_TABLES", "snowplow_events")
        .env("FLOE_SILVER_IGLU_RESOLVER", &resolver)
        .args(["run", "--until-idle", "--json"])
        .output()
        .expect("spawn floe");
    assert_success(&out, &["run"]);
    let floe_requests = registry.requests();

    let args = [lake.catalog_db(), lake.warehouse(), lake.spool(), resolver.clone()];
    let cmp = reader_with("iglu_compare.py", &args);
    assert_eq!(cmp["mismatches"], serde_json::json!([]), "floe and Snowplow's Iglu client disagree");
    for (i, (what, _, _, want)) in cases.iter().enumerate() {
        assert_eq!(cmp["verdicts"][format!("contracts.tsv:{}", i + 1)], *want, "{what}");
    }
    let counts = &cmp["counts"];
    assert!(counts["valid"].as_u64().unwrap_or(0) > 1000, "the generated events are valid: {counts}");

    // the reasons name the schema and the place in the data
    let rows = lake.query(
        "SELECT reason, detail FROM snowplow_events_bad WHERE reason IN ('schema_violation', 'schema_not_found') ORDER BY detail",
    );
    let details: Vec<&str> = rows.iter().filter_map(|r| r["detail"].as_str()).collect();
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("unstruct_event iglu:com.example/add_to_cart/jsonschema/1-0-0 at /quantity: ")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("derived_contexts[0] iglu:com.acme.enrich/geo/jsonschema/1-0-0: not found in ")),
        "{details:?}"
    );
    // each schema is fetched once and cached: the registry saw a handful of requests, not one per
    // event (the schemas, and the earlier versions the per-schema columns look for)
    assert!(!floe_requests.is_empty() && floe_requests.len() <= 30, "{floe_requests:?}");
}
