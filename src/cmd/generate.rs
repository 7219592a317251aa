//! `floe generate`: synthetic events into the spool.

use crate::config::Config;
use crate::error::Result;
use crate::source::generator::{Format, GenerateOptions, GenerateReport, generate};

pub fn options(
    events: u64,
    shards: usize,
    duplicate_rate: f64,
    malformed_rate: f64,
    seed: u64,
    format: Format,
) -> GenerateOptions {
    let now = chrono::Utc::now();
    GenerateOptions {
        events,
        shards,
        duplicate_rate,
        malformed_rate,
        seed,
        end_micros: now.timestamp_micros(),
        run_id: format!("gen-{}-{seed}", now.format("%Y%m%dT%H%M%S%.3f")),
        format,
    }
}

pub fn run(cfg: &Config, opts: &GenerateOptions, json: bool) -> Result<GenerateReport> {
    let report = generate(&cfg.source.spool_dir, opts)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "wrote {} records ({} MB) in {} files to {}",
            report.records,
            report.bytes / 1_000_000,
            report.files.len(),
            cfg.source.spool_dir.display()
        );
        println!("  unique valid events: {}", report.unique_valid);
        println!("  duplicates (re-sends): {}", report.duplicates);
        for (reason, n) in &report.malformed_by_reason {
            println!("  malformed ({reason}): {n}");
        }
    }
    Ok(report)
}
