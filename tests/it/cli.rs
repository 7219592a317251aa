//! The command line explains itself.

use crate::support::Lake;

#[test]
fn every_subcommand_has_help_with_an_example() {
    let lake = Lake::new();
    for sub in ["run", "generate", "query", "status", "check", "init"] {
        let out = lake.floe().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Example"), "{sub} --help has no example:\n{text}");
    }
}

#[test]
fn init_creates_the_tables_and_is_idempotent() {
    let lake = Lake::new();
    let first = lake.run_ok(&["init"]);
    assert!(first.contains("created   events") && first.contains("created   events_bad"), "{first}");
    let second = lake.run_ok(&["init"]);
    assert!(second.contains("unchanged events"), "{second}");
    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), 0);
}

/// A table made before its definition named a property (the metrics modes that keep user ids out
/// of manifests) gets it from the next `floe init`; one already set is left alone.
#[test]
fn init_adds_the_properties_an_existing_table_lacks() {
    let lake = Lake::new();
    lake.run_ok(&["init"]);
    let key = "write.metadata.metrics.column.user_id";
    let props = |remove: &[&str]| {
        let (db, wh) = (lake.catalog_db(), lake.warehouse().join("warehouse"));
        let mut args = vec![db.to_str().unwrap().to_string(), wh.to_str().unwrap().to_string(), "events".to_string()];
        args.extend(remove.iter().map(|s| s.to_string()));
        crate::support::reader_with("pyiceberg_properties_sql.py", &args)
    };
    assert_eq!(props(&[])[key], "none");
    assert!(props(&[key]).get(key).is_none(), "pyiceberg removed it");
    let out = lake.run_ok(&["init"]);
    assert!(out.contains("events (properties: ") && out.contains(key), "{out}");
    assert_eq!(props(&[])[key], "none");
    assert!(lake.run_ok(&["init"]).contains("unchanged events"));
}

#[test]
fn shipped_example_configs_pass_check() {
    let lake = Lake::new();
    for example in ["examples/floe.local.toml", "examples/floe.aws.toml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(example);
        let out = lake.floe_bare().arg("--config").arg(&path).arg("check").output().unwrap();
        crate::support::assert_success(&out, &["check", example]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("table       events") && text.contains("transform"), "{text}");
    }
}

/// An error is printed once, with each cause once — not DataFusion's chain of the same message.
#[test]
fn errors_say_each_cause_once_and_help_names_each_variable_once() {
    let lake = Lake::new();
    lake.run_ok(&["init"]);
    for (sql, message) in
        [("SELEC 1", "found: SELEC at Line: 1, Column: 1"), ("SELECT * FROM nope", "table 'floe.floe.nope' not found")]
    {
        let out = lake.floe().args(["query", sql]).output().unwrap();
        assert!(!out.status.success(), "{sql}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.matches(message).count(), 1, "{sql}: {stderr}");
        assert_eq!(stderr.lines().filter(|l| l.starts_with("error:")).count(), 1, "{stderr}");
    }
    let out = lake.floe_bare().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(help.matches("env: FLOE_CONFIG").count(), 1, "{help}");
}
