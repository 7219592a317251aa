//! When each running shard's reader last got an answer from the source: what `/readyz` reads to
//! name a stuck shard. One value per process, handed to every reader (no global state).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::model::ShardId;

#[derive(Debug, Clone, Default)]
pub struct ShardActivity(Arc<Mutex<BTreeMap<ShardId, Instant>>>);

impl ShardActivity {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<ShardId, Instant>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A shard's reader started, or a read of it succeeded.
    pub fn answered(&self, shard: &ShardId) {
        self.lock().insert(shard.clone(), Instant::now());
    }

    /// A shard's reader stopped (ended, lease lost, shutdown): it can no longer be stuck.
    pub fn stopped(&self, shard: &ShardId) {
        self.lock().remove(shard);
    }

    /// Running shards whose reader got no answer for `threshold` or longer, with how long.
    pub fn stuck(&self, threshold: Duration) -> Vec<(ShardId, Duration)> {
        self.lock().iter().map(|(s, t)| (s.clone(), t.elapsed())).filter(|(_, d)| *d >= threshold).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_stuck_only_while_it_runs_without_answers() {
        let a = ShardActivity::default();
        let s = ShardId::new("shard-1").unwrap();
        a.answered(&s);
        assert!(a.stuck(Duration::from_secs(60)).is_empty());
        assert_eq!(a.stuck(Duration::ZERO).len(), 1);
        a.stopped(&s);
        assert!(a.stuck(Duration::ZERO).is_empty());
    }
}
