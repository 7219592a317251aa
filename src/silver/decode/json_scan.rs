//! A JSON object's members — each key and the raw text of its value — borrowed from the record
//! instead of built into a `serde_json::Value` tree. Decoding is silver's largest CPU step, and
//! most of a record's bytes are nested JSON (`contexts`, `unstruct_event`) that the table keeps as
//! text anyway: building a tree only to print it again was most of the cost.
//!
//! Validity is serde_json's: [`members`] first runs its parser over the record without building
//! anything (`IgnoredAny`), so a record is rejected exactly when serde_json would reject it (the
//! message, rarely, a few characters apart). The scan after that only finds where each value ends, in text
//! known to be valid.

use std::borrow::Cow;

use serde::de::IgnoredAny;

/// One member of the object: its key (unescaped), its key as written (with quotes and escapes)
/// and its value as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Member<'a> {
    pub key: Cow<'a, str>,
    pub raw_key: &'a str,
    pub value: &'a str,
}

/// What kind of JSON value a raw value is (from its first byte; the text is valid JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Boolean,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    pub fn of(raw: &str) -> Kind {
        match raw.as_bytes().first() {
            Some(b'n') => Kind::Null,
            Some(b't' | b'f') => Kind::Boolean,
            Some(b'"') => Kind::String,
            Some(b'[') => Kind::Array,
            Some(b'{') => Kind::Object,
            _ => Kind::Number,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Boolean => "boolean",
            Kind::Number => "number",
            Kind::String => "string",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }
}

/// Why a record is not an object's members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// Not JSON: serde_json's message.
    Invalid(String),
    /// Valid JSON of another kind.
    NotAnObject(Kind),
}

/// The members of the JSON object `text`, in the order written (a repeated key appears twice).
pub fn members(text: &str) -> Result<Vec<Member<'_>>, ScanError> {
    serde_json::from_str::<IgnoredAny>(text).map_err(|e| ScanError::Invalid(e.to_string()))?;
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err(ScanError::NotAnObject(Kind::of(&text[i..])));
    }
    let mut out = Vec::with_capacity(32);
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Ok(out);
    }
    loop {
        let key_end = string_end(b, i);
        let raw_key = &text[i..key_end];
        i = skip_ws(b, key_end);
        i = skip_ws(b, i + 1); // the ':'
        let value_end = value_end(b, i);
        out.push(Member { key: unescape(raw_key), raw_key, value: &text[i..value_end] });
        i = skip_ws(b, value_end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            _ => return Ok(out), // the '}': the text is valid JSON
        }
    }
}

/// The content of a JSON string literal (`raw` with its quotes), borrowed when it has no escape.
pub fn unescape(raw: &str) -> Cow<'_, str> {
    let inner = &raw[1..raw.len().saturating_sub(1).max(1)];
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    // valid JSON (checked by `members`): serde_json reads the literal back
    Cow::Owned(serde_json::from_str::<String>(raw).unwrap_or_else(|_| inner.to_string()))
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Just past the string literal starting at `i` (its opening quote).
fn string_end(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// Just past the value starting at `i`.
fn value_end(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => string_end(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len()
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            j
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn pairs(text: &str) -> Vec<(String, String)> {
        members(text).unwrap().into_iter().map(|m| (m.key.into_owned(), m.value.to_string())).collect()
    }

    #[test]
    fn members_are_borrowed_as_written() {
        let text = r#" { "a" : 1 , "b\"q":"x\\y", "c": {"d": [1, "]}"], "e": {}} ,"f":null,"g":true,"h":-1.5e3 } "#;
        assert_eq!(
            pairs(text),
            vec![
                ("a".into(), "1".into()),
                ("b\"q".into(), r#""x\\y""#.into()),
                ("c".into(), r#"{"d": [1, "]}"], "e": {}}"#.into()),
                ("f".into(), "null".into()),
                ("g".into(), "true".into()),
                ("h".into(), "-1.5e3".into()),
            ]
        );
        assert_eq!(members("{}").unwrap(), vec![]);
        assert_eq!(members(" [1] "), Err(ScanError::NotAnObject(Kind::Array)));
        assert_eq!(members("\"s\""), Err(ScanError::NotAnObject(Kind::String)));
        assert!(matches!(members("{\"a\":1,}"), Err(ScanError::Invalid(_))));
        assert_eq!(unescape(r#""a\u00e9\n""#), "aé\n");
    }

    /// Against serde_json's own tree on random objects and random damage to them: the same
    /// verdict, and every member's value reads back as the same JSON value.
    #[test]
    fn agrees_with_serde_json_on_random_and_damaged_records() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(20261202);
        let atoms = ["0", "-12", "3.5e-2", "true", "false", "null", "\"\"", "\"a\\\"b\"", "\"\\u00e9\\\\\"", "\"]}\""];
        fn value(rng: &mut rand::rngs::StdRng, atoms: &[&str], depth: u32) -> String {
            match if depth > 2 { 0 } else { rng.gen_range(0..4) } {
                0 | 1 => atoms[rng.gen_range(0..atoms.len())].to_string(),
                2 => {
                    let n = rng.gen_range(0..4);
                    let items: Vec<String> = (0..n).map(|_| value(rng, atoms, depth + 1)).collect();
                    format!("[{}]", items.join(if rng.gen_bool(0.5) { "," } else { " , " }))
                }
                _ => {
                    let n = rng.gen_range(0..4);
                    let items: Vec<String> =
                        (0..n).map(|k| format!("\"k{k}\\t\":{}", value(rng, atoms, depth + 1))).collect();
                    format!("{{{}}}", items.join(","))
                }
            }
        }
        for round in 0..3000 {
            let n = rng.gen_range(0..6);
            let items: Vec<String> =
                (0..n).map(|k| format!(" \"f{}\" :\n{} ", k % 4, value(&mut rng, &atoms, 0))).collect();
            let mut text = format!("{{{}}}", items.join(","));
            if round % 3 == 0 && !text.is_empty() {
                // damage: cut, or overwrite one byte
                let at = rng.gen_range(0..text.len());
                if text.is_char_boundary(at) {
                    match rng.gen_range(0..3) {
                        0 => text.truncate(at),
                        1 => text.insert(at, [',', '"', '}', ']', 'x', '\\'][rng.gen_range(0..6)]),
                        _ => {
                            text.remove(at);
                        }
                    }
                }
            }
            let tree = serde_json::from_str::<serde_json::Value>(&text);
            match (members(&text), tree) {
                (Ok(ms), Ok(serde_json::Value::Object(obj))) => {
                    for m in &ms {
                        let v: serde_json::Value = serde_json::from_str(m.value).unwrap();
                        let last = ms.iter().rev().find(|o| o.key == m.key).unwrap();
                        if std::ptr::eq(last, m) {
                            assert_eq!(Some(&v), obj.get(m.key.as_ref()), "{text}");
                        }
                    }
                    let keys: std::collections::BTreeSet<&str> = ms.iter().map(|m| m.key.as_ref()).collect();
                    assert_eq!(keys.len(), obj.len(), "{text}");
                }
                // both reject it (the message may differ a little: a tree-less parse reports a cut
                // number or a control character in a string a few characters earlier)
                (Err(ScanError::Invalid(_)), Err(_)) => {}
                (Err(ScanError::NotAnObject(_)), Ok(v)) => assert!(!v.is_object(), "{text}"),
                (mine, theirs) => panic!("{text}: {mine:?} vs {theirs:?}"),
            }
        }
    }
}
