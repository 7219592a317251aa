//! Test support: run the real `floe` binary against a temporary warehouse, and the independent
//! readers (pyiceberg, DuckDB) from the venv that scripts/test.sh prepares.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use floe::model::snowplow::{ATOMIC_FIELD_COUNT, atomic_index};

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
            .env("FLOE_SILVER_COMMIT_INTERVAL", "500ms")
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
        self.generate_format("json", events, shards, dup, bad, seed)
    }
    /// [`Lake::generate`] in a record format of `floe generate --format`.
    pub fn generate_format(
        &self,
        format: &str,
        events: u64,
        shards: usize,
        dup: f64,
        bad: f64,
        seed: u64,
    ) -> serde_json::Value {
        let out = self.run_ok(&[
            "generate",
            "--format",
            format,
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
    /// The fields of a valid enriched page view from `floe generate` (the base hand-made
    /// enriched lines change). The generated spool files stay in the spool.
    pub fn enriched_base(&self, seed: u64) -> Vec<String> {
        let report = self.generate_format("snowplow-enriched-tsv", 1500, 2, 0.02, 0.02, seed);
        let file = report["files"][0].as_str().expect("a spool file");
        let text = String::from_utf8_lossy(&std::fs::read(file).expect("spool file")).into_owned();
        let line = text.lines().find(|l| l.split('\t').count() == ATOMIC_FIELD_COUNT && l.contains("\tpage_view\t"));
        line.expect("a valid page view").split('\t').map(str::to_string).collect()
    }
}

/// `base` (enriched-event fields) with the event id and the `set` fields (by atomic name) replaced.
pub fn enriched_line(base: &[String], event_id: &str, set: &[(&str, String)]) -> String {
    let mut f = base.to_vec();
    f[atomic_index("event_id").unwrap_or(6)] = event_id.to_string();
    for (name, value) in set {
        f[atomic_index(name).unwrap_or_else(|| panic!("{name} is not an atomic field"))] = value.clone();
    }
    f.join("\t")
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

/// Run a reader script from tests/it/readers with path arguments; parse its JSON stdout.
pub fn reader(script: &str, args: &[&Path]) -> serde_json::Value {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|p| p.as_os_str()).collect();
    reader_with(script, &args)
}

/// Run a reader script with arguments of any kind; parse its JSON stdout.
pub fn reader_with<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/readers").join(script);
    let out = Command::new(python()).arg(&path).args(args).output().expect("spawn python");
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{script}: bad JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// A lake on the AWS stand-in (strict moto started by scripts/test.sh): a fresh bucket for
/// bronze and the warehouse and a fresh Glue database, so tests never share state.
pub struct AwsLake {
    pub lake: Lake,
    pub endpoint: String,
    pub bucket: String,
    pub database: String,
}

impl AwsLake {
    pub fn new(tag: &str) -> Self {
        let endpoint = std::env::var("FLOE_TEST_MOTO_ENDPOINT").unwrap_or_else(|_| {
            panic!(
                "FLOE_TEST_MOTO_ENDPOINT is not set: run the tests with scripts/test.sh, which starts the AWS stand-in"
            )
        });
        Self::on(&endpoint, tag)
    }

    /// A lake on the stand-in at `endpoint` (a test's own server).
    pub fn on(endpoint: &str, tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let endpoint = endpoint.to_string();
        let n = N.fetch_add(1, Ordering::Relaxed);
        let unique = format!("{}-{n}-{}", std::process::id(), uuid_suffix());
        let bucket = format!("floe-{tag}-{unique}");
        let database = format!("floe_{tag}_{}", unique.replace('-', "_"));
        reader_with("aws_admin.py", &[endpoint.as_str(), "create-bucket", &bucket]);
        Self { lake: Lake::new(), endpoint, bucket, database }
    }

    /// `floe` configured for Glue + S3 on the stand-in (source stays the local spool).
    pub fn floe(&self) -> Command {
        let mut c = self.lake.floe();
        self.configure(&mut c);
        c
    }

    pub fn configure(&self, c: &mut Command) {
        c.env("FLOE_CATALOG_TYPE", "glue")
            .env("FLOE_CATALOG_NAMESPACE", &self.database)
            .env("FLOE_CATALOG_WAREHOUSE", format!("s3://{}/warehouse", self.bucket))
            .env("FLOE_BRONZE_LOCATION", format!("s3://{}/bronze", self.bucket))
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE");
    }

    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = self.floe().args(args).output().expect("spawn floe");
        assert_success(&out, args);
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// What pyiceberg's GlueCatalog sees (tests/it/readers/pyiceberg_glue.py).
    pub fn pyiceberg(&self, extra_column: Option<&str>) -> serde_json::Value {
        let mut args = vec![self.endpoint.as_str(), self.database.as_str()];
        args.extend(extra_column);
        reader_with("pyiceberg_glue.py", &args)
    }

    /// What DuckDB's iceberg_scan sees of the metadata file Glue points at.
    pub fn duckdb(&self, metadata_location: &str, extra_column: Option<&str>) -> serde_json::Value {
        let mut args = vec![self.endpoint.as_str(), metadata_location];
        args.extend(extra_column);
        reader_with("duckdb_iceberg.py", &args)
    }

    pub fn glue_table(&self, table: &str) -> serde_json::Value {
        reader_with("aws_admin.py", &[self.endpoint.as_str(), "glue-table", &self.database, table])
    }
}

fn uuid_suffix() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{nanos:08x}")
}

/// A strict moto server of the test's own (for tests that stop it), on a free port of 127.0.0.1;
/// killed on drop.
pub struct OwnStandIn {
    pub child: std::process::Child,
    pub endpoint: String,
}

impl OwnStandIn {
    pub fn start() -> Self {
        let python = std::env::var_os("FLOE_TEST_STANDINS_PYTHON")
            .unwrap_or_else(|| panic!("FLOE_TEST_STANDINS_PYTHON is not set: run the tests with scripts/test.sh"));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standins/moto_strict.py");
        let child = Command::new(python)
            .arg(script)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto");
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < std::time::Duration::from_secs(30), "moto did not start on port {port}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Self { child, endpoint: format!("http://127.0.0.1:{port}") }
    }

    /// Freeze (SIGSTOP) or resume (SIGCONT) the server: a catalog that stops answering.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().expect("kill").success();
        assert!(ok, "kill {sig} failed");
    }
}

impl Drop for OwnStandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
