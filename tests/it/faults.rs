//! Faults at every AWS service floe talks to: tests/standins/aws_faults.py sits between floe and
//! strict moto (S3, Glue, DynamoDB) and between floe and kinesis-local, and answers every n-th
//! request with a 500, a throttling error, a reset connection, a late answer, or — worst — a lost
//! answer to a request the server applied (a put, a conditional lease write or a Glue
//! `UpdateTable` that succeeded but looked failed). floe retries through all of it and still ends
//! with every record once: bronze exactly once per (shard, sequence, sub-sequence), silver one row
//! per valid event id, every malformed record one bad row, all read back around the proxies.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::kinesis::{endpoint as kinesis_endpoint, tool};
use crate::ops::{Daemon, get};
use crate::support::{AwsLake, assert_success};

/// The kinds aws_faults.py injects, each as often as the others.
const KINDS: [&str; 5] = ["server_error", "throttle", "reset", "delay", "lost_answer"];

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// aws_faults.py in front of `upstream`, faulting every `every`-th request: (proxy, its endpoint).
pub(crate) fn start_fault_proxy(upstream: &str, every: u32) -> (Daemon, String) {
    start_fault_proxy_with(upstream, every, &[])
}

/// As [`start_fault_proxy`], with more arguments for aws_faults.py (`--only TARGET:KIND`).
fn start_fault_proxy_with(upstream: &str, every: u32, more: &[&str]) -> (Daemon, String) {
    let python = std::env::var_os("FLOE_TEST_STANDINS_PYTHON")
        .unwrap_or_else(|| panic!("FLOE_TEST_STANDINS_PYTHON is not set: run the tests with scripts/test.sh"));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standins/aws_faults.py");
    let mut proxy = Daemon(
        Command::new(python)
            .arg(script)
            .args([upstream, &every.to_string(), "1.5"])
            .args(more)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(proxy.0.stdout.as_mut().unwrap()), &mut line).unwrap();
    let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("aws_faults.py printed {line:?}, not its port"));
    (proxy, format!("http://127.0.0.1:{port}"))
}

/// What a proxy injected (GET /__faults).
pub(crate) fn faults_of(endpoint: &str) -> Value {
    let port: u16 = endpoint.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap();
    serde_json::from_str(&get(port, "/__faults").expect("the fault proxy answers").1).unwrap()
}

/// `floe` reading `stream` from Kinesis at `kinesis`, with bronze on S3, tables on Glue and
/// leases in DynamoDB all at `moto` — each through its own per-service endpoint, as in AWS.
pub(crate) fn on_aws(aws: &AwsLake, stream: &str, kinesis: &str, moto: &str) -> Command {
    let mut c = aws.lake.floe();
    c.env("FLOE_SOURCE_TYPE", "kinesis")
        .env("FLOE_SOURCE_STREAM", stream)
        .env("FLOE_SOURCE_POLL_INTERVAL", "200ms")
        .env("FLOE_CHECKPOINT_TYPE", "dynamodb")
        .env("FLOE_CHECKPOINT_TABLE", format!("leases-{}", aws.database))
        .env("FLOE_CATALOG_TYPE", "glue")
        .env("FLOE_CATALOG_NAMESPACE", &aws.database)
        .env("FLOE_CATALOG_WAREHOUSE", format!("s3://{}/warehouse", aws.bucket))
        .env("FLOE_BRONZE_LOCATION", format!("s3://{}/bronze", aws.bucket))
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_ENDPOINT_URL_KINESIS", kinesis)
        .env("AWS_ENDPOINT_URL_S3", moto)
        .env("AWS_ENDPOINT_URL_GLUE", moto)
        .env("AWS_ENDPOINT_URL_DYNAMODB", moto)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE");
    c
}

#[test]
fn faults_at_every_aws_service_lose_nothing_and_double_nothing() {
    let aws = AwsLake::new("flt");
    let lake = &aws.lake;
    let report = lake.generate(4_000, 1, 0.03, 0.03, 71);
    let records = n(&report["records"]);
    let spool_file = std::fs::read_dir(lake.spool()).unwrap().next().unwrap().unwrap().path();
    let stream = format!("floe-flt-{}", std::process::id());
    tool(&["create", &stream, "2"]);
    let puts = vec![tool(&["put", &stream, spool_file.to_str().unwrap(), "0", &records.to_string(), "4"])];
    std::fs::remove_dir_all(lake.spool()).unwrap();

    let (_moto_proxy, moto) = start_fault_proxy(&aws.endpoint, 7);
    // a run makes few Kinesis calls (a few dozen here): every other one is faulted
    let (_kinesis_proxy, kinesis) = start_fault_proxy(&kinesis_endpoint(), 2);
    let floe = || on_aws(&aws, &stream, &kinesis, &moto);
    assert_success(&floe().arg("init").output().unwrap(), &["init (through the fault proxies)"]);
    let out = floe().args(["run", "--until-idle", "--json"]).output().unwrap();
    let (at_moto, at_kinesis) = (faults_of(&moto), faults_of(&kinesis));
    assert_success(&out, &["run --until-idle (through the fault proxies)", &format!("{at_moto} {at_kinesis}")]);

    // every kind was injected, at moto's three services and at Kinesis
    for kind in KINDS {
        assert!(
            n(&at_moto["by_kind"][kind]) > 0 && n(&at_kinesis["by_kind"][kind]) > 0,
            "{kind}: {at_moto} {at_kinesis}"
        );
    }
    for service in ["s3", "glue", "dynamodb"] {
        let hit: u64 = KINDS.iter().filter_map(|k| at_moto["by_service"][service][k].as_u64()).sum();
        assert!(hit > 0, "no fault reached {service}: {at_moto}");
    }

    // read back around the proxies: bronze every acknowledged record once, silver every valid
    // event once, every malformed record one bad row with its reason
    let mut figures = crate::torture::reconcile(&aws, &report, &puts);
    figures["test"] = json!("faults at S3, Glue, DynamoDB and Kinesis");
    figures["faults"] = json!({"moto": at_moto, "kinesis": at_kinesis});
    crate::torture::summary(&figures);
    assert_eq!((figures["lost"].clone(), figures["duplicated"].clone()), (json!(0), json!(0)), "{figures}");
    assert_eq!(figures["bad_by_reason"], figures["want_bad_by_reason"], "{figures}");
}

/// A Glue `UpdateTable` that was applied but whose answer was lost is retried by the SDK itself,
/// and the retry is refused: the `VersionId` it names was moved — by the commit itself. floe saw
/// a plain conflict, reloaded, found its shards "already covered" and deleted the data files of
/// the commit that had landed: the table then named files that were gone (found by the crash
/// loop under faults, `torture.rs`). Every other commit's answer is lost here; the tables must
/// read back whole.
#[test]
fn an_update_table_whose_answer_was_lost_keeps_its_files() {
    let aws = AwsLake::new("lost");
    let report = aws.lake.generate(3_000, 2, 0.03, 0.03, 73);
    let (_proxy, glue) = start_fault_proxy_with(&aws.endpoint, 2, &["--only", "AWSGlue.UpdateTable:lost_answer"]);
    let floe = || {
        let mut c = aws.floe();
        c.env("AWS_ENDPOINT_URL_GLUE", &glue).env("FLOE_SILVER_COMMIT_INTERVAL", "0s");
        c
    };
    assert_success(&floe().arg("init").output().unwrap(), &["init"]);
    let out = floe().args(["run", "--until-idle", "--json"]).output().unwrap();
    let faults = faults_of(&glue);
    assert_success(&out, &["run --until-idle (UpdateTable answers lost)", &faults.to_string()]);
    assert!(n(&faults["by_kind"]["lost_answer"]) >= 2, "both tables lost a commit answer: {faults}");

    // pyiceberg through Glue reads every file the tables name
    let py = aws.pyiceberg(None);
    let malformed: u64 = report["malformed_by_reason"].as_object().unwrap().values().map(n).sum();
    assert_eq!(n(&py["events_distinct_ids"]), n(&report["unique_valid"]), "{py}");
    assert_eq!(n(&py["events_rows"]), n(&report["unique_valid"]), "{py}");
    assert_eq!(n(&py["bad_rows"]), malformed, "{py}");
}
