//! Snowplow enriched events (`decoder = "snowplow-enriched-tsv"`): one tab-separated line of the
//! 131 atomic fields per record, in the canonical order ([`ATOMIC_FIELDS`]). An empty field is
//! NULL; every other value the table takes is checked against its Snowplow type ([`atomic`]), so
//! a wrong field count, a bad timestamp or number, or broken self-describing JSON is a bad row
//! that names the field.

use std::borrow::Cow;

use super::atomic;
use super::contract::{RecordDecoder, Rejection, reasons};
use crate::catalog::tables::TableDef;
use crate::iglu::Envelope;
use crate::model::snowplow::{ATOMIC_FIELD_COUNT, ATOMIC_FIELDS, AtomicKind, atomic_index};

/// The enriched-TSV format for one table: which atomic fields it takes, in its column order.
#[derive(Debug, Clone)]
pub struct SnowplowDecoder {
    columns: Vec<String>,
    /// For each output column: its field's place in the line and its kind.
    fields: Vec<(usize, AtomicKind)>,
    /// The output columns holding self-describing JSON (`contexts`, `unstruct_event`, …).
    envelopes: Vec<(usize, Envelope)>,
}

impl SnowplowDecoder {
    /// The decoder for `def`; every input column names an atomic field ([`TableDef::parse`]
    /// checked that, so an unknown name here is skipped rather than failing).
    pub fn new(def: &TableDef) -> Self {
        let (columns, fields) = def
            .input_columns()
            .filter_map(|c| atomic_index(&c.name).map(|i| (c.name.clone(), (i, ATOMIC_FIELDS[i].1))))
            .unzip::<_, _, Vec<String>, Vec<(usize, AtomicKind)>>();
        let envelopes = fields
            .iter()
            .enumerate()
            .filter_map(|(j, (_, kind))| match kind {
                AtomicKind::Contexts => Some((j, Envelope::Contexts)),
                AtomicKind::Unstruct => Some((j, Envelope::Unstruct)),
                _ => None,
            })
            .collect();
        Self { columns, fields, envelopes }
    }
}

impl RecordDecoder for SnowplowDecoder {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn envelopes(&self) -> &[(usize, Envelope)] {
        &self.envelopes
    }

    fn decode_record<'a>(&self, text: &'a str, values: &mut [Option<Cow<'a, str>>]) -> Result<(), Rejection> {
        // A line read from a file may keep its line ending; the last field is never meant to
        // end in one.
        let line = text.strip_suffix('\n').unwrap_or(text);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut split: [&str; ATOMIC_FIELD_COUNT] = [""; ATOMIC_FIELD_COUNT];
        let mut n = 0usize;
        for part in line.split('\t') {
            if n < ATOMIC_FIELD_COUNT {
                split[n] = part;
            }
            n += 1;
        }
        if n != ATOMIC_FIELD_COUNT {
            return Err((
                reasons::WRONG_FIELD_COUNT,
                format!("expected {ATOMIC_FIELD_COUNT} tab-separated fields (an enriched event), found {n}"),
            ));
        }
        for (slot, &(i, kind)) in values.iter_mut().zip(&self.fields) {
            let value = split[i];
            if !value.is_empty() {
                *slot = Some(atomic::check(ATOMIC_FIELDS[i].0, kind, value)?);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::tables::load_defs_named;

    fn decoder() -> SnowplowDecoder {
        let defs = load_defs_named(None, Some(&["snowplow_events".to_string()])).unwrap();
        SnowplowDecoder::new(&defs[0])
    }

    fn line(set: &[(&str, &str)]) -> String {
        let mut f = vec![""; ATOMIC_FIELD_COUNT];
        for (name, v) in set {
            f[atomic_index(name).unwrap()] = v;
        }
        f.join("\t")
    }

    fn decode(d: &SnowplowDecoder, text: &str) -> Result<Vec<Option<String>>, Rejection> {
        let mut values = vec![None; d.columns().len()];
        d.decode_record(text, &mut values)?;
        Ok(values.into_iter().map(|v| v.map(Cow::into_owned)).collect())
    }

    #[test]
    fn fields_land_in_their_columns_typed_and_empty_as_null() {
        let d = decoder();
        assert_eq!(d.columns().len(), ATOMIC_FIELD_COUNT);
        let text = line(&[
            ("event_id", "c6ef3124-b53a-4b13-a233-0088f79dcbcb"),
            ("collector_tstamp", "2026-11-30 10:00:00.123"),
            ("br_cookies", "1"),
            ("tr_total", "12.345"),
            ("true_tstamp", "2026-11-30 10:00:00"),
        ]) + "\r\n";
        let v = decode(&d, &text).unwrap();
        let col = |n: &str| v[d.columns().iter().position(|c| c == n).unwrap()].clone();
        assert_eq!(col("event_id").as_deref(), Some("c6ef3124-b53a-4b13-a233-0088f79dcbcb"));
        assert_eq!(col("br_cookies").as_deref(), Some("true"));
        assert_eq!(col("tr_total").as_deref(), Some("12.35"));
        assert_eq!(col("true_tstamp").as_deref(), Some("2026-11-30 10:00:00"));
        assert_eq!(col("app_id"), None);
    }

    #[test]
    fn a_wrong_field_count_or_a_bad_value_is_rejected_with_the_field() {
        let d = decoder();
        let short = line(&[]).split_once('\t').unwrap().1.to_string();
        assert_eq!(decode(&d, &short).unwrap_err().0, reasons::WRONG_FIELD_COUNT);
        let long = line(&[]) + "\textra";
        let e = decode(&d, &long).unwrap_err();
        assert_eq!(
            e,
            (
                reasons::WRONG_FIELD_COUNT,
                "expected 131 tab-separated fields (an enriched event), found 132".to_string()
            )
        );
        let e = decode(&d, &line(&[("txn_id", "x")])).unwrap_err();
        assert_eq!(e.0, reasons::INVALID_NUMBER);
        assert!(e.1.starts_with("txn_id: "), "{}", e.1);
        assert_eq!(decode(&d, "{\"event_id\":1}").unwrap_err().0, reasons::WRONG_FIELD_COUNT);
    }
}
