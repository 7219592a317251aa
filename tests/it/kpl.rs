//! KPL de-aggregation against aggregates made by AWS's reference aggregator (PyPI
//! `aws-kinesis-agg`), not by our own encoder.

use bytes::Bytes;
use floe::source::kinesis::kpl::deaggregate;

use crate::support::python;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn aggregates_from_the_reference_aggregator_split_into_their_user_records() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/readers/kpl_aggregate.py");
    let out = std::process::Command::new(python()).arg(&script).args(["3000", "7"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let aggregates: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let aggregates = aggregates.as_array().unwrap();
    assert!(aggregates.len() > 20, "expected many aggregates, got {}", aggregates.len());
    let mut total = 0;
    for a in aggregates {
        let got = deaggregate(&Bytes::from(hex(a["aggregate"].as_str().unwrap()))).unwrap().expect("an aggregate");
        let want = a["records"].as_array().unwrap();
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.sub_sequence, i as u64);
            assert_eq!(g.partition_key, w["pk"].as_str().unwrap());
            assert_eq!(g.explicit_hash_key.as_deref(), w["ehk"].as_str());
            assert_eq!(&g.data[..], &hex(w["data"].as_str().unwrap())[..]);
        }
        total += got.len();
    }
    assert_eq!(total, 3000);
}
