//! The shard-supervision loop: each poll, ask the source which shards to start, run each as a
//! task, react to each task that finishes, report idleness to silver, and on shutdown let the
//! running tasks finish (readers stop; writers flush and checkpoint what they hold).

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::model::ShardId;

/// A shard task: reader and writer of one shard, joined.
pub type ShardTask<O> = Pin<Box<dyn Future<Output = Result<O>> + Send + 'static>>;

/// What a source decided in one poll.
pub struct Round<O> {
    /// Shards to start now.
    pub start: Vec<(ShardId, ShardTask<O>)>,
    /// Whether the source has nothing left to read once no task is running (every known shard
    /// ended, caught up, or someone else's).
    pub drained_when_none_running: bool,
}

/// One source as the supervision loop drives it.
pub trait ShardSource {
    type Outcome: Send + 'static;
    /// Which shards to start, given those running.
    fn round(&mut self, running: &HashSet<ShardId>) -> impl Future<Output = Result<Round<Self::Outcome>>> + Send;
    /// A shard's task ended (also during the drain at shutdown); an error stops the loop.
    fn finished(&mut self, shard: ShardId, res: Result<Self::Outcome>) -> impl Future<Output = Result<()>> + Send;
}

/// How the loop ends and whom it tells.
pub struct Supervision {
    pub cancel: CancellationToken,
    /// Set to true while every shard is drained (silver, with --until-idle, then stops).
    pub idle: watch::Sender<bool>,
    /// Return as soon as the source is drained.
    pub until_idle: bool,
    pub poll_interval: Duration,
}

/// Run `source` until shutdown, an error, or (with `until_idle`) drained.
pub async fn supervise<S: ShardSource + Send>(source: &mut S, sup: &Supervision) -> Result<()> {
    let mut running: JoinSet<(ShardId, Result<S::Outcome>)> = JoinSet::new();
    let mut active: HashSet<ShardId> = HashSet::new();
    let joined = |done: std::result::Result<(ShardId, Result<S::Outcome>), tokio::task::JoinError>| {
        done.map_err(|e| Error::invalid(format!("shard task failed: {e}")))
    };
    loop {
        if sup.cancel.is_cancelled() {
            break;
        }
        let round = source.round(&active).await?;
        for (shard, task) in round.start {
            active.insert(shard.clone());
            running.spawn(async move { (shard, task.await) });
        }
        let drained = round.drained_when_none_running && active.is_empty();
        sup.idle.send_replace(drained);
        if drained && sup.until_idle {
            return Ok(());
        }
        tokio::select! {
            _ = sup.cancel.cancelled() => break,
            Some(done) = running.join_next(), if !running.is_empty() => {
                let (shard, res) = joined(done)?;
                active.remove(&shard);
                source.finished(shard, res).await?;
            }
            _ = tokio::time::sleep(sup.poll_interval) => {}
        }
    }
    while let Some(done) = running.join_next().await {
        let (shard, res) = joined(done)?;
        source.finished(shard, res).await?;
    }
    Ok(())
}
