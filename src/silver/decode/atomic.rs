//! One atomic field of a Snowplow enriched event, checked against its Snowplow type and turned
//! into text the SQL casts without loss: the decoder does the checking, so a bad value is a bad
//! row naming the field rather than a NULL after a silent cast.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::contract::{Rejection, reasons};
use crate::model::snowplow::{AtomicKind, SchemaKey};

/// The largest money value `decimal(18,2)` holds, in hundredths.
const DECIMAL_18_2_MAX: i128 = 10i128.pow(18) - 1;

/// `value` (never empty: an empty field is NULL before this) as the text its column is cast
/// from, or why the line is rejected.
pub fn check<'a>(name: &str, kind: AtomicKind, value: &'a str) -> Result<Cow<'a, str>, Rejection> {
    let bad = |reason: &'static str, why: &str| (reason, format!("{name}: {why}: {value:?}"));
    match kind {
        AtomicKind::Text => Ok(Cow::Borrowed(value)),
        AtomicKind::Int => match value.parse::<i32>() {
            Ok(_) => Ok(Cow::Borrowed(value)),
            Err(_) => Err(bad(reasons::INVALID_NUMBER, "not a 32-bit integer")),
        },
        AtomicKind::Double => match value.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Cow::Borrowed(value)),
            _ => Err(bad(reasons::INVALID_NUMBER, "not a finite number")),
        },
        AtomicKind::Decimal => match hundredths(value) {
            Some(c) if c.abs() <= DECIMAL_18_2_MAX => Ok(Cow::Owned(format_hundredths(c))),
            Some(_) => Err(bad(reasons::INVALID_NUMBER, "does not fit decimal(18,2)")),
            None => Err(bad(reasons::INVALID_NUMBER, "not a decimal number")),
        },
        AtomicKind::Bool => match value {
            "1" => Ok(Cow::Borrowed("true")),
            "0" => Ok(Cow::Borrowed("false")),
            _ => Err(bad(reasons::INVALID_BOOLEAN, "expected 1 or 0")),
        },
        AtomicKind::Tstamp => match is_enrich_timestamp(value) {
            true => Ok(Cow::Borrowed(value)),
            false => Err(bad(reasons::INVALID_TIMESTAMP, "expected YYYY-MM-DD HH:MM:SS[.fff] (UTC)")),
        },
        AtomicKind::Contexts => {
            self_describing::<Vec<SelfDescribing<'_, IgnoredAny>>>(name, value, |outer| {
                outer.data.iter().map(|c| c.key(name)).collect::<Result<Vec<_>, _>>().map(drop)
            })?;
            Ok(Cow::Borrowed(value))
        }
        AtomicKind::Unstruct => {
            self_describing::<SelfDescribing<'_, IgnoredAny>>(name, value, |outer| outer.data.key(name).map(drop))?;
            Ok(Cow::Borrowed(value))
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional fraction of 1 to 9 digits, naming a real date and
/// time — enrich's format, checked by hand: seven per event, and a format-string parser costs
/// several times more.
fn is_enrich_timestamp(v: &str) -> bool {
    let b = v.as_bytes();
    let digits = |from: usize, to: usize| b[from..to].iter().all(u8::is_ascii_digit);
    let num = |from: usize, to: usize| b[from..to].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return false;
    }
    if !(digits(0, 4) && digits(5, 7) && digits(8, 10) && digits(11, 13) && digits(14, 16) && digits(17, 19)) {
        return false;
    }
    let fraction_ok = match &b[19..] {
        [] => true,
        [b'.', rest @ ..] => (1..=9).contains(&rest.len()) && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    fraction_ok
        && num(11, 13) < 24
        && num(14, 16) < 60
        && num(17, 19) < 60
        && chrono::NaiveDate::from_ymd_opt(num(0, 4) as i32, num(5, 7), num(8, 10)).is_some()
}

/// `{"schema": "iglu:…", "data": …}`. Other members are allowed, as in Snowplow's SDKs.
#[derive(Deserialize)]
struct SelfDescribing<'a, T> {
    #[serde(borrow)]
    schema: Cow<'a, str>,
    data: T,
}

impl<T> SelfDescribing<'_, T> {
    fn key(&self, field: &str) -> Result<(), Rejection> {
        match SchemaKey::parse(&self.schema) {
            Some(_) => Ok(()),
            None => Err((
                reasons::INVALID_SELF_DESCRIBING,
                format!("{field}: {:?} is not an Iglu schema key (iglu:vendor/name/format/M-R-A)", self.schema),
            )),
        }
    }
}

/// Parse `value` as a self-describing JSON whose `data` is a `T`, then apply `inner`.
fn self_describing<'a, T: Deserialize<'a>>(
    field: &str,
    value: &'a str,
    inner: impl FnOnce(&SelfDescribing<'a, T>) -> Result<(), Rejection>,
) -> Result<(), Rejection> {
    match serde_json::from_str::<SelfDescribing<'a, T>>(value) {
        Ok(sd) => inner(&sd),
        Err(e) if e.is_data() => Err((reasons::INVALID_SELF_DESCRIBING, format!("{field}: {e}"))),
        Err(e) => Err((reasons::INVALID_JSON, format!("{field}: {e}"))),
    }
}

/// A plain decimal (`-12.5`, `0.999`, `3`) in hundredths, rounded half away from zero — or a
/// number in exponent form (`1.5E3`), through a double. `None`: not a number.
fn hundredths(s: &str) -> Option<i128> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.bytes().any(|b| b == b'e' || b == b'E') {
        let v: f64 = s.parse().ok()?;
        return (v.is_finite() && v.abs() < 1e19).then(|| (v * 100.0).round() as i128);
    }
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) || int.len() > 20 {
        return None;
    }
    let whole: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let f = frac.as_bytes();
    let digit = |i: usize| f.get(i).map_or(0, |b| i128::from(b - b'0'));
    let mut c = whole * 100 + digit(0) * 10 + digit(1);
    if digit(2) >= 5 {
        c += 1;
    }
    Some(if neg { -c } else { c })
}

fn format_hundredths(c: i128) -> String {
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(kind: AtomicKind, v: &str) -> String {
        check("f", kind, v).unwrap().into_owned()
    }
    fn reason(kind: AtomicKind, v: &str) -> &'static str {
        check("f", kind, v).unwrap_err().0
    }

    #[test]
    fn money_is_rounded_to_cents_and_bounded() {
        assert_eq!(ok(AtomicKind::Decimal, "12.345"), "12.35");
        assert_eq!(ok(AtomicKind::Decimal, "-0.005"), "-0.01");
        assert_eq!(ok(AtomicKind::Decimal, "7"), "7.00");
        assert_eq!(ok(AtomicKind::Decimal, ".5"), "0.50");
        assert_eq!(ok(AtomicKind::Decimal, "1.5E3"), "1500.00");
        assert_eq!(ok(AtomicKind::Decimal, "9999999999999999.99"), "9999999999999999.99");
        assert_eq!(reason(AtomicKind::Decimal, "10000000000000000"), reasons::INVALID_NUMBER);
        for bad in ["", "-", ".", "1.2.3", "abc", "1,5", "NaN", "--1"] {
            assert!(hundredths(bad).is_none_or(|c| c.abs() > DECIMAL_18_2_MAX), "{bad}");
        }
    }

    #[test]
    fn each_kind_rejects_what_is_not_of_it() {
        assert_eq!(reason(AtomicKind::Int, "3000000000"), reasons::INVALID_NUMBER);
        assert_eq!(reason(AtomicKind::Int, "1.5"), reasons::INVALID_NUMBER);
        assert_eq!(reason(AtomicKind::Double, "inf"), reasons::INVALID_NUMBER);
        assert_eq!(ok(AtomicKind::Double, "-33.5"), "-33.5");
        assert_eq!(ok(AtomicKind::Bool, "1"), "true");
        assert_eq!(reason(AtomicKind::Bool, "true"), reasons::INVALID_BOOLEAN);
        assert_eq!(ok(AtomicKind::Tstamp, "2026-11-30 23:59:59.123"), "2026-11-30 23:59:59.123");
        assert_eq!(ok(AtomicKind::Tstamp, "2026-11-30 23:59:59"), "2026-11-30 23:59:59");
        assert_eq!(reason(AtomicKind::Tstamp, "2026-11-30T23:59:59Z"), reasons::INVALID_TIMESTAMP);
        assert_eq!(reason(AtomicKind::Tstamp, "2026-02-30 00:00:00"), reasons::INVALID_TIMESTAMP);
        for bad in [
            "2026-11-30 24:00:00",
            "2026-11-30 23:60:00",
            "2026-11-30 23:59:59.",
            "2026-11-30 23:59:59.1234567890",
            "2026-11-30 23:59",
            "2026-1-30 23:59:59",
            "２026-11-30 23:59:59",
        ] {
            assert_eq!(reason(AtomicKind::Tstamp, bad), reasons::INVALID_TIMESTAMP, "{bad}");
        }
        assert_eq!(ok(AtomicKind::Tstamp, "2024-02-29 00:00:00.5"), "2024-02-29 00:00:00.5");
    }

    #[test]
    fn self_describing_json_is_checked_for_shape_and_keys() {
        let ctx = r#"{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0","data":[{"schema":"iglu:com.acme/user/jsonschema/1-0-0","data":{"a":1}}]}"#;
        assert_eq!(ok(AtomicKind::Contexts, ctx), ctx);
        let ue = r#"{"schema":"iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0","data":{"schema":"iglu:com.acme/click/jsonschema/1-0-1","data":{}}}"#;
        assert_eq!(ok(AtomicKind::Unstruct, ue), ue);
        assert_eq!(reason(AtomicKind::Contexts, "{\"schema\":"), reasons::INVALID_JSON);
        assert_eq!(reason(AtomicKind::Contexts, r#"{"schema":"x","data":{}}"#), reasons::INVALID_SELF_DESCRIBING);
        assert_eq!(
            reason(AtomicKind::Contexts, r#"{"schema":"x","data":[{"data":1}]}"#),
            reasons::INVALID_SELF_DESCRIBING
        );
        let bad_key = r#"{"schema":"x","data":[{"schema":"iglu:com.acme/user/jsonschema/0-0-0","data":1}]}"#;
        assert_eq!(reason(AtomicKind::Contexts, bad_key), reasons::INVALID_SELF_DESCRIBING);
        assert_eq!(
            reason(AtomicKind::Unstruct, r#"{"schema":"x","data":{"schema":"y"}}"#),
            reasons::INVALID_SELF_DESCRIBING
        );
        assert_eq!(reason(AtomicKind::Unstruct, "[1]"), reasons::INVALID_SELF_DESCRIBING);
    }
}
