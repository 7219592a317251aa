//! `floe run`: the composition root. Wires source → bronze writer per shard, and the silver
//! loop over the bronze store, and stops them together (SIGTERM, `--until-idle`, or an error).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::bronze::batcher::FlushPolicy;
use crate::bronze::store::BronzeStore;
use crate::bronze::writer::ShardWriter;
use crate::checkpoint::local::LocalCheckpoints;
use crate::config::{Config, SourceKind, StartPosition};
use crate::error::{Error, Result};
use crate::http::Readiness;
use crate::model::{Position, SequenceNumber, ShardId};
use crate::silver::decode::json::JsonDecoder;
use crate::silver::discover::Budget;
use crate::silver::job::{LoopControl, SilverJob, TableJob};
use crate::silver::sql::Transform;
use crate::source::files;
use crate::source::kinesis::api::{FailureKind, KinesisApi, StartAt};
use crate::source::kinesis::consumer::{self, ReadOptions, ShardOutcome};
use crate::source::kinesis::shards::{has_listed_parent, ready_to_read};
use crate::telemetry::{Counters, CountersSnapshot};

/// Shards read at the same time; each holds at most one open bronze batch in memory.
const MAX_ACTIVE_SHARDS: usize = 8;

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    pub until_idle: bool,
    pub bronze: bool,
    pub silver: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub elapsed_secs: f64,
    pub counters: CountersSnapshot,
}

/// Run until cancelled or (with `until_idle`) until drained and caught up. `readiness`, when
/// given, is kept up to date with whether the catalog answers.
pub async fn run(
    cfg: &Config,
    opts: RunOptions,
    cancel: CancellationToken,
    counters: Arc<Counters>,
    readiness: Option<Arc<Readiness>>,
) -> Result<RunSummary> {
    let started = Instant::now();
    let store = BronzeStore::open(&cfg.bronze.location, &cfg.aws)?;
    let (idle_tx, idle_rx) = watch::channel(!opts.bronze);
    let mut tasks: JoinSet<Result<()>> = JoinSet::new();
    if opts.silver {
        let (catalog, tables, _) = super::open_tables(cfg).await?;
        if let Some(r) = readiness.clone() {
            let probe = tables.iter().map(|t| t.ident.clone()).collect::<Vec<_>>();
            tokio::spawn(watch_catalog(catalog.clone(), probe, r, cancel.clone()));
        }
        let mut jobs = Vec::new();
        for managed in tables {
            let transform = Transform::load(&managed.def, cfg.silver.sql_dir.as_deref())?;
            let decoder = JsonDecoder::new(&managed.def, cfg.silver.max_record_bytes);
            jobs.push(TableJob { managed, decoder, transform });
        }
        let job = SilverJob {
            catalog,
            store: store.clone(),
            stream: cfg.source.stream.clone(),
            tables: jobs,
            budget: Budget { max_objects: cfg.silver.batch_max_objects, max_bytes: cfg.silver.batch_max_bytes },
            dedup_lookback: cfg.silver.dedup_lookback,
            counters: counters.clone(),
        };
        let ctl = LoopControl {
            cancel: cancel.clone(),
            sources_idle: idle_rx,
            until_idle: opts.until_idle,
            interval: cfg.silver.interval,
        };
        tasks.spawn(async move { job.run(ctl).await });
    }
    if !opts.silver
        && let Some(r) = &readiness
    {
        r.set(None); // bronze alone does not use the catalog
    }
    if opts.bronze {
        let bronze = BronzeLoop {
            cfg: cfg.clone(),
            store,
            checkpoints: Arc::new(LocalCheckpoints::open(&cfg.checkpoint_path)?),
            counters: counters.clone(),
            cancel: cancel.clone(),
            idle: idle_tx,
            until_idle: opts.until_idle,
        };
        tasks.spawn(async move { bronze.run().await });
    } else {
        drop(idle_tx);
    }
    // The first error stops everything; the others then wind down through the token.
    let mut first_err = None;
    while let Some(done) = tasks.join_next().await {
        let res = done.map_err(|e| Error::invalid(format!("a pipeline task failed: {e}"))).and_then(|r| r);
        if let Err(e) = res {
            tracing::error!(error = %e, "stage failed; stopping");
            cancel.cancel();
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(RunSummary { elapsed_secs: started.elapsed().as_secs_f64(), counters: counters.snapshot() }),
    }
}

/// Every few seconds, check that the catalog answers and still has our tables; `/readyz` reports it.
async fn watch_catalog(
    catalog: Arc<dyn iceberg::Catalog>,
    tables: Vec<iceberg::TableIdent>,
    readiness: Arc<Readiness>,
    cancel: CancellationToken,
) {
    loop {
        let check = async {
            for t in &tables {
                if !catalog.table_exists(t).await? {
                    return Ok::<_, iceberg::Error>(Some(format!("table {t} is missing from the catalog")));
                }
            }
            Ok(None)
        };
        let problem = match tokio::time::timeout(Duration::from_secs(3), check).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => Some(format!("catalog error: {e}")),
            Err(_) => Some("catalog did not answer within 3 s".to_string()),
        };
        readiness.set(problem);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(READINESS_INTERVAL) => {}
        }
    }
}

/// How often readiness is re-checked.
const READINESS_INTERVAL: Duration = Duration::from_secs(2);

struct BronzeLoop {
    cfg: Config,
    store: BronzeStore,
    checkpoints: Arc<LocalCheckpoints>,
    counters: Arc<Counters>,
    cancel: CancellationToken,
    idle: watch::Sender<bool>,
    until_idle: bool,
}

impl BronzeLoop {
    async fn run(self) -> Result<()> {
        match self.cfg.source.kind {
            SourceKind::Spool => self.run_spool().await,
            SourceKind::Kinesis => self.run_kinesis().await,
        }
    }

    /// Discover spool shards, run a reader and a writer for each one not yet ended, and report
    /// idleness (every known shard ended) to silver.
    async fn run_spool(self) -> Result<()> {
        let mut running: JoinSet<(ShardId, Result<()>)> = JoinSet::new();
        let mut active: HashSet<ShardId> = HashSet::new();
        loop {
            if self.cancel.is_cancelled() {
                break;
            }
            let shards = files::list_shards(&self.cfg.source.spool_dir)?;
            let mut all_ended = true;
            for (shard, path) in shards {
                if active.contains(&shard) {
                    all_ended = false;
                    continue;
                }
                let cp = self.checkpoints.get(&shard).await;
                if cp.as_ref().is_some_and(|c| c.ended) {
                    continue;
                }
                all_ended = false;
                if active.len() >= MAX_ACTIVE_SHARDS {
                    continue;
                }
                let after = match cp.and_then(|c| c.sequence_number) {
                    Some(s) => Some(s.parse::<u64>().map_err(|_| {
                        Error::invalid(format!("checkpoint of spool shard {shard} is not a byte offset: {s:?}"))
                    })?),
                    None => None,
                };
                active.insert(shard.clone());
                running.spawn(self.shard_pipeline(shard, path, after));
            }
            self.idle.send_replace(all_ended && active.is_empty());
            if all_ended && active.is_empty() && self.until_idle {
                return Ok(());
            }
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                Some(done) = running.join_next(), if !running.is_empty() => {
                    let (shard, res) = done.map_err(|e| Error::invalid(format!("shard task failed: {e}")))?;
                    active.remove(&shard);
                    res?;
                }
                _ = tokio::time::sleep(self.cfg.source.poll_interval) => {}
            }
        }
        // Shutdown: readers have stopped; writers flush and checkpoint what they hold.
        while let Some(done) = running.join_next().await {
            let (_, res) = done.map_err(|e| Error::invalid(format!("shard task failed: {e}")))?;
            res?;
        }
        Ok(())
    }

    /// Discover the stream's shards (again every poll: splits and merges show up without a
    /// restart), read every shard whose parents have ended, and report idleness to silver.
    async fn run_kinesis(self) -> Result<()> {
        let sdk = crate::aws::sdk_config(&self.cfg.aws).await;
        let api = KinesisApi::new(&sdk, &self.cfg.source.stream);
        let mut running: JoinSet<(ShardId, Result<ShardOutcome>)> = JoinSet::new();
        let mut active: HashSet<ShardId> = HashSet::new();
        // With --until-idle: shards that reached the tip in this run are not read again.
        let mut caught_up: HashSet<ShardId> = HashSet::new();
        loop {
            if self.cancel.is_cancelled() {
                break;
            }
            let shards = match api.list_shards().await {
                Ok(s) => s,
                Err(e) if e.kind == FailureKind::Fatal => return Err(Error::Source(e.to_string())),
                Err(e) => {
                    tracing::warn!(error = %e, "listing shards failed; retrying at the next poll");
                    Vec::new()
                }
            };
            let mut ended = HashSet::new();
            for s in &shards {
                if self.checkpoints.get(&s.id).await.is_some_and(|c| c.ended) {
                    ended.insert(s.id.clone());
                }
            }
            let busy: HashSet<ShardId> = active.union(&caught_up).cloned().collect();
            for s in ready_to_read(&shards, &ended, &busy) {
                let (start, resume) = match self.checkpoints.get(&s.id).await.and_then(|c| c.sequence_number.map(|q| (q, c.sub_sequence))) {
                    Some((seq, sub)) => {
                        let seq = SequenceNumber::new(seq.clone())
                            .map_err(|e| Error::invalid(format!("checkpoint of shard {}: {e}", s.id)))?;
                        // At (not after) the checkpoint: a KPL aggregate may continue past its
                        // checkpointed sub-record; the consumer drops what is already durable.
                        (StartAt::AtSequence(seq.clone()), Some(Position::new(seq, sub)))
                    }
                    None if has_listed_parent(s, &shards) => (StartAt::TrimHorizon, None),
                    None => (start_at(&self.cfg.source.start_position), None),
                };
                tracing::info!(shard = %s.id, start = ?start, "reading shard");
                active.insert(s.id.clone());
                running.spawn(self.kinesis_pipeline(api.clone(), s.id.clone(), start, resume));
            }
            let all_done = !shards.is_empty()
                && active.is_empty()
                && shards.iter().all(|s| ended.contains(&s.id) || caught_up.contains(&s.id));
            self.idle.send_replace(all_done);
            if all_done && self.until_idle {
                return Ok(());
            }
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                Some(done) = running.join_next(), if !running.is_empty() => {
                    let (shard, res) = done.map_err(|e| Error::invalid(format!("shard task failed: {e}")))?;
                    active.remove(&shard);
                    if res? == ShardOutcome::CaughtUp {
                        caught_up.insert(shard);
                    }
                }
                _ = tokio::time::sleep(self.cfg.source.poll_interval) => {}
            }
        }
        while let Some(done) = running.join_next().await {
            let (_, res) = done.map_err(|e| Error::invalid(format!("shard task failed: {e}")))?;
            res?;
        }
        Ok(())
    }

    fn writer(&self, shard: &ShardId) -> ShardWriter {
        let b = &self.cfg.bronze;
        ShardWriter {
            stream: self.cfg.source.stream.clone(),
            shard: shard.clone(),
            store: self.store.clone(),
            checkpoints: self.checkpoints.clone(),
            policy: FlushPolicy { max_records: b.flush_records, max_bytes: b.flush_bytes, max_age: b.flush_interval },
            format: b.format,
            zstd_level: b.zstd_level,
            counters: self.counters.clone(),
        }
    }

    fn shard_pipeline(
        &self,
        shard: ShardId,
        path: std::path::PathBuf,
        after: Option<u64>,
    ) -> impl std::future::Future<Output = (ShardId, Result<()>)> + Send + 'static {
        let (tx, rx) = mpsc::channel(4);
        let writer = self.writer(&shard);
        let reader = files::read_shard(shard.clone(), path, after, self.cfg.source.read_records, tx, self.cancel.clone());
        async move {
            let (r, w) = tokio::join!(reader, writer.run(rx));
            (shard, r.and(w))
        }
    }

    fn kinesis_pipeline(
        &self,
        api: KinesisApi,
        shard: ShardId,
        start: StartAt,
        resume: Option<Position>,
    ) -> impl std::future::Future<Output = (ShardId, Result<ShardOutcome>)> + Send + 'static {
        let (tx, rx) = mpsc::channel(4);
        let writer = self.writer(&shard);
        let opts = ReadOptions {
            limit: self.cfg.source.read_records as i32,
            poll_interval: self.cfg.source.poll_interval,
            stop_when_caught_up: self.until_idle,
        };
        let reader = consumer::read_shard(api, shard.clone(), start, resume, opts, tx, self.cancel.clone());
        async move {
            let (r, w) = tokio::join!(reader, writer.run(rx));
            (shard, w.and(r))
        }
    }
}

fn start_at(p: &StartPosition) -> StartAt {
    match p {
        StartPosition::TrimHorizon => StartAt::TrimHorizon,
        StartPosition::Latest => StartAt::Latest,
        StartPosition::AtTimestamp(ms) => StartAt::Timestamp(*ms),
    }
}

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
