//! When the function has answered an invocation: the Telemetry API's `platform.runtimeDone`.
//! An external extension learns of an invocation when it starts (`INVOKE`), not when the
//! function's response is sent; delivering events before that would compete with the function,
//! and delivering them only at the next invocation could leave them queued for hours.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_extension::{LambdaTelemetry, LambdaTelemetryRecord};
use tokio::sync::Notify;

/// How many recent request ids are remembered (telemetry may arrive before the `INVOKE` is
/// handled).
const REMEMBERED: usize = 64;

/// Request ids the function has answered, as the Telemetry API reports them.
#[derive(Clone, Default)]
pub struct RuntimeDone(Arc<Inner>);

#[derive(Default)]
struct Inner {
    answered: Mutex<VecDeque<String>>,
    changed: Notify,
    unreliable: AtomicBool,
}

impl RuntimeDone {
    /// Takes a batch from the Telemetry API.
    pub fn record(&self, batch: Vec<LambdaTelemetry>) {
        let Ok(mut answered) = self.0.answered.lock() else {
            return;
        };
        for event in batch {
            if let LambdaTelemetryRecord::PlatformRuntimeDone { request_id, .. } = event.record {
                answered.push_back(request_id);
                if answered.len() > REMEMBERED {
                    answered.pop_front();
                }
            }
        }
        drop(answered);
        self.0.changed.notify_waiters();
    }

    /// Waits until `request_id` was answered, at most `limit`; false on timeout. After one
    /// timeout, telemetry is not waited for again (a function should never be kept from
    /// freezing by a missing telemetry event).
    pub async fn wait(&self, request_id: &str, limit: Duration) -> bool {
        if self.0.unreliable.load(Ordering::Relaxed) {
            return false;
        }
        let answered = async {
            loop {
                let changed = self.0.changed.notified();
                if self.answered(request_id) {
                    return;
                }
                changed.await;
            }
        };
        if tokio::time::timeout(limit, answered).await.is_ok() {
            return true;
        }
        if !self.0.unreliable.swap(true, Ordering::Relaxed) {
            tracing::warn!("no platform.runtimeDone from the Telemetry API for invocation {request_id}: analytics events will be delivered at the next invocation and at shutdown instead");
        }
        false
    }

    /// No telemetry will come (the subscription was not made): never wait.
    pub fn unavailable(&self) {
        self.0.unreliable.store(true, Ordering::Relaxed);
    }

    fn answered(&self, request_id: &str) -> bool {
        self.0
            .answered
            .lock()
            .is_ok_and(|answered| answered.iter().any(|id| id == request_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime_done(request_id: &str) -> LambdaTelemetry {
        serde_json::from_value(serde_json::json!({
            "time": "2026-11-23T10:00:00.000Z", "type": "platform.runtimeDone",
            "record": {"requestId": request_id, "status": "success"}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn waits_for_its_request_only() {
        let done = RuntimeDone::default();
        let waiting = tokio::spawn({
            let done = done.clone();
            async move { done.wait("b", Duration::from_secs(5)).await }
        });
        done.record(vec![runtime_done("a")]);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a is not b");
        done.record(vec![runtime_done("b")]);
        assert!(waiting.await.unwrap());
        assert!(
            done.wait("a", Duration::from_millis(1)).await,
            "already answered"
        );
    }

    #[tokio::test]
    async fn without_telemetry_it_never_waits() {
        let done = RuntimeDone::default();
        done.unavailable();
        let started = tokio::time::Instant::now();
        assert!(!done.wait("x", Duration::from_secs(30)).await);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn after_one_timeout_it_stops_waiting() {
        let done = RuntimeDone::default();
        assert!(!done.wait("x", Duration::from_millis(10)).await);
        done.record(vec![runtime_done("y")]);
        assert!(!done.wait("y", Duration::from_secs(5)).await);
    }
}
