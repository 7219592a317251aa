//! `[metrics]` and `[shutdown]`: the operations endpoint, CloudWatch EMF lines, the drain deadline.

use std::time::Duration;

use serde::Deserialize;

use super::values::Origin;
use crate::error::Result;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    port: Option<i64>,
    emf_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShutdown {
    drain_deadline: Option<String>,
}

/// The validated `[metrics]` and `[shutdown]` settings.
pub(super) struct Ops {
    pub metrics_port: u16,
    pub emf_interval: Option<Duration>,
    pub drain_deadline: Duration,
}

pub(super) fn validate(v: &Origin, metrics: RawMetrics, shutdown: RawShutdown) -> Result<Ops> {
    Ok(Ops {
        metrics_port: v.count("metrics.port", metrics.port, 0, 0, 65_535)? as u16,
        emf_interval: Some(v.duration("metrics.emf_interval", metrics.emf_interval, "0s")?).filter(|d| !d.is_zero()),
        drain_deadline: v.duration("shutdown.drain_deadline", shutdown.drain_deadline, "25s")?,
    })
}
