//! When analytics events are delivered, for both readers: never before an answer; after one,
//! once the flush interval has passed since the last delivery; and at shutdown, within its
//! deadline. How a binary learns that it has answered (its own handler, or Lambda's Telemetry
//! API for an extension) is its own business.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::reader::Reader;

/// The delivery policy of one process.
pub struct EventDelivery {
    interval: Duration,
    last: Mutex<Instant>,
}

impl EventDelivery {
    /// Events go out at most `interval` after the evaluation that made them, while the
    /// function keeps being invoked.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(Instant::now()),
        }
    }

    /// The flush interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Call once an answer is on its way: delivers pending events if the interval has passed,
    /// waiting at most `limit`.
    pub async fn after_answer(&self, reader: &Reader, limit: Duration) {
        if !reader.sends_events() {
            return;
        }
        let mut last = self.last.lock().await;
        if last.elapsed() < self.interval {
            return;
        }
        // A rotated SDK key takes over before this delivery (read at most every secrets TTL).
        reader.follow_sdk_key(limit).await;
        if !reader.flush_events_within(limit).await {
            tracing::warn!("analytics events were not all delivered; they stay queued");
        }
        *last = Instant::now();
    }

    /// Delivers what is left before shutting down, within `limit`.
    pub async fn at_shutdown(&self, reader: &Reader, limit: Duration, why: &str) {
        if reader.sends_events() && !reader.flush_events_within(limit).await {
            tracing::warn!("shutting down ({why}) before every analytics event was delivered");
        }
    }
}
