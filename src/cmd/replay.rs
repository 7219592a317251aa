//! `floe replay`: [`crate::lake::replay`] over the stream's shards, each read by the ordinary
//! polling reader (never through enhanced fan-out: the registered consumer is the loader's), then
//! [`crate::lake::backfill`] over just the objects it wrote.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::aws::S3Settings;
use crate::bronze::store::BronzeStore;
use crate::catalog::Committer;
use crate::checkpoint::Checkpoints;
use crate::cli::{LakeArgs, ReplayArgs};
use crate::config::{Config, SourceKind};
use crate::error::{Error, Result};
use crate::lake::backfill::{BackfillOptions, BackfillReport, backfill};
use crate::lake::replay::{Covered, GapWriter, ShardReplay, Stop, Window};
use crate::model::{Hour, Position, SequenceNumber, ShardId};
use crate::silver::discover::MARGIN_HOURS;
use crate::source::activity::ShardActivity;
use crate::source::kinesis::api::{KinesisApi, StartAt};
use crate::source::kinesis::handover::{ReadOptions, ShardRead};
use crate::source::kinesis::reader::read_kinesis_shard;

/// Shards read at the same time (each within its own per-shard read limits).
const PARALLEL_SHARDS: usize = 16;

#[derive(Debug, Serialize)]
pub struct ReplayReport {
    pub stream: String,
    pub from: String,
    pub to: Option<String>,
    pub dry_run: bool,
    pub shards: Vec<ShardReplay>,
    /// The backfill of the written objects, per table (empty with --bronze-only or --dry-run).
    pub silver: Vec<BackfillReport>,
    pub seconds: f64,
}

pub async fn run(cfg: &Config, args: &ReplayArgs) -> Result<ReplayReport> {
    let started = Instant::now();
    if cfg.source.kind != SourceKind::Kinesis {
        return Err(Error::invalid(
            "floe replay reads a Kinesis stream again, and this configuration's source is the local spool (source.type = \"spool\")",
        ));
    }
    let from = args.from_timestamp;
    let now = chrono::Utc::now();
    if from >= now {
        return Err(Error::invalid(format!("--from-timestamp {from} is not in the past")));
    }
    if let Some(to) = args.to_timestamp
        && to <= from
    {
        return Err(Error::invalid(format!("--to-timestamp {to} is not after --from-timestamp {from}")));
    }
    let sdk = super::open::sdk_config(cfg).await;
    let sdk_config = sdk.as_ref().ok_or_else(|| Error::invalid("the AWS SDK configuration was not loaded"))?;
    let api = KinesisApi::new(sdk_config, &cfg.source.stream);
    let store = BronzeStore::open(&cfg.bronze.location, &S3Settings::resolve(&cfg.aws, sdk.as_ref()))?;
    let checkpoints = super::run::open_checkpoints(cfg, sdk.as_ref()).await?;
    let shards = chosen_shards(&api, args.shard.as_deref()).await?;

    // bronze's objects of the window, from early enough for an object that began before it
    let flush_hours = cfg.bronze.flush_interval.as_secs().div_ceil(3600) as i64;
    let listed_from = Hour::of_micros(from.timestamp_micros()).minus(MARGIN_HOURS + flush_hours);
    let listed = store.list_from(&cfg.source.stream, Some(listed_from)).await?.objects;

    let end = args.to_timestamp.unwrap_or(now).min(now);
    let window_seconds = (end - from).num_seconds().max(1) as u64;
    let lake = LakeArgs { table: None, dry_run: args.dry_run, json: args.json, quiet: args.quiet };
    let bar =
        Arc::new(super::lake::seconds_bar(window_seconds * shards.len() as u64, &lake, "of stream time replayed"));
    let cancel = crate::shutdown::on_signal();
    let replay = Replay { cfg, api, store: store.clone(), checkpoints, args, bar: bar.clone(), cancel };
    let mut reports: Vec<ShardReplay> = futures::stream::iter(shards)
        .map(|s| {
            let covered = Covered::of(&listed, &s);
            let replay = &replay;
            async move {
                let r = replay.shard(s, covered).await?;
                replay.bar.inc(window_seconds.saturating_sub(r.seconds_replayed));
                Ok::<_, Error>(r)
            }
        })
        .buffer_unordered(PARALLEL_SHARDS)
        .try_collect()
        .await?;
    bar.finish_and_clear();
    reports.sort_by(|a, b| a.shard.cmp(&b.shard));

    let written: HashSet<String> = reports.iter().flat_map(|r| r.objects_written.iter().cloned()).collect();
    let silver = match args.dry_run || args.bronze_only || written.is_empty() || replay.cancel.is_cancelled() {
        true => Vec::new(),
        false => to_silver(cfg, store, written, from.date_naive(), end.date_naive(), &lake).await?,
    };
    Ok(ReplayReport {
        stream: cfg.source.stream.clone(),
        from: from.to_rfc3339(),
        to: args.to_timestamp.map(|t| t.to_rfc3339()),
        dry_run: args.dry_run,
        shards: reports,
        silver,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Every shard of the stream, or the one `--shard` names (an unknown one is an error naming
/// the stream's shards).
async fn chosen_shards(api: &KinesisApi, want: Option<&str>) -> Result<Vec<ShardId>> {
    let all: Vec<ShardId> = api
        .list_shards()
        .await
        .map_err(|e| Error::Source(format!("listing the shards of {}: {e}", api.stream())))?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let Some(want) = want else { return Ok(all) };
    match all.iter().find(|s| s.as_str() == want) {
        Some(s) => Ok(vec![s.clone()]),
        None => Err(Error::invalid(format!(
            "--shard {want}: not a shard of {} (its shards: {})",
            api.stream(),
            all.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

struct Replay<'a> {
    cfg: &'a Config,
    api: KinesisApi,
    store: BronzeStore,
    checkpoints: Checkpoints,
    args: &'a ReplayArgs,
    bar: Arc<indicatif::ProgressBar>,
    cancel: tokio_util::sync::CancellationToken,
}

impl Replay<'_> {
    /// Replay one shard up to the loader's checkpoint of it.
    async fn shard(&self, shard: ShardId, covered: Covered) -> Result<ShardReplay> {
        let limit = match self.checkpoints.get(&shard).await {
            Some(cp) if cp.ended => None,
            Some(cp) => match cp.sequence_number {
                Some(seq) => Some(Position::new(
                    SequenceNumber::new(seq)
                        .map_err(|e| Error::invalid(format!("checkpoint of shard {shard}: {e}")))?,
                    cp.sub_sequence,
                )),
                None => return Ok(ShardReplay::new(&shard, Stop::NotReadYet)),
            },
            None => return Ok(ShardReplay::new(&shard, Stop::NotReadYet)),
        };
        let (cfg, from) = (self.cfg, self.args.from_timestamp);
        let window = Window {
            from_micros: from.timestamp_micros(),
            to_micros: self.args.to_timestamp.map(|t| t.timestamp_micros()),
            limit,
        };
        let (tx, rx) = mpsc::channel(4);
        let opts = ReadOptions {
            limit: cfg.source.read_records.min(10_000) as i32,
            poll_interval: cfg.source.poll_interval,
            stop_when_caught_up: true,
            fan_out: None,
            activity: ShardActivity::default(),
        };
        let cancel = self.cancel.child_token();
        let read = ShardRead {
            api: self.api.clone(),
            shard: shard.clone(),
            start: StartAt::Timestamp(from.timestamp_millis()),
            resume_after: None,
            opts,
            tx,
            cancel: cancel.clone(),
        };
        let writer = GapWriter {
            stream: cfg.source.stream.clone(),
            shard,
            store: self.store.clone(),
            format: cfg.bronze.format,
            zstd_level: cfg.bronze.zstd_level,
            max_records: cfg.bronze.flush_records,
            max_bytes: cfg.bronze.flush_bytes,
            covered,
            window,
            dry_run: self.args.dry_run,
            bar: self.bar.clone(),
        };
        let (read, written) = tokio::join!(read_kinesis_shard(read), writer.run(rx, || cancel.is_cancelled()));
        let written = written?;
        read?;
        Ok(written)
    }
}

/// Backfill the written objects into every table: the days of the window, a day either side for
/// events whose own time is off the arrival time.
async fn to_silver(
    cfg: &Config,
    store: BronzeStore,
    written: HashSet<String>,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    lake: &LakeArgs,
) -> Result<Vec<BackfillReport>> {
    let sdk = super::open::sdk_config(cfg).await;
    let (catalog, tables, _) = super::open::open_tables_with(cfg, sdk.as_ref()).await?;
    let job = super::run::silver_job(cfg, &catalog, store, tables)?;
    let committer = Committer::new(catalog);
    let opts = BackfillOptions {
        from: from - chrono::Days::new(1),
        to: to + chrono::Days::new(1),
        overwrite: false,
        dry_run: false,
        only: Some(Arc::new(written)),
    };
    let mut out = Vec::new();
    for t in &job.tables {
        let bar = super::lake::byte_bar(0, lake, &format!("of replayed bronze into {}", t.managed.ident.name()));
        let report = backfill(&job, t, &committer, opts.clone(), &bar).await;
        bar.finish_and_clear();
        out.push(report?);
    }
    Ok(out)
}

pub fn print(r: &ReplayReport) {
    let verb = if r.dry_run { "would write" } else { "wrote" };
    println!("{}: replayed from {}{}", r.stream, r.from, r.to.as_ref().map(|t| format!(" to {t}")).unwrap_or_default());
    for s in &r.shards {
        let stopped = match s.stopped {
            Stop::ToTimestamp => "at --to-timestamp",
            Stop::Checkpoint => "at the loader's checkpoint",
            Stop::EndOfShard => "at the shard's end or tip",
            Stop::Interrupted => "interrupted: run it again to go on",
            Stop::NotReadYet => "not read by the loader yet: left to it",
        };
        println!(
            "  {}: {} records read, {} already in bronze; {verb} {} records in {} objects ({:.1} MiB); stopped {stopped}",
            s.shard,
            s.records_read,
            s.already_in_bronze,
            s.records_written,
            s.objects_written.len(),
            s.bytes_written as f64 / 1048576.0
        );
    }
    super::backfill::print(&r.silver);
    let written: u64 = r.shards.iter().map(|s| s.records_written).sum();
    let taken = r.silver.iter().map(|t| t.records).max().unwrap_or(0);
    if !r.dry_run && !r.silver.is_empty() && written > taken {
        println!(
            "  {} records lie past silver's watermarks (a gap at a shard's end): the loader's next round takes them",
            written - taken
        );
    }
    println!("{:.1} s", r.seconds);
}
