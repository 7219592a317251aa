//! The one back-off policy for everything floe retries — Kinesis calls, catalog commits, silver
//! batches, consumer registration: exponential from `min` to `max`, with jitter so that several
//! workers (or shards) retrying the same service do not do it in lock-step.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Delays for successive retries: `min`, about twice that, … up to `max`, for as long as asked.
pub fn backoff(min: Duration, max: Duration) -> Backoff {
    Backoff {
        delays: ExponentialBuilder::default()
            .with_min_delay(min)
            .with_max_delay(max)
            .with_jitter()
            .without_max_times()
            .build(),
        max,
    }
}

/// A running back-off: [`Backoff::next_delay`] gives the wait before the next try.
pub struct Backoff {
    delays: backon::ExponentialBackoff,
    max: Duration,
}

impl Backoff {
    pub fn next_delay(&mut self) -> Duration {
        self.delays.next().unwrap_or(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_bounded() {
        let mut b = backoff(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(100) && delays[0] <= Duration::from_millis(200), "{delays:?}");
        // jitter adds at most the delay itself on top of the capped value
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(2)), "{delays:?}");
        assert!(delays[9] >= Duration::from_secs(1), "{delays:?}");
    }
}
