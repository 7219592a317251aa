//! The Kinesis source in the supervision loop: discover the stream's shards (splits and merges
//! show up without a restart), let the coordinator decide which to read — with leases, only the
//! shards this worker holds — and start each where [`super::resume`] says.
//!
//! What a waiting worker costs is mostly its request rate (BENCHMARKS.md, "What a waiting worker
//! costs"), so the shard list is read every `source.shard_sync_interval`, not every poll, and
//! again at once whenever it may have changed: a shard read to its end (its children appear),
//! or a lease for a shard the list does not name (another worker saw the reshard first).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::pipelines::Pipelines;
use super::resume::start_for;
use super::supervise::{Round, ShardSource, Supervision, supervise};
use crate::error::{Error, Result};
use crate::http::Readiness;
use crate::model::{ConsumerArn, ShardId, SilverReach};
use crate::source::activity::ShardActivity;
use crate::source::kinesis::api::{FailureKind, KinesisApi, ShardInfo};
use crate::source::kinesis::coordinator::{Coordinator, Round as Decided, ShardTokens, renew_leases};
use crate::source::kinesis::handover::{ReadOptions, ShardOutcome};

/// This process's silver, when it runs beside bronze with leases (ADR 0018).
pub struct SilverSide {
    /// How far it has committed each shard: ended leases wait for it.
    pub reach: Arc<SilverReach>,
    /// Cancelled when the silver loop has stopped: the leases its scope rests on are kept
    /// (and renewed) until then.
    pub stopped: CancellationToken,
}

/// Run the Kinesis side of bronze until `sup` says stop: leases renewed in the background,
/// readiness kept up to date, every lease handed back at the end whatever the exit (once
/// `silver`, if any, has stopped).
pub async fn run(
    pipelines: Pipelines,
    api: KinesisApi,
    sup: &Supervision,
    readiness: Option<Arc<Readiness>>,
    silver: Option<SilverSide>,
) -> Result<()> {
    let coordinator = Coordinator::new(&pipelines.checkpoints, silver.as_ref().map(|s| s.reach.clone()));
    let activity = ShardActivity::default();
    let leases = coordinator.leases().cloned();
    let tokens = ShardTokens::default();
    let stop_background = CancellationToken::new();
    if let Some(t) = &leases {
        tokio::spawn(renew_leases(t.clone(), tokens.clone(), stop_background.clone()));
    }
    if let Some(r) = &readiness {
        let stuck_after = pipelines.cfg.source.stuck_after;
        let watch = super::readiness::watch_shards(
            r.clone(),
            leases.clone(),
            activity.clone(),
            stuck_after,
            stop_background.clone(),
        );
        tokio::spawn(watch);
    }
    let cancel = pipelines.cancel.clone();
    let res = match fan_out_consumer(&pipelines, &api).await {
        Ok(fan_out) => {
            let opts = ReadOptions {
                limit: pipelines.cfg.source.read_records as i32,
                poll_interval: pipelines.cfg.source.poll_interval,
                stop_when_caught_up: pipelines.until_idle,
                fan_out,
                activity,
            };
            let sync_every = pipelines.cfg.source.shard_sync_interval;
            let mut source = KinesisSource {
                pipelines,
                api,
                opts,
                coordinator,
                tokens,
                caught_up: HashSet::new(),
                shards: ShardList::new(sync_every),
                refresh: true,
            };
            let res = supervise(&mut source, sup).await;
            stop_silver_on_error(&res, &cancel);
            wait_for_silver(silver.as_ref()).await;
            source.coordinator.release_all().await;
            res
        }
        Err(e) => {
            let res = Err(e);
            stop_silver_on_error(&res, &cancel);
            wait_for_silver(silver.as_ref()).await;
            coordinator.release_all().await;
            res
        }
    };
    stop_background.cancel();
    res
}

/// Bronze failed: the run stops (the caller cancels everything once this task returns), but this
/// task waits for silver first, and silver waits for the sources to drain, which they no longer
/// will. So stop silver here (it commits what it gathered) and let the error through.
fn stop_silver_on_error(res: &Result<()>, cancel: &CancellationToken) {
    if let Err(e) = res {
        tracing::error!(error = %e, "bronze failed; stopping silver before the leases are given back");
        cancel.cancel();
    }
}

/// Silver plans over the leases this worker holds: they are given back only once it stopped.
async fn wait_for_silver(silver: Option<&SilverSide>) {
    if let Some(s) = silver {
        if !s.stopped.is_cancelled() {
            tracing::info!("bronze stopped; keeping the leases until silver has stopped");
        }
        s.stopped.cancelled().await;
    }
}

/// With `source.consumer = "efo"`: the registered consumer's ARN (registered now if it is
/// not yet), retrying passing failures until shutdown.
async fn fan_out_consumer(p: &Pipelines, api: &KinesisApi) -> Result<Option<ConsumerArn>> {
    let Some(name) = &p.cfg.source.fan_out else { return Ok(None) };
    let mut backoff = crate::retry::backoff(Duration::from_millis(500), Duration::from_secs(5));
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
            _ = p.cancel.cancelled() => return Ok(None),
            _ = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

struct KinesisSource {
    pipelines: Pipelines,
    api: KinesisApi,
    opts: ReadOptions,
    coordinator: Coordinator,
    tokens: ShardTokens,
    /// With --until-idle: shards that reached the tip in this run are not read again.
    caught_up: HashSet<ShardId>,
    shards: ShardList,
    /// Something changed since the last round (a shard task ended, the shard list changed):
    /// the coordinator reads the lease table now rather than at its next due time.
    refresh: bool,
}

/// The stream's shards as last listed, and when to list them again.
struct ShardList {
    shards: Vec<ShardInfo>,
    listed_at: Option<Instant>,
    every: Duration,
    /// List at the next round whatever the clock says.
    stale: bool,
}

impl ShardList {
    fn new(every: Duration) -> Self {
        Self { shards: Vec::new(), listed_at: None, every, stale: true }
    }

    /// List the shards if due; `true` when the list changed. A passing failure keeps the old
    /// list and tries again at the next round.
    async fn refresh(&mut self, api: &KinesisApi) -> Result<bool> {
        let due = self.stale || self.listed_at.is_none_or(|t| t.elapsed() >= self.every);
        if !due {
            return Ok(false);
        }
        match api.list_shards().await {
            Ok(s) => {
                let changed = s.iter().map(|s| &s.id).ne(self.shards.iter().map(|s| &s.id));
                self.shards = s;
                self.listed_at = Some(Instant::now());
                self.stale = false;
                Ok(changed)
            }
            Err(e) if e.kind == FailureKind::Fatal => Err(Error::Source(e.to_string())),
            Err(e) => {
                tracing::warn!(error = %e, "listing shards failed; retrying at the next poll");
                Ok(false)
            }
        }
    }
}

impl ShardSource for KinesisSource {
    type Outcome = ShardOutcome;

    async fn round(&mut self, running: &HashSet<ShardId>) -> Result<Round<ShardOutcome>> {
        if self.shards.refresh(&self.api).await? {
            self.refresh = true;
        }
        let shards = &self.shards.shards;
        let refresh = std::mem::take(&mut self.refresh);
        let decided = match self.coordinator.round(shards, running, &self.caught_up, refresh).await? {
            Some(d) => d,
            None => {
                self.refresh = true; // the lease table could not be read: again at the next poll
                Decided::default()
            }
        };
        if decided.unlisted {
            self.shards.stale = true;
        }
        let mut start = Vec::new();
        for (s, cp) in &decided.claim {
            let (from, resume) = start_for(s, cp.clone(), shards, &self.pipelines.cfg.source.start_position)?;
            tracing::info!(shard = %s.id, start = ?from, "reading shard");
            let token = self.pipelines.cancel.child_token();
            self.tokens.insert(s.id.clone(), token.clone());
            self.opts.activity.answered(&s.id);
            let task = self.pipelines.kinesis(self.api.clone(), self.opts.clone(), s.id.clone(), from, resume, token);
            start.push((s.id.clone(), task));
        }
        let drained = !shards.is_empty()
            && decided.claim.is_empty()
            && shards.iter().all(|s| {
                decided.ended.contains(&s.id) || self.caught_up.contains(&s.id) || decided.elsewhere.contains(&s.id)
            });
        Ok(Round { start, drained_when_none_running: drained })
    }

    async fn finished(&mut self, shard: ShardId, res: Result<ShardOutcome>) -> Result<()> {
        self.tokens.remove(&shard);
        self.opts.activity.stopped(&shard);
        self.refresh = true;
        match self.coordinator.finished(&shard, res).await? {
            Some(ShardOutcome::CaughtUp) => {
                self.caught_up.insert(shard);
            }
            // a reshard: its children are in the next listing
            Some(ShardOutcome::Ended) => self.shards.stale = true,
            _ => {}
        }
        Ok(())
    }
}
