//! The extension's answers to Lambda's lifecycle events. `INVOKE`: once the function has
//! answered (see [`RuntimeDone`]) and the flush interval has passed, deliver analytics events
//! before Lambda may freeze the environment. `SHUTDOWN`: deliver what is left before the
//! deadline, then stop.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use example_reader::Reader;
use lambda_extension::{tower::Service, InvokeEvent, LambdaEvent, NextEvent, ShutdownEvent};
use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;

use crate::telemetry::RuntimeDone;

/// Time kept back from a Lambda deadline for our own answer.
const DEADLINE_MARGIN: Duration = Duration::from_millis(200);

/// State shared by the events processor and `main`.
pub struct Lifecycle {
    reader: OnceLock<Arc<Reader>>,
    interval: Duration,
    runtime_done: RuntimeDone,
    last_flush: Mutex<Instant>,
    stopped: Notify,
}

impl Lifecycle {
    /// Events are delivered at most `interval` after the evaluation that made them (while the
    /// function keeps being invoked).
    pub fn new(interval: Duration, runtime_done: RuntimeDone) -> Arc<Self> {
        Arc::new(Self {
            reader: OnceLock::new(),
            interval,
            runtime_done,
            last_flush: Mutex::new(Instant::now()),
            stopped: Notify::new(),
        })
    }

    /// The reader, once built (before the first event is asked for).
    pub fn set_reader(&self, reader: Arc<Reader>) {
        let _ = self.reader.set(reader);
    }

    /// Resolves once `SHUTDOWN` was handled.
    pub async fn stopped(&self) {
        self.stopped.notified().await
    }

    /// Handles one event from the Extensions API.
    pub async fn on_event(&self, event: LambdaEvent) -> Result<(), lambda_extension::Error> {
        match event.next {
            NextEvent::Invoke(invoke) => self.after_invocation(&invoke).await,
            NextEvent::Shutdown(shutdown) => {
                self.at_shutdown(&shutdown).await;
                self.stopped.notify_one();
            }
        }
        Ok(())
    }

    async fn after_invocation(&self, invoke: &InvokeEvent) {
        let Some(reader) = self.reader.get().filter(|r| r.sends_events()) else {
            return;
        };
        let left = ld_dynamo_common::time_left(invoke.deadline_ms, DEADLINE_MARGIN);
        self.runtime_done.wait(&invoke.request_id, left).await;
        let mut last = self.last_flush.lock().await;
        if last.elapsed() < self.interval {
            return;
        }
        let left = ld_dynamo_common::time_left(invoke.deadline_ms, DEADLINE_MARGIN);
        if !reader.flush_events_within(left).await {
            tracing::warn!("analytics events were not all delivered; they stay queued");
        }
        *last = Instant::now();
    }

    async fn at_shutdown(&self, shutdown: &ShutdownEvent) {
        let Some(reader) = self.reader.get().filter(|r| r.sends_events()) else {
            return;
        };
        let left = ld_dynamo_common::time_left(shutdown.deadline_ms, DEADLINE_MARGIN);
        if !reader.flush_events_within(left).await {
            tracing::warn!(
                "shutting down ({}) before every analytics event was delivered",
                shutdown.shutdown_reason
            );
        }
    }
}

/// The events processor given to `lambda_extension`.
#[derive(Clone)]
pub struct Processor(pub Arc<Lifecycle>);

impl Service<LambdaEvent> for Processor {
    type Response = ();
    type Error = lambda_extension::Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent) -> Self::Future {
        let lifecycle = self.0.clone();
        Box::pin(async move { lifecycle.on_event(event).await })
    }
}
