//! What `/readyz` is told, re-checked every [`READINESS_INTERVAL`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::catalog::FloeCatalog;
use crate::checkpoint::dynamodb::LeaseTable;
use crate::http::Readiness;
use crate::source::activity::ShardActivity;

/// How often readiness is re-checked.
pub const READINESS_INTERVAL: Duration = Duration::from_secs(2);

/// Check that the catalog answers and still has our tables.
pub async fn watch_catalog(
    catalog: FloeCatalog,
    tables: Vec<iceberg::TableIdent>,
    readiness: Arc<Readiness>,
    cancel: CancellationToken,
) {
    loop {
        let check = async {
            for t in &tables {
                if !catalog.iceberg().table_exists(t).await? {
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

/// The bronze side: the lease table must have answered within a lease duration (else this
/// worker cannot hold leases), and no running shard may have gone without an answer from the
/// stream for `stuck_after`.
pub async fn watch_shards(
    readiness: Arc<Readiness>,
    leases: Option<Arc<LeaseTable>>,
    activity: ShardActivity,
    stuck_after: Duration,
    stop: CancellationToken,
) {
    let started = Instant::now();
    loop {
        if let Some(t) = &leases {
            let silent = t.since_last_answer().unwrap_or_else(|| started.elapsed());
            let problem = (silent >= t.lease_duration())
                .then(|| format!("the lease table has not answered for {:.0} s", silent.as_secs_f64()));
            readiness.set_part("leases", problem);
            tracing::debug!(held = t.held_count(), "leases held");
        }
        let stuck = activity.stuck(stuck_after);
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
