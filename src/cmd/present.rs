//! What `floe run` shows a person: the progress bar while loading, the summary at the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::run::RunSummary;
use crate::telemetry::Counters;

/// Print the end-of-run summary for a person.
pub fn print_summary(s: &RunSummary) {
    let c = &s.counters;
    let rate = if s.elapsed_secs > 0.0 { c.records_read as f64 / s.elapsed_secs } else { 0.0 };
    println!("floe run finished in {:.1}s", s.elapsed_secs);
    println!("  records in (read from the source) {:>12}", c.records_read);
    println!("  bronze objects written            {:>12}  ({} MB)", c.bronze_objects, c.bronze_bytes / 1_000_000);
    println!("  silver: records processed         {:>12}", c.silver_records_in);
    println!("          rows committed            {:>12}", c.silver_rows);
    println!("          dedup drops               {:>12}", c.dedup_drops);
    println!("          bad rows                  {:>12}", c.bad_rows);
    let reasons: BTreeMap<_, _> = c.bad_by_reason.iter().collect();
    for (reason, n) in reasons {
        println!("            {reason:<30}{n:>10}");
    }
    let accounted = c.silver_rows + c.dedup_drops + c.bad_rows;
    println!(
        "  accounting: rows + dedup + bad = {accounted} of {} processed {}",
        c.silver_records_in,
        if accounted == c.silver_records_in { "(nothing lost)" } else { "(MISMATCH)" }
    );
    println!("  throughput                        {rate:>12.0} events/s");
}

/// The progress bar for long runs: records through silver (the slower stage) out of
/// `total_records`, with bronze's progress in the message.
pub fn progress(total_records: u64, counters: Arc<Counters>, done: CancellationToken) -> tokio::task::JoinHandle<()> {
    let bar = indicatif::ProgressBar::new(total_records);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {human_pos}/{human_len} records loaded · {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    tokio::spawn(async move {
        loop {
            let c = counters.snapshot();
            bar.set_position(c.silver_records_in.min(total_records));
            bar.set_message(format!(
                "bronze: {} records in {} objects · silver: {} rows, {} bad, {} dedup",
                c.records_read, c.bronze_objects, c.silver_rows, c.bad_rows, c.dedup_drops
            ));
            tokio::select! {
                _ = done.cancelled() => { bar.finish_and_clear(); return; }
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    })
}
