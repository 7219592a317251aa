//! The `floe` binary: parse the command line, start logging, dispatch. The only `anyhow` edge.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

use floe::cli::{Cli, Command, GenerateFormat, LogFormat};
use floe::cmd;
use floe::config::{Config, Overrides};
use floe::source::generator::Format;
use floe::telemetry::{self, Counters};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let json_logs = matches!(cli.log_format, LogFormat::Json);
    // The demo shows a progress bar and a summary; per-batch logs would only scroll it away.
    let quiet = matches!(&cli.command, Command::Run(a) if a.demo);
    telemetry::init_logging(matches!(cli.log_format, LogFormat::Json), if quiet { "warn" } else { "warn,floe=info" });
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // once: as a JSON log line for log pipelines, else as plain text for a person
            if json_logs {
                tracing::error!(error = %each_cause_once(&e), "floe stopped");
            } else {
                eprintln!("error: {}", each_cause_once(&e));
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let overrides = Overrides {
        warehouse: cli.warehouse.clone(),
        spool: cli.spool.clone(),
        bronze_format: match &cli.command {
            Command::Run(a) => a.bronze_format.clone(),
            _ => None,
        },
    };
    let cfg = Config::load(cli.config.as_deref(), std::env::vars(), &overrides)?;
    for name in &cfg.unknown_env {
        tracing::warn!(variable = %name, "environment variable looks like floe configuration but matches no key; ignored");
    }
    match cli.command {
        Command::Run(args) => {
            let counters = Arc::new(Counters::default());
            let cancel = floe::shutdown::on_signal();
            let mut until_idle = args.until_idle;
            let mut progress = None;
            if args.demo {
                until_idle = true;
                let opts = cmd::generate::options(args.demo_events, 4, 0.02, 0.01, rand_seed(), Format::Json);
                println!("generating {} demo events into {} …", args.demo_events, cfg.source.spool_dir.display());
                let report = cmd::generate::run(&cfg, &opts, false).context("generating demo events")?;
                println!("loading …");
                let bar_done = cancel.child_token();
                progress = Some((cmd::present::progress(report.records, counters.clone(), bar_done.clone()), bar_done));
            }
            let opts = cmd::run::RunOptions { until_idle, bronze: !args.silver_only, silver: !args.bronze_only };
            let readiness = start_http(&cfg, cancel.clone())?;
            let emf = cfg.emf_interval.map(|every| {
                let done = tokio_util::sync::CancellationToken::new();
                let task = floe::telemetry::spawn_emf(counters.clone(), cfg.source.stream.clone(), every, done.clone());
                (task, done)
            });
            let result = tokio::select! {
                r = cmd::run::run(&cfg, opts, cancel.clone(), counters, readiness) => r,
                _ = drain_deadline(&cancel, cfg.drain_deadline) => {
                    anyhow::bail!(
                        "did not drain within shutdown.drain_deadline ({:?}); exiting: nothing unflushed was checkpointed, so it will be read again",
                        cfg.drain_deadline
                    )
                }
            };
            for (handle, token) in progress.into_iter().chain(emf) {
                token.cancel();
                if let Err(e) = handle.await {
                    tracing::warn!(error = %e, "a reporting task ended abnormally");
                }
            }
            let summary = result?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else if until_idle {
                cmd::present::print_summary(&summary);
                if args.demo {
                    println!("\nnext, try:");
                    println!("  floe query \"SELECT event, count(*) AS n FROM events GROUP BY event ORDER BY n DESC\"");
                    println!("  floe query \"SELECT reason, count(*) AS n FROM events_bad GROUP BY reason\"");
                    println!("  floe status");
                }
            }
        }
        Command::Generate(a) => {
            let format = match a.format {
                GenerateFormat::Json => Format::Json,
                GenerateFormat::SnowplowEnrichedTsv => Format::SnowplowEnrichedTsv,
            };
            let opts = cmd::generate::options(a.events, a.shards, a.duplicate_rate, a.malformed_rate, a.seed, format);
            cmd::generate::run(&cfg, &opts, a.json)?;
        }
        Command::Query(a) => {
            let q = match (&a.file, &a.sql) {
                (Some(path), _) => cmd::query::Query::File { path, source: &a.source },
                (None, sql) => cmd::query::Query::Sql(sql.as_deref().unwrap_or_default()),
            };
            let batches = cmd::query::query(&cfg, q, a.as_of.as_deref()).await?;
            cmd::query::print(&batches, a.format)?;
        }
        Command::Status(a) => {
            let s = cmd::status::status(&cfg).await?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                cmd::status::print(&s);
            }
        }
        Command::Compact(a) => {
            let rows = cmd::compact::run(&cfg, &a).await?;
            emit(a.lake.json, &rows, |r| cmd::compact::print(r, a.lake.dry_run))?;
        }
        Command::Backfill(a) => emit(a.json, &cmd::backfill::run(&cfg, &a).await?, |r| cmd::backfill::print(r))?,
        Command::Forget(a) => emit(a.json, &cmd::forget::run(&cfg, &a).await?, cmd::forget::print)?,
        Command::Explain(a) => emit(a.json, &cmd::explain::run(&cfg, &a).await?, cmd::explain::print)?,
        Command::Import(a) => emit(a.json, &cmd::import::run(&cfg, &a).await?, cmd::import::print)?,
        Command::Replay(a) => emit(a.json, &cmd::replay::run(&cfg, &a).await?, cmd::replay::print)?,
        Command::ExpireSnapshots(a) => {
            emit(a.lake.json, &cmd::cleanup::expire_snapshots(&cfg, &a).await?, |r| cmd::cleanup::print_expiry(r))?
        }
        Command::RemoveOrphans(a) => {
            emit(a.lake.json, &cmd::cleanup::orphans(&cfg, &a).await?, |r| cmd::cleanup::print_orphans(r))?
        }
        Command::Check => cmd::check::check(&cfg).await?,
        Command::Init => cmd::init::init(&cfg).await?,
        Command::Healthcheck(a) => {
            let port = a.port.unwrap_or(cfg.metrics_port);
            anyhow::ensure!(
                port != 0,
                "metrics.port is 0 (the health endpoint is off); pass --port or set FLOE_METRICS_PORT"
            );
            let path = if a.ready { "/readyz" } else { "/healthz" };
            let status = floe::http::get_status(port, path).await?;
            anyhow::ensure!(status == 200, "{path} answered {status}");
        }
    }
    Ok(())
}

/// A command's report: pretty JSON on stdout for scripts (`--json`), else `print` for a person.
fn emit<T: serde::Serialize + ?Sized>(json: bool, report: &T, print: impl FnOnce(&T)) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print(report);
    }
    Ok(())
}

/// The error and its causes, each said once. Library errors often repeat their source in their
/// own message (DataFusion wraps a parser error three deep, each level quoting the one below);
/// a cause whose text — or whose text after its own `prefix: ` — was already said is skipped.
fn each_cause_once(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let said = |t: &str| !t.is_empty() && out.contains(t);
        if said(&text) || text.split_once(": ").is_some_and(|(_, rest)| said(rest)) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Start /metrics, /healthz and /readyz when `metrics.port` is set.
fn start_http(
    cfg: &Config,
    cancel: tokio_util::sync::CancellationToken,
) -> anyhow::Result<Option<Arc<floe::http::Readiness>>> {
    if cfg.metrics_port == 0 {
        return Ok(None);
    }
    let handle = telemetry::install_metrics().map_err(|e| anyhow::anyhow!("metrics recorder: {e}"))?;
    let readiness = Arc::new(floe::http::Readiness::new());
    let port = cfg.metrics_port;
    let r = readiness.clone();
    tokio::spawn(async move {
        if let Err(e) = floe::http::serve(port, handle, r, cancel).await {
            tracing::error!(error = %e, "operations endpoint stopped");
        }
    });
    Ok(Some(readiness))
}

/// Resolves `deadline` after shutdown was requested (never, if it is not).
async fn drain_deadline(cancel: &tokio_util::sync::CancellationToken, deadline: std::time::Duration) {
    cancel.cancelled().await;
    tokio::time::sleep(deadline).await;
}

fn rand_seed() -> u64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64
}
