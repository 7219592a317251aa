//! `floe run`: the composition root. Opens what the configuration names — the AWS SDK
//! configuration (once), the bronze store, the checkpoint store, the catalog — and wires
//! source → bronze writer per shard and the silver loop over the bronze store, then stops them
//! together (SIGTERM, `--until-idle`, or an error). The parts live in [`crate::daemon`].

use std::sync::Arc;
use std::time::Instant;

use aws_config::SdkConfig;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::aws::S3Settings;
use crate::bronze::store::BronzeStore;
use crate::catalog::Committer;
use crate::catalog::handle::FloeCatalog;
use crate::catalog::setup::ManagedTable;
use crate::checkpoint::Checkpoints;
use crate::checkpoint::dynamodb::LeaseTable;
use crate::checkpoint::local::LocalCheckpoints;
use crate::config::{CheckpointKind, Config, MissingSchemaPolicy, SourceKind};
use crate::daemon::compaction::AutoCompact;
use crate::daemon::kinesis::SilverSide;
use crate::daemon::pipelines::Pipelines;
use crate::daemon::silver::{LoopControl, SilverLoop};
use crate::daemon::spool::SpoolSource;
use crate::daemon::supervise::{Supervision, supervise};
use crate::error::{Error, Result};
use crate::http::Readiness;
use crate::iglu::{Contracts, MissingSchema};
use crate::model::SilverReach;
use crate::silver::decode::Decoder;
use crate::silver::discover::Budget;
use crate::silver::entities::Entities;
use crate::silver::job::{DedupMemory, SilverJob, TableJob};
use crate::silver::pending::CommitPolicy;
use crate::silver::scope::SilverScope;
use crate::silver::sql::Transform;
use crate::source::kinesis::api::KinesisApi;
use crate::telemetry::{Counters, CountersSnapshot};

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

/// The data contracts `silver.iglu_resolver` names, if any (one resolver and cache for every table).
pub fn contracts(cfg: &Config) -> Result<Option<Arc<Contracts>>> {
    let Some(file) = &cfg.silver.iglu_resolver else {
        return Ok(None);
    };
    let missing = match cfg.silver.missing_schema {
        MissingSchemaPolicy::BadRow => MissingSchema::BadRow,
        MissingSchemaPolicy::Load => MissingSchema::Load,
    };
    Ok(Some(Arc::new(Contracts::load(file, missing)?)))
}

/// The silver job over `tables`, as configured (shared with `floe backfill`).
///
/// With data contracts, the table's self-describing columns also get one typed column per schema
/// (`silver::entities`), added to the table through `catalog`.
pub fn silver_job(
    cfg: &Config,
    catalog: &FloeCatalog,
    store: BronzeStore,
    tables: Vec<ManagedTable>,
) -> Result<SilverJob> {
    let contracts = contracts(cfg)?;
    let mut jobs = Vec::new();
    for managed in tables {
        let transform = Transform::load(&managed.def, cfg.silver.sql_dir.as_deref())?;
        let decoder = Decoder::for_table_with(&managed.def, cfg.silver.max_record_bytes, contracts.clone());
        let entities = contracts.as_ref().map(|c| {
            let fields = decoder.envelope_columns(&managed.def);
            Arc::new(Entities::new(c.clone(), fields, catalog.clone()))
        });
        let dedup = DedupMemory {
            lookback: cfg.silver.dedup_lookback,
            budget: cfg.silver.dedup_memory,
            spill_dir: cfg.silver.dedup_spill_dir.clone(),
        };
        let job = TableJob::new(managed, decoder, transform, dedup);
        jobs.push(job.with_entities(entities));
    }
    Ok(SilverJob {
        store,
        stream: cfg.source.stream.clone(),
        tables: jobs,
        budget: Budget { max_objects: cfg.silver.batch_max_objects, max_bytes: cfg.silver.batch_max_bytes },
        horizon_hours: (cfg.silver.discovery_horizon.as_secs() / 3600).max(1) as i64,
        sweep_interval: Some(cfg.silver.sweep_interval).filter(|d| !d.is_zero()),
        scope: SilverScope::All,
    })
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
    let sdk = super::open::sdk_config(cfg).await;
    let store = BronzeStore::open(&cfg.bronze.location, &S3Settings::resolve(&cfg.aws, sdk.as_ref()))?;
    store.probe().await?;
    let (idle_tx, idle_rx) = watch::channel(!opts.bronze);
    let mut tasks: JoinSet<Result<()>> = JoinSet::new();
    let checkpoints = match opts.bronze {
        true => Some(open_checkpoints(cfg, sdk.as_ref()).await?),
        false => None,
    };
    // With leases, silver beside bronze works on the shards this worker holds (ADR 0018).
    let leased = match &checkpoints {
        Some(Checkpoints::Leased(t)) if opts.silver && cfg.source.kind == SourceKind::Kinesis => Some(t.clone()),
        _ => None,
    };
    let mut silver_side = None;
    if opts.silver {
        let (catalog, tables, _) = super::open::open_tables_with(cfg, sdk.as_ref()).await?;
        if let Some(r) = readiness.clone() {
            let probe = tables.iter().map(|t| t.ident.clone()).collect::<Vec<_>>();
            tokio::spawn(crate::daemon::readiness::watch_catalog(catalog.clone(), probe, r, cancel.clone()));
        }
        let mut job = silver_job(cfg, &catalog, store.clone(), tables)?;
        let policy = CommitPolicy { interval: cfg.silver.commit_interval, max_bytes: cfg.silver.commit_max_bytes };
        let compaction = AutoCompact::new(&cfg.compaction, job.tables.len());
        let mut committer = Committer::new(catalog);
        let mut reach = None;
        if let Some(t) = &leased {
            job.scope = SilverScope::Leased(t.clone());
            committer = committer.with_worker(t.worker_id());
            let r = SilverReach::new(job.tables.len());
            silver_side = Some(SilverSide { reach: r.clone(), stopped: CancellationToken::new() });
            reach = Some(r);
        }
        let stopped = silver_side.as_ref().map(|s| s.stopped.clone().drop_guard());
        let silver = SilverLoop { job, committer, counters: counters.clone(), policy, compaction, reach };
        let ctl = LoopControl {
            cancel: cancel.clone(),
            sources_idle: idle_rx,
            until_idle: opts.until_idle,
            interval: cfg.silver.interval,
        };
        tasks.spawn(async move {
            let _stopped = stopped;
            silver.run(ctl).await
        });
    } else if let Some(r) = &readiness {
        r.set(None); // bronze alone does not use the catalog
    }
    if opts.bronze {
        let pipelines = Pipelines {
            cfg: cfg.clone(),
            store,
            checkpoints: checkpoints.ok_or_else(|| Error::invalid("bronze runs without its checkpoint store"))?,
            counters: counters.clone(),
            cancel: cancel.clone(),
            until_idle: opts.until_idle,
            budget: crate::bronze::batcher::BufferBudget::new(cfg.bronze.buffer_memory),
        };
        let sup = Supervision {
            cancel: cancel.clone(),
            idle: idle_tx,
            until_idle: opts.until_idle,
            poll_interval: cfg.source.poll_interval,
        };
        let kinesis = match cfg.source.kind {
            SourceKind::Kinesis => Some(KinesisApi::new(need_sdk(sdk.as_ref())?, &cfg.source.stream)),
            SourceKind::Spool => None,
        };
        let readiness = readiness.clone();
        tasks.spawn(async move {
            match kinesis {
                Some(api) => crate::daemon::kinesis::run(pipelines, api, &sup, readiness, silver_side).await,
                None => supervise(&mut SpoolSource { pipelines }, &sup).await,
            }
        });
    } else {
        drop(idle_tx);
    }
    // The first error stops everything (it is returned, for the caller to report once); the
    // others then wind down through the token and are logged.
    let mut first_err = None;
    while let Some(done) = tasks.join_next().await {
        let res = done.map_err(|e| Error::invalid(format!("a pipeline task failed: {e}"))).and_then(|r| r);
        if let Err(e) = res {
            cancel.cancel();
            match first_err {
                None => first_err = Some(e),
                Some(_) => tracing::error!(error = %e, "another stage failed while stopping"),
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(RunSummary { elapsed_secs: started.elapsed().as_secs_f64(), counters: counters.snapshot() }),
    }
}

fn need_sdk(sdk: Option<&SdkConfig>) -> Result<&SdkConfig> {
    sdk.ok_or_else(|| Error::invalid("the AWS SDK configuration was not loaded"))
}

/// The checkpoint store `checkpoint.type` names.
pub async fn open_checkpoints(cfg: &Config, sdk: Option<&SdkConfig>) -> Result<Checkpoints> {
    Ok(match &cfg.checkpoint {
        CheckpointKind::Local => Checkpoints::Local(Arc::new(LocalCheckpoints::open(&cfg.checkpoint_path)?)),
        CheckpointKind::DynamoDb(settings) => {
            Checkpoints::Leased(Arc::new(LeaseTable::new(need_sdk(sdk)?, &cfg.source.stream, settings)))
        }
    })
}
