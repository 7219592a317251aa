//! Configuration tests: file, environment and flags, and the errors each bad value gets.

use super::*;
use crate::model::ConsumerName;

fn load_str(text: &str, env: Vec<(&str, &str)>) -> Result<Config> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("floe.toml");
    std::fs::write(&p, text).unwrap();
    Config::load(Some(&p), env.into_iter().map(|(a, b)| (a.to_string(), b.to_string())), &Overrides::default())
}

#[test]
fn defaults_without_a_file() {
    let c = Config::load(None, Vec::new(), &Overrides::default()).unwrap();
    assert!(c.warehouse.ends_with("floe-data"));
    assert_eq!(c.bronze.format, BronzeFormat::Parquet);
    assert_eq!(c.bronze.flush_interval, Duration::from_secs(30));
    assert!(c.catalog.uri.starts_with("sqlite:"));
}

#[test]
fn bad_duration_names_the_key_and_the_file() {
    let e = load_str("[bronze]\nflush_interval = \"fast\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("floe.toml"), "{e}");
    assert!(e.contains("bronze.flush_interval: expected a duration like \"30s\", got \"fast\""), "{e}");
}

#[test]
fn a_flush_size_past_what_one_arrow_copy_holds_is_refused() {
    let e = load_str("[bronze]\nflush_bytes = \"4GiB\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("bronze.flush_bytes") && e.contains("at most 1GiB"), "{e}");
    assert_eq!(load_str("[bronze]\nflush_bytes = \"1GiB\"\n", vec![]).unwrap().bronze.flush_bytes, 1 << 30);
}

#[test]
fn dynamodb_leases_need_kinesis_and_a_table() {
    let e = load_str("[checkpoint]\ntype = \"dynamodb\"\ntable = \"t1\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("checkpoint.type") && e.contains("kinesis"), "{e}");
    let kinesis = "[source]\ntype = \"kinesis\"\nstream = \"s\"\n[checkpoint]\ntype = \"dynamodb\"\n";
    let e = load_str(kinesis, vec![]).unwrap_err().to_string();
    assert!(e.contains("checkpoint.table"), "{e}");
    let c = load_str(kinesis, vec![("FLOE_CHECKPOINT_TABLE", "leases"), ("FLOE_CHECKPOINT_WORKER_ID", "w1")]).unwrap();
    let CheckpointKind::DynamoDb(l) = c.checkpoint else { panic!("not dynamodb") };
    assert_eq!((l.table.as_str(), l.worker_id.as_str(), l.lease_duration), ("leases", "w1", Duration::from_secs(10)));
    let e = load_str("[checkpoint]\ntable = \"t1\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("only used by"), "{e}");
}

#[test]
fn enhanced_fan_out_is_a_kinesis_option_with_a_checked_consumer_name() {
    let kinesis = "[source]\ntype = \"kinesis\"\nstream = \"s\"\n";
    assert_eq!(load_str(kinesis, vec![]).unwrap().source.fan_out, None, "polling is the default");
    let c = load_str(kinesis, vec![("FLOE_SOURCE_CONSUMER", "efo")]).unwrap();
    assert_eq!(c.source.fan_out.as_ref().map(ConsumerName::as_str), Some("floe"));
    let c =
        load_str(kinesis, vec![("FLOE_SOURCE_CONSUMER", "efo"), ("FLOE_SOURCE_CONSUMER_NAME", "app-1.v2")]).unwrap();
    assert_eq!(c.source.fan_out.as_ref().map(ConsumerName::as_str), Some("app-1.v2"));
    let e = load_str(kinesis, vec![("FLOE_SOURCE_CONSUMER", "efo"), ("FLOE_SOURCE_CONSUMER_NAME", "no spaces")]);
    assert!(e.unwrap_err().to_string().contains("source.consumer_name"));
    let e = load_str(kinesis, vec![("FLOE_SOURCE_CONSUMER", "push")]).unwrap_err().to_string();
    assert!(e.contains("source.consumer") && e.contains("\"polling\", \"efo\""), "{e}");
    let e = load_str("[source]\nconsumer = \"efo\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("source.consumer") && e.contains("kinesis"), "{e}");
    let e = load_str(kinesis, vec![("FLOE_SOURCE_CONSUMER_NAME", "x")]).unwrap_err().to_string();
    assert!(e.contains("only used with"), "{e}");
}

#[test]
fn a_rest_catalog_needs_an_http_endpoint_and_alone_takes_a_token() {
    let e = load_str("[catalog]\ntype = \"rest\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("catalog.uri") && e.contains("http"), "{e}");
    let e = load_str("[catalog]\ntype = \"rest\"\nuri = \"sqlite:x\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("catalog.uri"), "{e}");
    let rest = "[catalog]\ntype = \"rest\"\nuri = \"https://catalog.example:8181/api\"\n";
    let c = load_str(rest, vec![("FLOE_CATALOG_TOKEN", "t0k")]).unwrap();
    assert_eq!(c.catalog.kind, CatalogKind::Rest);
    assert_eq!((c.catalog.token.as_deref(), c.catalog.warehouse.as_str()), (Some("t0k"), ""));
    let e = load_str("[catalog]\ntoken = \"t\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("catalog.token") && e.contains("rest"), "{e}");
}

#[test]
fn unknown_key_is_refused() {
    let e = load_str("[bronze]\nflush_intervall = \"1s\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("unknown field `flush_intervall`"), "{e}");
}

#[test]
fn env_overrides_file() {
    let c = load_str(
        "[bronze]\nflush_records = 10\n",
        vec![("FLOE_BRONZE_FLUSH_RECORDS", "77"), ("FLOE_BRONZE_FORMAT", "jsonl")],
    )
    .unwrap();
    assert_eq!(c.bronze.flush_records, 77);
    assert_eq!(c.bronze.format, BronzeFormat::JsonLines);
}

#[test]
fn every_key_is_accepted_by_the_file_format() {
    for key in KEYS {
        let (section, name) = key.split_once('.').unwrap_or(("", key));
        let value = match *key {
            "silver.enabled" => "true",
            "metrics.port" => "1",
            "aws.s3_path_style" => "true",
            "silver.tables" => "[\"x\"]",
            "silver.missing_schema" => "\"load\"",
            _ => "\"x\"",
        };
        let text =
            if section.is_empty() { format!("{name} = {value}\n") } else { format!("[{section}]\n{name} = {value}\n") };
        if let Err(e) = load_str(&text, vec![]) {
            assert!(!e.to_string().contains("unknown field"), "{key}: {e}");
        }
    }
}

/// A bare number in the environment is text for every key that takes text: a worker named "7",
/// a size in plain bytes. It was read as a TOML integer and refused as "invalid type", and the
/// error blamed "(built-in defaults)" instead of the variable.
#[test]
fn a_number_in_the_environment_is_text_for_text_keys_and_errors_name_the_variable() {
    for key in KEYS {
        let var = env::env_name(key);
        if let Err(e) = load_str("", vec![(var.as_str(), "1048576")]) {
            let e = e.to_string();
            let boolean = ["silver.enabled", "aws.s3_path_style"].contains(key);
            assert!(boolean || !e.contains("invalid type"), "{key}: {e}");
            assert!(e.contains(&var), "{key}: the error names the variable: {e}");
        }
    }
    let c = load_str("", vec![("FLOE_SILVER_BATCH_MAX_BYTES", "1048576"), ("FLOE_BRONZE_FLUSH_RECORDS", "5")]).unwrap();
    assert_eq!((c.silver.batch_max_bytes, c.bronze.flush_records), (1 << 20, 5));
    let e = load_str("", vec![("FLOE_SILVER_COMMIT_INTERVAL", "15")]).unwrap_err().to_string();
    assert!(e.contains("environment variable FLOE_SILVER_COMMIT_INTERVAL") && e.contains("\"30s\""), "{e}");
}

#[test]
fn a_poll_interval_past_ten_minutes_is_refused() {
    let e = load_str("[source]\npoll_interval = \"1000000years\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("source.poll_interval: expected at most 10m"), "{e}");
    assert!(load_str("[source]\npoll_interval = \"10m\"\n", vec![]).is_ok());
}

#[test]
fn silver_tables_is_a_list_in_the_file_and_comma_separated_in_the_environment() {
    let c = load_str("[silver]\ntables = [\"snowplow_events\"]\n", vec![]).unwrap();
    assert_eq!(c.silver.tables, Some(vec!["snowplow_events".to_string()]));
    let c = load_str("", vec![("FLOE_SILVER_TABLES", "events, snowplow_events")]).unwrap();
    assert_eq!(c.silver.tables, Some(vec!["events".to_string(), "snowplow_events".to_string()]));
    assert_eq!(load_str("", vec![]).unwrap().silver.tables, None);
}

#[test]
fn unknown_env_variables_are_reported() {
    let c = load_str("", vec![("FLOE_BRONZE_FLUSH_INTERVALL", "1s"), ("FLOE_CONFIG", "x")]).unwrap();
    assert_eq!(c.unknown_env, vec!["FLOE_BRONZE_FLUSH_INTERVALL".to_string()]);
}

#[test]
fn glue_needs_an_s3_warehouse_and_takes_the_aws_environment() {
    let e = load_str("[catalog]\ntype = \"glue\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("catalog.warehouse") && e.contains("s3://"), "{e}");
    let e = load_str("[catalog]\ntype = \"glue\"\nwarehouse = \"file:///tmp/w\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("Glue tables live on S3"), "{e}");
    let e = load_str("[catalog]\ntype = \"glue\"\nwarehouse = \"s3://b/w\"\nnamespace = \"My-Db\"\n", vec![])
        .unwrap_err()
        .to_string();
    assert!(e.contains("catalog.namespace"), "{e}");
    let c = load_str(
        "[catalog]\ntype = \"glue\"\nwarehouse = \"s3://b/w\"\n",
        vec![("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"), ("AWS_DEFAULT_REGION", "eu-west-1")],
    )
    .unwrap();
    assert_eq!(c.catalog.kind, CatalogKind::Glue);
    assert_eq!(c.aws.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
    assert_eq!(c.aws.region.as_deref(), Some("eu-west-1"));
    assert!(c.aws.s3_path_style, "an explicit endpoint defaults to path-style S3");
    let c = load_str("[aws]\nregion = \"us-east-2\"\n", vec![("AWS_REGION", "eu-west-1")]).unwrap();
    assert_eq!(c.aws.region.as_deref(), Some("us-east-2"), "the file wins over the AWS variables");
    assert!(!c.aws.s3_path_style);
    let e = load_str("[aws]\nendpoint = \"localhost:5000\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("aws.endpoint"), "{e}");
}

#[test]
fn sizes_parse() {
    assert_eq!(parse_bytes("64MiB"), Some(64 << 20));
    assert_eq!(parse_bytes("1 GB"), Some(1_000_000_000));
    assert_eq!(parse_bytes("12"), Some(12));
    assert_eq!(parse_bytes("lots"), None);
}

#[test]
fn a_wrong_choice_or_type_names_its_key_and_the_choices() {
    let e = load_str("[catalog]\ntype = \"hive\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("catalog.type: expected one of [\"sql\", \"glue\", \"rest\"], got \"hive\""), "{e}");
    let e = load_str("", vec![("FLOE_BRONZE_FORMAT", "csv")]).unwrap_err().to_string();
    assert!(e.contains("bronze.format") && e.contains("\"parquet\", \"jsonl\""), "{e}");
    let flag = Overrides { bronze_format: Some("avro".into()), ..Overrides::default() };
    let e = Config::load(None, Vec::new(), &flag).unwrap_err().to_string();
    assert!(e.contains("bronze.format") && e.contains("\"avro\""), "{e}");
    let e = load_str("[silver]\nenabled = \"sometimes\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("silver.enabled"), "{e}");
    let e = load_str("[checkpoint]\ntype = \"redis\"\n", vec![]).unwrap_err().to_string();
    assert!(e.contains("checkpoint.type") && e.contains("\"local\", \"dynamodb\""), "{e}");
}
