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
