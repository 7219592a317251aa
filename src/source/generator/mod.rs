//! Synthetic product-analytics events written into a spool directory, one record per line: web,
//! mobile and server events of about 1 KB, with a chosen share of exact re-sends (duplicates)
//! and of malformed records, so the demo, the tests and the benchmarks exercise every path. The
//! report says exactly how many of each were written.
//!
//! - [`json`]: JSON objects in the Snowplow canonical field names (table `events`).
//! - [`snowplow`]: Snowplow enriched events, 131 tab-separated fields (table `snowplow_events`).

pub mod json;
mod options;
pub mod snowplow;

pub use options::{Format, GenerateOptions};

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::error::{Error, Result};

/// Kinds of malformed record of `format`, each with the bad-row reason silver must give it.
pub fn malformed_kinds(format: Format) -> &'static [(&'static str, &'static str)] {
    match format {
        Format::Json => json::MALFORMED_KINDS,
        Format::SnowplowEnrichedTsv => snowplow::MALFORMED_KINDS,
    }
}

fn valid(rng: &mut StdRng, opts: &GenerateOptions) -> Vec<u8> {
    match opts.format {
        Format::Json => json::valid(rng, opts),
        Format::SnowplowEnrichedTsv => snowplow::valid(rng, opts),
    }
}

fn malformed(kind: &str, rng: &mut StdRng, opts: &GenerateOptions) -> Vec<u8> {
    match opts.format {
        Format::Json => json::malformed(kind, rng, opts),
        Format::SnowplowEnrichedTsv => snowplow::malformed(kind, rng, opts),
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct GenerateReport {
    pub files: Vec<PathBuf>,
    pub records: u64,
    pub bytes: u64,
    /// Valid records with an event id seen for the first time.
    pub unique_valid: u64,
    /// Exact re-sends of a valid record.
    pub duplicates: u64,
    /// Malformed records by the bad-row reason silver will give them.
    pub malformed_by_reason: BTreeMap<String, u64>,
}

impl GenerateReport {
    pub fn malformed(&self) -> u64 {
        self.malformed_by_reason.values().sum()
    }
}

/// Write the spool files and return what was written.
pub fn generate(dir: &Path, opts: &GenerateOptions) -> Result<GenerateReport> {
    if opts.shards == 0 {
        return Err(Error::invalid("generate: --shards must be at least 1"));
    }
    if !(0.0..=1.0).contains(&opts.duplicate_rate) || !(0.0..=1.0).contains(&opts.malformed_rate) {
        return Err(Error::invalid("generate: rates must be between 0 and 1"));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut writers = Vec::new();
    let mut report = GenerateReport::default();
    for k in 0..opts.shards {
        let ext = match opts.format {
            Format::Json => "ndjson",
            Format::SnowplowEnrichedTsv => "tsv",
        };
        let name = format!("{}-{k:03}.{ext}", opts.run_id);
        let tmp = dir.join(format!(".{name}.tmp"));
        let f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        writers.push((std::io::BufWriter::with_capacity(1 << 20, f), tmp, dir.join(name)));
    }
    // Recent valid lines, so duplicates are re-sends of events that really were sent.
    let mut recent: Vec<Vec<u8>> = Vec::with_capacity(1024);
    for i in 0..opts.events {
        let roll: f64 = rng.r#gen();
        let line: Vec<u8> = if roll < opts.malformed_rate {
            let kinds = malformed_kinds(opts.format);
            let (kind, reason) = kinds[(i as usize) % kinds.len()];
            *report.malformed_by_reason.entry(reason.to_string()).or_default() += 1;
            malformed(kind, &mut rng, opts)
        } else if roll < opts.malformed_rate + opts.duplicate_rate && !recent.is_empty() {
            report.duplicates += 1;
            recent[rng.gen_range(0..recent.len())].clone()
        } else {
            report.unique_valid += 1;
            let line = valid(&mut rng, opts);
            if recent.len() < 1024 {
                recent.push(line.clone());
            } else {
                let slot = rng.gen_range(0..recent.len());
                recent[slot] = line.clone();
            }
            line
        };
        let (w, tmp, _) = &mut writers[rng.gen_range(0..opts.shards)];
        w.write_all(&line).and_then(|_| w.write_all(b"\n")).map_err(|e| Error::io(tmp.as_path(), e))?;
        report.records += 1;
        report.bytes += line.len() as u64 + 1;
    }
    for (w, tmp, path) in writers {
        let f = w.into_inner().map_err(|e| Error::io(&tmp, e.into_error()))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        report.files.push(path);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_counts_add_up_and_runs_are_deterministic() {
        for format in [Format::Json, Format::SnowplowEnrichedTsv] {
            let dir = tempfile::tempdir().unwrap();
            let opts = GenerateOptions {
                events: 2000,
                shards: 3,
                duplicate_rate: 0.05,
                malformed_rate: 0.05,
                seed: 7,
                end_micros: 1_750_000_000_000_000,
                run_id: "t".into(),
                format,
            };
            let r = generate(dir.path(), &opts).unwrap();
            assert_eq!(r.records, r.unique_valid + r.duplicates + r.malformed());
            assert!(r.duplicates > 0 && r.malformed() > 0);
            assert_eq!(
                r.malformed_by_reason.len(),
                malformed_kinds(format).iter().map(|k| k.1).collect::<std::collections::BTreeSet<_>>().len()
            );
            let lines: Vec<Vec<u8>> = r
                .files
                .iter()
                .flat_map(|f| std::fs::read(f).unwrap().split(|b| *b == b'\n').map(<[u8]>::to_vec).collect::<Vec<_>>())
                .collect();
            assert_eq!(
                lines.iter().filter(|l| !l.is_empty()).count() as u64
                    + r.malformed_by_reason.get("empty_record").copied().unwrap_or(0),
                r.records
            );
            if format == Format::SnowplowEnrichedTsv {
                let full = lines.iter().filter(|l| l.split(|b| *b == b'\t').count() == 131).count() as u64;
                assert!(full >= r.unique_valid + r.duplicates, "every valid line has the 131 fields");
            }
            let dir2 = tempfile::tempdir().unwrap();
            let r2 = generate(dir2.path(), &opts).unwrap();
            assert_eq!(std::fs::read(&r.files[0]).unwrap(), std::fs::read(&r2.files[0]).unwrap());
        }
    }
}
