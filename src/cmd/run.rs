//! `floe run`: the composition root. Wires source → bronze writer per shard, and the silver
//! loop over the bronze store, and stops them together (SIGTERM, `--until-idle`, or an error).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::bronze::batcher::FlushPolicy;
use crate::bronze::store::BronzeStore;
use crate::bronze::writer::ShardWriter;
use crate::checkpoint::dynamodb::LeaseTable;
use crate::checkpoint::local::LocalCheckpoints;
use crate::checkpoint::{Checkpoints, ShardCheckpoint};
use crate::config::{CheckpointKind, Config, SourceKind, StartPosition};
use crate::error::{Error, Result};
use crate::http::Readiness;
use crate::model::{Position, SequenceNumber, ShardId};
use crate::silver::decode::json::JsonDecoder;
use crate::silver::discover::Budget;
use crate::silver::job::{LoopControl, SilverJob, TableJob};
use crate::silver::sql::Transform;
use crate::source::files;
use crate::source::kinesis::api::{FailureKind, KinesisApi, ShardInfo, StartAt};
use crate::source::kinesis::consumer::{self, ReadOptions, ShardOutcome};
use crate::source::kinesis::lease::{self, ExpiryTracker};
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
            checkpoints: open_checkpoints(cfg).await?,
            counters: counters.clone(),
            cancel: cancel.clone(),
            idle: idle_tx,
            until_idle: opts.until_idle,
            readiness: readiness.clone(),
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

/// The checkpoint store `checkpoint.type` names.
pub async fn open_checkpoints(cfg: &Config) -> Result<Checkpoints> {
    Ok(match &cfg.checkpoint {
        CheckpointKind::Local => Checkpoints::Local(Arc::new(LocalCheckpoints::open(&cfg.checkpoint_path)?)),
        CheckpointKind::DynamoDb(settings) => {
            let sdk = crate::aws::sdk_config(&cfg.aws).await;
            Checkpoints::Leased(Arc::new(LeaseTable::new(&sdk, &cfg.source.stream, settings)))
        }
    })
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
    checkpoints: Checkpoints,
    counters: Arc<Counters>,
    cancel: CancellationToken,
    idle: watch::Sender<bool>,
    until_idle: bool,
    readiness: Option<Arc<Readiness>>,
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
    /// restart), read every shard whose parents have ended — with leases, only the shards this
    /// worker holds — and report idleness to silver.
    async fn run_kinesis(self) -> Result<()> {
        let sdk = crate::aws::sdk_config(&self.cfg.aws).await;
        let api = KinesisApi::new(&sdk, &self.cfg.source.stream);
        let leases = match &self.checkpoints {
            Checkpoints::Leased(t) => Some(t.clone()),
            Checkpoints::Local(_) => None,
        };
        let tokens: ShardTokens = Arc::new(std::sync::Mutex::new(HashMap::new()));
        let stop_renewing = CancellationToken::new();
        if let Some(t) = &leases {
            tokio::spawn(renew_leases(t.clone(), tokens.clone(), stop_renewing.clone()));
        }
        if let Some(r) = &self.readiness {
            tokio::spawn(watch_shards(r.clone(), leases.clone(), self.cfg.source.stuck_after, stop_renewing.clone()));
        }
        let res = match self.fan_out_consumer(&api).await {
            Ok(consumer_arn) => self.drive_kinesis(&api, consumer_arn, leases.as_ref(), &tokens).await,
            Err(e) => Err(e),
        };
        if let Some(t) = &leases {
            // Whatever the exit: hand the leases back, so other workers need not wait for expiry.
            for shard in t.held() {
                if let Err(e) = t.release(&shard).await {
                    tracing::warn!(shard = %shard, error = %e, "could not release the lease; it will expire");
                }
            }
        }
        stop_renewing.cancel();
        res
    }

    /// With `source.consumer = "efo"`: the registered consumer's ARN (registered now if it is
    /// not yet), retrying passing failures until shutdown.
    async fn fan_out_consumer(&self, api: &KinesisApi) -> Result<Option<String>> {
        let Some(name) = &self.cfg.source.fan_out else { return Ok(None) };
        let mut wait = Duration::from_millis(500);
        loop {
            match api.ensure_consumer(name).await {
                Ok(arn) => {
                    tracing::info!(consumer = %arn, "reading through enhanced fan-out");
                    return Ok(Some(arn));
                }
                Err(e) if e.kind == FailureKind::Fatal => return Err(Error::Source(e.to_string())),
                Err(e) => tracing::warn!(error = %e, "enhanced fan-out consumer not ready; retrying"),
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return Ok(None),
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(Duration::from_secs(10));
        }
    }

    async fn drive_kinesis(
        &self,
        api: &KinesisApi,
        fan_out: Option<String>,
        leases: Option<&Arc<LeaseTable>>,
        tokens: &ShardTokens,
    ) -> Result<()> {
        let mut running: JoinSet<(ShardId, Result<ShardOutcome>)> = JoinSet::new();
        let mut active: HashSet<ShardId> = HashSet::new();
        // With --until-idle: shards that reached the tip in this run are not read again.
        let mut caught_up: HashSet<ShardId> = HashSet::new();
        let mut tracker = leases.map(|t| ExpiryTracker::new(t.lease_duration()));
        let mut ensured: HashSet<ShardId> = HashSet::new();
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
            let round = match (leases, tracker.as_mut()) {
                (Some(t), Some(tracker)) => {
                    self.lease_round(t, tracker, &shards, &mut ensured, &active, &caught_up).await
                }
                _ => self.local_round(&shards, &active, &caught_up).await.map(Some),
            };
            let round = match round {
                Ok(Some(r)) => r,
                Ok(None) => Round::default(),
                Err(e) => return Err(e),
            };
            for (s, cp) in &round.claim {
                let (start, resume) = start_for(s, cp.clone(), &shards, &self.cfg.source.start_position)?;
                tracing::info!(shard = %s.id, start = ?start, "reading shard");
                let token = self.cancel.child_token();
                lock_tokens(tokens).insert(s.id.clone(), token.clone());
                crate::telemetry::shard_progress(s.id.as_str());
                active.insert(s.id.clone());
                running.spawn(self.kinesis_pipeline(api.clone(), fan_out.clone(), s.id.clone(), start, resume, token));
            }
            let all_done = !shards.is_empty()
                && active.is_empty()
                && shards.iter().all(|s| {
                    round.ended.contains(&s.id) || caught_up.contains(&s.id) || round.elsewhere.contains(&s.id)
                });
            self.idle.send_replace(all_done);
            if all_done && self.until_idle {
                return Ok(());
            }
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                Some(done) = running.join_next(), if !running.is_empty() => {
                    let (shard, res) = done.map_err(|e| Error::invalid(format!("shard task failed: {e}")))?;
                    active.remove(&shard);
                    lock_tokens(tokens).remove(&shard);
                    crate::telemetry::shard_stopped(shard.as_str());
                    if shard_finished(&shard, res, leases).await? == Some(ShardOutcome::CaughtUp) {
                        caught_up.insert(shard);
                    }
                }
                _ = tokio::time::sleep(self.cfg.source.poll_interval) => {}
            }
        }
        while let Some(done) = running.join_next().await {
            let (shard, res) = done.map_err(|e| Error::invalid(format!("shard task failed: {e}")))?;
            shard_finished(&shard, res, leases).await?;
        }
        Ok(())
    }

    /// One worker alone: every readable shard not running is ours.
    async fn local_round(
        &self,
        shards: &[ShardInfo],
        active: &HashSet<ShardId>,
        caught_up: &HashSet<ShardId>,
    ) -> Result<Round> {
        let mut round = Round::default();
        for s in shards {
            if self.checkpoints.get(&s.id).await.is_some_and(|c| c.ended) {
                round.ended.insert(s.id.clone());
            }
        }
        let busy: HashSet<ShardId> = active.union(caught_up).cloned().collect();
        for s in ready_to_read(shards, &round.ended, &busy) {
            round.claim.push((s.clone(), self.checkpoints.get(&s.id).await));
        }
        Ok(round)
    }

    /// Several workers: make sure every listed shard has a lease, read the table, and take what
    /// the balancing policy says. `Ok(None)` when the table could not be read this time (the
    /// next poll tries again; held shards keep running).
    async fn lease_round(
        &self,
        t: &Arc<LeaseTable>,
        tracker: &mut ExpiryTracker,
        shards: &[ShardInfo],
        ensured: &mut HashSet<ShardId>,
        active: &HashSet<ShardId>,
        caught_up: &HashSet<ShardId>,
    ) -> Result<Option<Round>> {
        let soft = |e: Error, what: &str| -> Result<Option<Round>> {
            if e.is_retryable() {
                tracing::warn!(error = %e, "{what} failed; retrying at the next poll");
                Ok(None)
            } else {
                Err(e)
            }
        };
        let new: Vec<&ShardInfo> = shards.iter().filter(|s| !ensured.contains(&s.id)).collect();
        for s in new {
            let parents: Vec<ShardId> = s.parents().cloned().collect();
            match t.ensure(&s.id, &parents).await {
                Ok(()) => {
                    ensured.insert(s.id.clone());
                }
                Err(e) => return soft(e, "adding a lease"),
            }
        }
        let table = match t.scan().await {
            Ok(l) => l,
            Err(e) => return soft(e, "reading the lease table"),
        };
        let mut round = Round {
            ended: table.iter().filter(|l| l.checkpoint.ended).map(|l| l.shard.clone()).collect(),
            ..Round::default()
        };
        let expired = tracker.observe(&table, std::time::Instant::now());
        let readable: HashSet<ShardId> = ready_to_read(shards, &round.ended, &HashSet::new())
            .into_iter()
            .map(|s| s.id.clone())
            .filter(|id| !caught_up.contains(id))
            .collect();
        let me = t.worker_id();
        round.elsewhere = table
            .iter()
            .filter(|l| l.owner.as_deref().is_some_and(|o| o != me) && !expired.contains(&l.shard))
            .map(|l| l.shard.clone())
            .collect();
        let held: HashSet<ShardId> = t.held().into_iter().chain(active.iter().cloned()).collect();
        let plan = lease::plan(me, &table, &readable, &expired, &held);
        for shard in plan.take.iter().chain(plan.steal.iter()) {
            let (Some(lease), Some(info)) =
                (table.iter().find(|l| &l.shard == shard), shards.iter().find(|s| &s.id == shard))
            else {
                continue;
            };
            let was = lease.owner.clone();
            match t.take(lease).await {
                Ok(true) => {
                    tracing::info!(shard = %shard, previous_owner = ?was, stolen = plan.steal.as_ref() == Some(shard), "lease taken");
                    crate::telemetry::record_lease_taken(shard.as_str());
                    round.elsewhere.remove(shard);
                    round.claim.push((info.clone(), t.checkpoint(shard)));
                }
                Ok(false) => tracing::debug!(shard = %shard, "another worker took the lease first"),
                Err(e) => return soft(e, "taking a lease").map(|_| Some(round)),
            }
        }
        Ok(Some(round))
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
        let reader =
            files::read_shard(shard.clone(), path, after, self.cfg.source.read_records, tx, self.cancel.clone());
        async move {
            let (r, w) = tokio::join!(reader, writer.run(rx));
            (shard, r.and(w))
        }
    }

    fn kinesis_pipeline(
        &self,
        api: KinesisApi,
        fan_out: Option<String>,
        shard: ShardId,
        start: StartAt,
        resume: Option<Position>,
        cancel: CancellationToken,
    ) -> impl std::future::Future<Output = (ShardId, Result<ShardOutcome>)> + Send + 'static {
        let (tx, rx) = mpsc::channel(4);
        let writer = self.writer(&shard);
        let opts = ReadOptions {
            limit: self.cfg.source.read_records as i32,
            poll_interval: self.cfg.source.poll_interval,
            stop_when_caught_up: self.until_idle,
            fan_out,
        };
        let reader = consumer::read_shard(api, shard.clone(), start, resume, opts, tx, cancel);
        async move {
            let (r, w) = tokio::join!(reader, writer.run(rx));
            (shard, w.and(r))
        }
    }
}

/// Shards running in this worker, each with the token that stops it (a lost lease stops one).
type ShardTokens = Arc<std::sync::Mutex<HashMap<ShardId, CancellationToken>>>;

fn lock_tokens(t: &ShardTokens) -> std::sync::MutexGuard<'_, HashMap<ShardId, CancellationToken>> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

/// What one poll decided.
#[derive(Default)]
struct Round {
    /// Shards whose end is checkpointed.
    ended: HashSet<ShardId>,
    /// Shards another live worker holds (not ours to wait for with --until-idle).
    elsewhere: HashSet<ShardId>,
    /// Shards to start reading now, with their checkpoints.
    claim: Vec<(ShardInfo, Option<ShardCheckpoint>)>,
}

/// Where to start reading `s`: at (not after) its checkpoint — a KPL aggregate may continue past
/// its checkpointed sub-record, and the consumer drops what is already durable; a reshard's
/// child from its beginning; anything else from `source.start_position`.
fn start_for(
    s: &ShardInfo,
    cp: Option<ShardCheckpoint>,
    shards: &[ShardInfo],
    position: &StartPosition,
) -> Result<(StartAt, Option<Position>)> {
    Ok(match cp.and_then(|c| c.sequence_number.map(|q| (q, c.sub_sequence))) {
        Some((seq, sub)) => {
            let seq =
                SequenceNumber::new(seq).map_err(|e| Error::invalid(format!("checkpoint of shard {}: {e}", s.id)))?;
            (StartAt::AtSequence(seq.clone()), Some(Position::new(seq, sub)))
        }
        None if has_listed_parent(s, shards) => (StartAt::TrimHorizon, None),
        None => (start_at(position), None),
    })
}

/// A shard task ended: give an ended shard's lease back; a lost lease or a passing fault ends
/// only that shard (it is taken and read again from its checkpoint); anything else stops floe.
async fn shard_finished(
    shard: &ShardId,
    res: Result<ShardOutcome>,
    leases: Option<&Arc<LeaseTable>>,
) -> Result<Option<ShardOutcome>> {
    match res {
        Ok(outcome) => {
            if let (ShardOutcome::Ended, Some(t)) = (outcome, leases)
                && let Err(e) = t.release(shard).await
            {
                tracing::warn!(shard = %shard, error = %e, "could not release the lease of an ended shard");
            }
            Ok(Some(outcome))
        }
        Err(e @ Error::LeaseLost { .. }) => {
            tracing::warn!(shard = %shard, error = %e, "stopped writing the shard: its lease was taken over");
            Ok(None)
        }
        Err(e) if e.is_retryable() => {
            tracing::warn!(shard = %shard, error = %e, "shard stopped on a passing fault; it will be read again from its checkpoint");
            if let Some(t) = leases
                && let Err(e) = t.release(shard).await
            {
                tracing::warn!(shard = %shard, error = %e, "could not release the lease");
            }
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Keep `/readyz` told about the bronze side: the lease table must have answered within a
/// lease duration (else this worker cannot hold leases), and no running shard may have gone
/// without an answer from the stream for `stuck_after`.
async fn watch_shards(
    readiness: Arc<Readiness>,
    leases: Option<Arc<LeaseTable>>,
    stuck_after: Duration,
    stop: CancellationToken,
) {
    let started = std::time::Instant::now();
    loop {
        if let Some(t) = &leases {
            let silent = t.since_last_answer().unwrap_or_else(|| started.elapsed());
            let problem = (silent >= t.lease_duration())
                .then(|| format!("the lease table has not answered for {:.0} s", silent.as_secs_f64()));
            readiness.set_part("leases", problem);
            tracing::debug!(held = t.held_count(), "leases held");
        }
        let stuck = crate::telemetry::stuck_shards(stuck_after);
        let problem = (!stuck.is_empty()).then(|| {
            let list: Vec<String> = stuck.iter().map(|(s, d)| format!("{s} ({:.0} s)", d.as_secs_f64())).collect();
            format!("no answer from the stream for these shards: {}", list.join(", "))
        });
        readiness.set_part("shards", problem);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(READINESS_INTERVAL) => {}
        }
    }
}

/// Renew every held lease each third of the lease duration; a lease found lost stops its shard.
async fn renew_leases(t: Arc<LeaseTable>, tokens: ShardTokens, stop: CancellationToken) {
    let every = t.lease_duration() / 3;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        for (shard, e) in t.renew_all().await {
            tracing::warn!(shard = %shard, error = %e, "lease lost; stopping the shard");
            if let Some(token) = lock_tokens(&tokens).get(&shard) {
                token.cancel();
            }
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
