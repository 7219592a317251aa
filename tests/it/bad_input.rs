//! Bad input never panics: every kind of broken record becomes a bad row with its reason, and
//! broken configuration is a clear error naming the key, and bad operator input (flags, dates,
//! ages, `--where`, tables, files) is one clear error each.

use std::collections::BTreeMap;

use crate::support::Lake;

const VALID: &str = r#"{"event_id":"7d7e3d1c-5bb0-4a53-9a39-1e0b5e0c0a01","collector_tstamp":"2026-11-20T10:00:00.123Z","event":"page_view","platform":"web","custom":{"a":1}}"#;

#[test]
fn every_kind_of_broken_record_becomes_a_bad_row_with_its_reason() {
    let lake = Lake::new();
    std::fs::create_dir_all(lake.spool()).unwrap();
    let mut lines: Vec<(Vec<u8>, Option<&str>)> = vec![
        (VALID.as_bytes().to_vec(), None),
        (b"{this is not json}".to_vec(), Some("invalid_json")),
        (VALID.as_bytes()[..40].to_vec(), Some("invalid_json")), // truncated line
        (Vec::new(), Some("empty_record")),
        (b"   ".to_vec(), Some("empty_record")),
        (vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'], Some("invalid_utf8")),
        (format!("[{VALID}]").into_bytes(), Some("not_an_object")),
        (b"42".to_vec(), Some("not_an_object")),
        (VALID.replace("\"web\"", "17").into_bytes(), Some("wrong_type")),
        (VALID.replace("\"event\":\"page_view\",", "").into_bytes(), Some("missing_field")),
        (
            VALID.replace("\"event_id\":\"7d7e3d1c-5bb0-4a53-9a39-1e0b5e0c0a01\",", "").into_bytes(),
            Some("missing_field"),
        ),
        (VALID.replace("2026-11-20T10:00:00.123Z", "20/11/2026 10:00").into_bytes(), Some("invalid_timestamp")),
        (VALID.replace("2026-11-20T10:00:00.123Z", "2026-13-45T99:00:00Z").into_bytes(), Some("invalid_timestamp")),
        (VALID.replace("7d7e3d1c-5bb0-4a53-9a39-1e0b5e0c0a01", "12345").into_bytes(), Some("invalid_uuid")),
    ];
    // a 2 MiB record (over the 1 MiB default limit), valid JSON otherwise
    let big = VALID.replace("\"custom\":{\"a\":1}", &format!("\"custom\":\"{}\"", "x".repeat(2 << 20)));
    lines.push((big.into_bytes(), Some("record_too_large")));
    let mut body = Vec::new();
    let mut expected: BTreeMap<u64, &str> = BTreeMap::new();
    for (line, reason) in &lines {
        if let Some(r) = reason {
            expected.insert(body.len() as u64, r);
        }
        body.extend_from_slice(line);
        body.push(b'\n');
    }
    // a last line without a newline is still a record
    expected.insert(body.len() as u64, "invalid_json");
    body.extend_from_slice(b"{\"event_id\":");
    std::fs::write(lake.spool().join("bad.ndjson"), &body).unwrap();

    let out = lake.floe().args(["run", "--until-idle"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), 1);
    let got: BTreeMap<u64, String> = lake
        .query("SELECT source_sequence_number AS seq, reason FROM events_bad")
        .iter()
        .map(|r| (r["seq"].as_str().unwrap().parse().unwrap(), r["reason"].as_str().unwrap().to_string()))
        .collect();
    let want: BTreeMap<u64, String> = expected.iter().map(|(k, v)| (*k, v.to_string())).collect();
    assert_eq!(got, want);
    let extra = lake.query("SELECT extra FROM events");
    assert_eq!(extra[0]["extra"].as_str().unwrap(), r#"{"custom":{"a":1}}"#);
    // the raw payload is kept byte for byte, invalid UTF-8 included
    let raw = lake.query("SELECT raw FROM events_bad WHERE reason = 'invalid_utf8'");
    assert_eq!(raw[0]["raw"].as_str().unwrap().to_lowercase(), "7b22fffe223a317d");
}

fn check_with_config(text: &str) -> (bool, String) {
    let lake = Lake::new();
    let path = lake.dir.path().join("floe.toml");
    std::fs::write(&path, text).unwrap();
    let out = lake.floe_bare().arg("--config").arg(&path).arg("check").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.success(), stderr)
}

#[test]
fn broken_configuration_is_a_clear_error() {
    let (ok, err) = check_with_config("[bronze]\nflush_interval = \"fast\"\n");
    assert!(!ok);
    assert!(err.contains("floe.toml: bronze.flush_interval: expected a duration like \"30s\", got \"fast\""), "{err}");
    let (ok, err) = check_with_config("[bronze]\nflush_intervall = \"1s\"\n");
    assert!(!ok);
    assert!(err.contains("unknown field `flush_intervall`"), "{err}");
    let (ok, err) = check_with_config("[bronze\n");
    assert!(!ok);
    assert!(err.contains("floe.toml"), "{err}");
    let (ok, err) = check_with_config("[silver]\nbatch_max_objects = -3\n");
    assert!(!ok);
    assert!(err.contains("silver.batch_max_objects"), "{err}");
    let (ok, err) = check_with_config("[bronze]\nflush_interval = \"5s\"\n");
    assert!(ok, "{err}");
}

/// A spool directory that is not there is an error that says so, not "0 of 0 processed".
#[test]
fn a_missing_spool_directory_is_a_clear_error() {
    let lake = Lake::new();
    let out = lake.floe().args(["run", "--until-idle"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let said = format!("the spool directory {} does not exist", lake.spool().display());
    assert_eq!(stderr.matches(&said).count(), 1, "{stderr}");
}

/// Bad operator input, one run of each: a clear error, said once, no panic, nothing done.
#[test]
fn bad_operator_input_is_one_clear_error_each() {
    let lake = Lake::new();
    lake.run_ok(&["init"]);
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--no-such-flag"], "unexpected argument '--no-such-flag'"),
        (&["backfill", "--from", "yesterday"], "expected a day like 2026-11-30"),
        (&["replay", "--from-timestamp", "notatime"], "expected a time like 2026-11-30T08:00:00Z"),
        (&["expire-snapshots", "--older-than", "3parsecs"], "expected an age like 7d or 12h"),
        (&["forget", "--where", "user_id==='x'"], "does not parse"),
        (&["forget", "--where", "user_id = 'a'; DROP TABLE events"], "unexpected `;` after the condition"),
        (&["forget", "--where", "user_id > 'a'"], "expected column = 'value'"),
        (&["compact", "--table", "nope"], "no such floe table (known: events, events_bad)"),
        (&["query", "--file", "/nonexistent/model.sql"], "No such file or directory"),
        (&["query", "SELECT * FROM nope"], "table 'floe.floe.nope' not found"),
        (&["import", "/nonexistent/dir"], "not a directory"),
    ];
    for (args, message) in cases {
        let out = lake.floe().args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(stderr.matches(message).count(), 1, "{args:?}: want {message:?} once in:\n{stderr}");
        assert_eq!(stderr.lines().filter(|l| l.starts_with("error:")).count(), 1, "{args:?}: {stderr}");
    }
    // nothing was done: the tables are as init left them
    assert_eq!(lake.query_u64("SELECT count(*) FROM events"), 0);
}
