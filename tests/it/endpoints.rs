//! Per-service endpoints only — the one way to reach Kinesis and S3 at two different places:
//! `AWS_ENDPOINT_URL_KINESIS` (kinesis-local), `AWS_ENDPOINT_URL_S3` / `_GLUE` / `_DYNAMODB`
//! (strict moto), no global `AWS_ENDPOINT_URL`. Every client floe builds — the SDK's and the two
//! S3 clients that are not (bronze's object_store, Iceberg's FileIO) — must follow them.

use serde_json::Value;

use crate::kinesis::{endpoint as kinesis_endpoint, exactly_once, tool};
use crate::support::{AwsLake, assert_success, reader_with};

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn per_service_endpoints_alone_carry_kinesis_to_s3_bronze_and_glue() {
    let aws = AwsLake::new("svc");
    let lake = &aws.lake;
    let report = lake.generate(3_000, 1, 0.0, 0.0, 61);
    let records = n(&report["records"]);
    // the generated events go into a Kinesis stream instead of being read from the spool
    let spool_file = std::fs::read_dir(lake.spool()).unwrap().next().unwrap().unwrap().path();
    let stream = format!("floe-svc-{}", std::process::id());
    tool(&["create", &stream, "2"]);
    let count = records.to_string();
    tool(&["put", &stream, spool_file.to_str().unwrap(), "0", &count, "4"]);
    std::fs::remove_dir_all(lake.spool()).unwrap();

    let floe = || crate::faults::on_aws(&aws, &stream, &kinesis_endpoint(), &aws.endpoint);
    assert_success(&floe().arg("init").output().unwrap(), &["init"]);
    let out = floe().args(["run", "--until-idle", "--json"]).output().unwrap();
    assert_success(&out, &["run", "(per-service endpoints)"]);
    let summary: Value = serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let c = &summary["counters"];
    assert_eq!(n(&c["records_read"]), records, "{summary}");
    assert_eq!(n(&c["silver_rows"]), records, "{summary}");

    // bronze is on moto's S3, every record once
    let bronze = reader_with("kinesis_tool.py", &[aws.endpoint.as_str(), "bronze-s3", &aws.bucket, "bronze"]);
    assert_eq!(exactly_once(&bronze).len() as u64, records);
    // the table metadata too (not AWS's real S3): pyiceberg's GlueCatalog reads every row
    let py = aws.pyiceberg(None);
    assert!(py["metadata_location"].as_str().unwrap().starts_with(&format!("s3://{}/warehouse/", aws.bucket)));
    assert_eq!(n(&py["events_rows"]), records, "{py}");
    assert_eq!(n(&py["events_distinct_ids"]), records, "{py}");
}
