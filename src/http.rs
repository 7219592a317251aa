//! The operations endpoint: `/metrics` (Prometheus), `/healthz` (the process is alive) and
//! `/readyz` (the catalog answers), on `metrics.port`. Also the client side of `floe healthcheck`,
//! which a container health check runs (the runtime image has no curl).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// What `/readyz` reports: ready when no part (catalog, leases, shards) has a problem.
#[derive(Debug, Default)]
pub struct Readiness {
    problems: Mutex<BTreeMap<&'static str, String>>,
}

impl Readiness {
    /// Not ready until the first catalog check has passed.
    pub fn new() -> Self {
        Self { problems: Mutex::new(BTreeMap::from([("catalog", "starting".to_string())])) }
    }

    /// The catalog check's result.
    pub fn set(&self, problem: Option<String>) {
        metrics::gauge!(crate::telemetry::names::CATALOG_REACHABLE).set(if problem.is_none() { 1.0 } else { 0.0 });
        self.set_part("catalog", problem);
    }

    /// Another part's result (`leases`, `shards`).
    pub fn set_part(&self, part: &'static str, problem: Option<String>) {
        if let Ok(mut p) = self.problems.lock() {
            match problem {
                Some(why) => p.insert(part, why),
                None => p.remove(part),
            };
        }
    }

    /// `None` while ready, else every part's problem.
    pub fn problem(&self) -> Option<String> {
        let p = self.problems.lock().map_err(|_| "readiness state poisoned".to_string()).ok()?;
        if p.is_empty() {
            return None;
        }
        Some(p.iter().map(|(part, why)| format!("{part}: {why}")).collect::<Vec<_>>().join("; "))
    }
}

#[derive(Clone)]
struct AppState {
    metrics: PrometheusHandle,
    readiness: Arc<Readiness>,
}

/// Serve until `cancel`; binds all interfaces (the container's port mapping decides exposure).
pub async fn serve(
    port: u16,
    metrics: PrometheusHandle,
    readiness: Arc<Readiness>,
    cancel: CancellationToken,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
        .await
        .map_err(|e| Error::invalid(format!("metrics.port {port}: cannot listen: {e}")))?;
    let app = Router::new()
        .route("/metrics", get(|State(s): State<AppState>| async move { s.metrics.render() }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(|State(s): State<AppState>| async move {
                match s.readiness.problem() {
                    None => (StatusCode::OK, "ready\n".to_string()),
                    Some(p) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {p}\n")),
                }
            }),
        )
        .with_state(AppState { metrics, readiness });
    tracing::info!(port, "serving /metrics, /healthz, /readyz");
    axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
        .map_err(|e| Error::invalid(format!("metrics server: {e}")))
}

/// GET `path` on 127.0.0.1:`port`; the status code.
pub async fn get_status(port: u16, path: &str) -> Result<u16> {
    let io = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(3), io)
        .await
        .map_err(|_| Error::invalid(format!("127.0.0.1:{port}{path}: no answer within 3 s")))?
        .map_err(|e| Error::io(format!("127.0.0.1:{port}{path}"), e))?;
    let head = String::from_utf8_lossy(&buf[..buf.len().min(64)]).to_string();
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| Error::invalid(format!("127.0.0.1:{port}{path}: not an HTTP answer: {head:?}")))
}
