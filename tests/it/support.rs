//! Test support: run the real `floe` binary against a temporary warehouse, and the independent
//! readers (pyiceberg, DuckDB) from the venv that scripts/test.sh prepares.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Lake {
    pub dir: tempfile::TempDir,
}

impl Lake {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("tempdir") }
    }
    pub fn warehouse(&self) -> PathBuf {
        self.dir.path().join("wh")
    }
    pub fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }
    /// A `floe` command bound to this lake, with small batches so tests exercise many objects
    /// and many commits.
    pub fn floe(&self) -> Command {
        let mut c = self.floe_bare();
        c.env("FLOE_BRONZE_FLUSH_RECORDS", "3000")
            .env("FLOE_BRONZE_FLUSH_INTERVAL", "1s")
            .env("FLOE_SILVER_BATCH_MAX_OBJECTS", "3")
            .env("FLOE_SILVER_INTERVAL", "200ms")
            .env("FLOE_SOURCE_POLL_INTERVAL", "100ms")
            .env("FLOE_SOURCE_READ_RECORDS", "1000")
            .env("RUST_LOG", "warn,floe=info");
        c
    }
    /// A `floe` command bound to this lake with no settings in the environment.
    pub fn floe_bare(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_floe"));
        c.arg("--warehouse").arg(self.warehouse()).arg("--spool").arg(self.spool());
        for (k, _) in std::env::vars() {
            if k.starts_with("FLOE_") {
                c.env_remove(k);
            }
        }
        c
    }
    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = self.floe().args(args).output().expect("spawn floe");
        assert_success(&out, args);
        String::from_utf8_lossy(&out.stdout).to_string()
    }
    /// `floe query --format json` → one serde_json object per row.
    pub fn query(&self, sql: &str) -> Vec<serde_json::Value> {
        let out = self.run_ok(&["query", "--format", "json", sql]);
        out.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("json row")).collect()
    }
    pub fn query_u64(&self, sql: &str) -> u64 {
        let rows = self.query(sql);
        let v = rows[0].as_object().and_then(|o| o.values().next().cloned()).expect("one value");
        v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
    }
    pub fn generate(&self, events: u64, shards: usize, dup: f64, bad: f64, seed: u64) -> serde_json::Value {
        let out = self.run_ok(&[
            "generate",
            "--json",
            "--events",
            &events.to_string(),
            "--shards",
            &shards.to_string(),
            "--duplicate-rate",
            &dup.to_string(),
            "--malformed-rate",
            &bad.to_string(),
            "--seed",
            &seed.to_string(),
        ]);
        serde_json::from_str(&out).expect("generate report")
    }
    pub fn catalog_db(&self) -> PathBuf {
        self.warehouse().join("catalog.db")
    }
}

pub fn assert_success(out: &Output, what: &[&str]) {
    assert!(
        out.status.success(),
        "floe {what:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Python of the test venv. Tests that need it fail (not skip) without it: the readers are
/// the point of those tests.
pub fn python() -> PathBuf {
    match std::env::var_os("FLOE_TEST_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => panic!("FLOE_TEST_PYTHON is not set: run the tests with scripts/test.sh, which prepares the venv"),
    }
}

/// Run a reader script from tests/it/readers with arguments; parse its JSON stdout.
pub fn reader(script: &str, args: &[&Path]) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/readers").join(script);
    let out = Command::new(python()).arg(&path).args(args).output().expect("spawn python");
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{script}: bad JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}
