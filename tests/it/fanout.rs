//! Enhanced fan-out (`source.consumer = "efo"`) against kinesis-local behind
//! tests/standins/kinesis_efo.py, which makes its SubscribeToShard behave as Kinesis does:
//! subscriptions end (here after 3 s instead of 5 minutes) and a closed shard ends with
//! SHARD_END and its children; with `--tls` it speaks what Kinesis speaks, HTTP/2 over TLS
//! (tests/standins/h2_front.py).

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::kinesis::{
    assert_children_after_parents, bronze_of, endpoint, exactly_once, expected, log_of, sigterm, start_worker, tool,
    wait_for_bronze, wait_for_bronze_in, wait_for_leases, worker,
};
use crate::ops::{Daemon, get, metric_sum};
use crate::support::{Lake, assert_success, reader_with};

/// Seconds each subscription lasts at the stand-in (Kinesis: 300).
const SUBSCRIPTION_SECONDS: &str = "3";

/// The EFO stand-in in front of the shared kinesis-local; returns it and its port.
fn start_efo_standin() -> (Daemon, u16) {
    let (proxy, ports) = spawn_efo_standin(&[]);
    (proxy, ports[0])
}

/// The stand-in with `extra` arguments; returns it and the ports it printed.
fn spawn_efo_standin(extra: &[&str]) -> (Daemon, Vec<u16>) {
    let python = std::env::var_os("FLOE_TEST_STANDINS_PYTHON")
        .unwrap_or_else(|| panic!("FLOE_TEST_STANDINS_PYTHON is not set: run the tests with scripts/test.sh"));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standins/kinesis_efo.py");
    let mut proxy = Daemon(
        Command::new(python)
            .arg(script)
            .args([&endpoint(), SUBSCRIPTION_SECONDS])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(proxy.0.stdout.as_mut().unwrap()), &mut line).unwrap();
    let ports = line.split_whitespace().map(str::parse).collect::<Result<Vec<u16>, _>>();
    let ports = ports.ok().filter(|p| !p.is_empty()).unwrap_or_else(|| panic!("kinesis_efo.py printed {line:?}"));
    (proxy, ports)
}

/// A 2-shard stream and its lease table (`floe init` made), and a file of `events` records to
/// put on it: (stream, lease table, file).
fn two_shard_stream(lake: &Lake, tag: &str, events: u64) -> (String, String, String) {
    let stream = format!("floe-{tag}-{}", std::process::id());
    let table = format!("floe-{tag}-leases-{}", std::process::id());
    let file = lake.dir.path().join("records.ndjson");
    std::fs::write(&file, (0..events).map(|i| format!("{{\"n\":{i}}}\n")).collect::<String>()).unwrap();
    tool(&["create", &stream, "2"]);
    assert_success(&worker(lake, &stream, &table, "init").arg("init").output().unwrap(), &["init"]);
    (stream, table, file.to_str().unwrap().to_string())
}

#[test]
fn fan_out_workers_share_a_resharded_stream_across_renewals_exactly_once() {
    const EVENTS: u64 = 12_000;
    let lake = Lake::new();
    let (stream, table, file) = two_shard_stream(&lake, "efo", EVENTS);
    let (_proxy, proxy_port) = start_efo_standin();
    let through_efo = format!("http://127.0.0.1:{proxy_port}");
    // bronze on S3 (the moto stand-in), addressed through the standard per-service endpoint
    let moto = std::env::var("FLOE_TEST_MOTO_ENDPOINT").expect("FLOE_TEST_MOTO_ENDPOINT (scripts/test.sh)");
    let bucket = format!("floe-efo-{}", std::process::id());
    reader_with("aws_admin.py", &[moto.as_str(), "create-bucket", &bucket]);
    let bronze_url = format!("s3://{bucket}/bronze");
    let efo = [
        ("AWS_ENDPOINT_URL_KINESIS", through_efo.as_str()),
        ("FLOE_SOURCE_CONSUMER", "efo"),
        ("FLOE_SOURCE_CONSUMER_NAME", "floe-it"),
        ("FLOE_BRONZE_LOCATION", bronze_url.as_str()),
        ("AWS_ENDPOINT_URL_S3", moto.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("FLOE_AWS_S3_PATH_STYLE", "true"),
    ];
    let bronze_of = || reader_with("kinesis_tool.py", &[moto.as_str(), "bronze-s3", &bucket, "bronze/"]);

    let mut puts = vec![tool(&["put", &stream, &file, "0", "5000", "2"])];
    let (mut a, port_a) = start_worker(&lake, &stream, &table, "a", &efo);
    wait_for_leases(port_a, 2, "a");
    let (mut b, port_b) = start_worker(&lake, &stream, &table, "b", &efo);
    tool(&["split", &stream]);
    puts.push(tool(&["put", &stream, &file, "5000", "3500", "2"]));
    tool(&["merge", &stream]);
    puts.push(tool(&["put", &stream, &file, "8500", "3500", "2"]));
    let want = expected(&puts);
    assert_eq!(want.len() as u64, EVENTS, "the producer was acknowledged for every record");

    wait_for_bronze_in(&lake, want.len(), Duration::from_secs(120), bronze_of);
    // Renewals happen on the open shards every SUBSCRIPTION_SECONDS while the workers run: when
    // bronze was quick (the parents end by SHARD_END, not by expiry), wait for a second one.
    let stats_now = || -> Value { serde_json::from_str(&get(proxy_port, "/stats").unwrap().1).unwrap() };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut stats = stats_now();
    while stats["expired"].as_u64().unwrap_or(0) < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        stats = stats_now();
    }
    // (the proxy's figures first: every subscription it ended, floe had counted before)
    let (ma, mb) = (get(port_a, "/metrics").unwrap().1, get(port_b, "/metrics").unwrap().1);
    let (read_a, read_b) = (metric_sum(&ma, "floe_records_in_total"), metric_sum(&mb, "floe_records_in_total"));
    assert!(read_a > 0 && read_b > 0, "both workers read: a {read_a}, b {read_b}");
    assert!(metric_sum(&mb, "floe_leases_taken_total") > 0, "b took leases:\n{mb}");
    let subscriptions =
        metric_sum(&ma, "floe_source_subscriptions_total") + metric_sum(&mb, "floe_source_subscriptions_total");
    sigterm(&mut a, "a", &lake);
    sigterm(&mut b, "b", &lake);

    // read through subscriptions only, renewed after the service ended them, to SHARD_END
    assert_eq!(stats["get_records"], 0, "no polling: {stats}");
    assert!(stats["expired"].as_u64().unwrap() >= 2, "subscriptions were ended and renewed: {stats}");
    assert!(stats["shard_ends"].as_u64().unwrap() >= 3, "the split's and the merge's parents ended: {stats}");
    assert!(
        subscriptions >= stats["expired"].as_u64().unwrap(),
        "floe counted its subscriptions ({subscriptions}): {stats}"
    );

    // every acknowledged (shard, sequence, sub-sequence) exactly once; children after parents
    let bronze = bronze_of();
    let unique = exactly_once(&bronze);
    assert_eq!(unique, want, "bronze holds exactly the acknowledged records ({stats})");
    assert!(unique.iter().any(|r| r.2 > 0), "some records came from KPL aggregates");
    assert!(
        assert_children_after_parents(&bronze, &tool(&["shards", &stream])) >= 4,
        "the stream was split and merged"
    );

    // each S3 object says which lease epoch wrote it, in its metadata as in its Parquet footer
    for o in bronze["objects"].as_array().unwrap() {
        let meta = o["metadata_epoch"].as_str().unwrap_or_else(|| panic!("no x-amz-meta-floe-lease-epoch: {o}"));
        assert!(meta.parse::<u64>().unwrap() >= 1, "{o}");
        assert_eq!(o["metadata_epoch"], o["footer_epoch"], "metadata and footer agree: {o}");
    }

    // one consumer, registered once and shared by both workers
    let consumers = tool(&["consumers", &stream]);
    assert_eq!(consumers, serde_json::json!([{"name": "floe-it", "status": "ACTIVE"}]));

    // a restart finds everything checkpointed: nothing is read again
    let out = worker(&lake, &stream, &table, "c")
        .envs(efo)
        .args(["run", "--bronze-only", "--until-idle", "--json"])
        .output()
        .unwrap();
    assert_success(&out, &["run --until-idle over EFO (again)"]);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["counters"]["records_read"], 0, "nothing is read twice after a clean stop");
}

/// The fan-out stand-in behind TLS + HTTP/2 (`extra`: more of its flags), its stats port, and
/// the environment that points a worker at it through consumer `consumer`.
fn h2_standin(lake: &Lake, extra: &[&str], consumer: &str) -> (Daemon, u16, Vec<(&'static str, String)>) {
    let certs = lake.dir.path().join("tls");
    let mut args = vec!["--tls", certs.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (proxy, ports) = spawn_efo_standin(&args);
    let env = vec![
        ("AWS_ENDPOINT_URL_KINESIS", format!("https://127.0.0.1:{}", ports[0])),
        ("SSL_CERT_FILE", certs.join("ca.pem").to_str().unwrap().to_string()),
        ("FLOE_SOURCE_CONSUMER", "efo".to_string()),
        ("FLOE_SOURCE_CONSUMER_NAME", consumer.to_string()),
    ];
    (proxy, ports[1], env)
}

/// What Kinesis really serves: SubscribeToShard over HTTP/2 (ALPN) with TLS the SDK verifies
/// (a test CA, trusted through SSL_CERT_FILE). Subscriptions renew and a split's parent ends
/// with SHARD_END, all in h2 streams; every record lands once.
#[test]
fn fan_out_over_tls_and_http2_reads_every_record_once() {
    const EVENTS: u64 = 4_000;
    let lake = Lake::new();
    let (stream, table, file) = two_shard_stream(&lake, "efo-h2", EVENTS);
    let (_proxy, stats_port, efo) = h2_standin(&lake, &[], "floe-it-h2");
    let efo: Vec<(&str, &str)> = efo.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut puts = vec![tool(&["put", &stream, &file, "0", "2000", "2"])];
    let (mut a, port_a) = start_worker(&lake, &stream, &table, "a", &efo);
    tool(&["split", &stream]);
    puts.push(tool(&["put", &stream, &file, "2000", "2000", "2"]));
    let want = expected(&puts);
    assert_eq!(want.len() as u64, EVENTS);
    wait_for_bronze(&lake, want.len(), Duration::from_secs(120));
    let metrics = get(port_a, "/metrics").unwrap().1;
    let stats: Value = serde_json::from_str(&get(stats_port, "/stats").unwrap().1).unwrap();
    sigterm(&mut a, "a", &lake);

    assert!(stats["h2_connections"].as_u64().unwrap() >= 1, "floe negotiated h2 over TLS: {stats}");
    assert!(stats["subscriptions"].as_u64().unwrap() >= 3, "subscriptions went through h2 streams: {stats}");
    assert!(stats["expired"].as_u64().unwrap() >= 1, "a subscription was ended and renewed: {stats}");
    assert!(stats["shard_ends"].as_u64().unwrap() >= 1, "the split's parent ended: {stats}");
    assert_eq!(stats["get_records"], 0, "no polling: {stats}");
    assert!(metric_sum(&metrics, "floe_source_subscriptions_total") >= 3, "{metrics}");
    let bronze = bronze_of(&lake);
    assert_eq!(exactly_once(&bronze), want, "bronze holds exactly the acknowledged records ({stats})");
}

/// Faults inside fan-out subscriptions, over TLS and HTTP/2: every second subscription that has
/// records breaks before delivering them — its h2 stream reset, an `InternalFailureException`
/// in the event stream, once a 35 s stall — and floe subscribes again from its last
/// continuation: every record lands once, none is skipped.
#[test]
fn faults_inside_fan_out_subscriptions_lose_nothing_and_double_nothing() {
    const EVENTS: u64 = 4_000;
    const SLICES: u64 = 8;
    let lake = Lake::new();
    let (stream, table, file) = two_shard_stream(&lake, "efo-flt", EVENTS);
    let (_proxy, stats_port, efo) = h2_standin(&lake, &["--faults", "2"], "floe-it-faults");
    let efo: Vec<(&str, &str)> = efo.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (mut a, _) = start_worker(&lake, &stream, &table, "a", &efo);
    // records arrive a slice at a time, so many subscriptions have records to break on
    let per = EVENTS / SLICES;
    let mut puts = Vec::new();
    for i in 0..SLICES {
        puts.push(tool(&["put", &stream, &file, &(i * per).to_string(), &per.to_string(), "2"]));
        std::thread::sleep(Duration::from_secs(2));
    }
    let want = expected(&puts);
    assert_eq!(want.len() as u64, EVENTS);
    wait_for_bronze(&lake, want.len(), Duration::from_secs(240));
    let stats: Value = serde_json::from_str(&get(stats_port, "/stats").unwrap().1).unwrap();
    sigterm(&mut a, "a", &lake);
    for kind in ["reset", "exception", "stall"] {
        assert!(stats["faults"][kind].as_u64().unwrap_or(0) >= 1, "{kind} was injected: {stats}");
    }
    let bronze = bronze_of(&lake);
    assert_eq!(exactly_once(&bronze), want, "bronze holds exactly the acknowledged records ({stats})");
    let log = log_of(&lake, "a");
    assert!(!log.contains("panicked"), "{log}");
}
