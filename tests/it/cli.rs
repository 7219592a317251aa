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
