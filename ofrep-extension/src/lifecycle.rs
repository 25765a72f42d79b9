//! The extension's answers to Lambda's lifecycle events. `INVOKE`: start a check of the table
//! at once (the function is starting its own work in parallel), then, once the function has
//! answered (see [`RuntimeDone`]), apply the shared event delivery policy before Lambda may
//! freeze the environment. `SHUTDOWN`: deliver what is left before the deadline, then stop.
//!
//! On Lambda Managed Instances there are no `INVOKE` events and nothing freezes: the copy is
//! checked every freshness interval while the extension answers, not at all once it has been
//! idle for [`IDLE_AFTER`] (the first evaluation after that starts a check at once), and events
//! and metrics go out every flush interval ([`Lifecycle::on_a_timer`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use lambda_extension::{tower::Service, InvokeEvent, LambdaEvent, NextEvent, ShutdownEvent};
use launchdarkly_dynamo_reader::events::EventDelivery;
use launchdarkly_dynamo_reader::Reader;
use tokio::sync::Notify;

use crate::telemetry::RuntimeDone;

/// Time kept back from a Lambda deadline for our own answer.
const DEADLINE_MARGIN: Duration = Duration::from_millis(200);

/// On Lambda Managed Instances: no evaluation for this long and the timer stops checking the
/// table (no DynamoDB reads while nothing asks), until the next evaluation.
pub const IDLE_AFTER: Duration = Duration::from_secs(60);

/// On Lambda Managed Instances: how long a timed delivery of analytics events may take.
const TIMED_DELIVERY_LIMIT: Duration = Duration::from_secs(2);

/// State shared by the events processor and `main`.
pub struct Lifecycle {
    reader: OnceLock<Arc<Reader>>,
    delivery: EventDelivery,
    runtime_done: RuntimeDone,
    stopped: Notify,
}

impl Lifecycle {
    /// Events are delivered at most `interval` after the evaluation that made them (while the
    /// function keeps being invoked).
    pub fn new(interval: Duration, runtime_done: RuntimeDone) -> Arc<Self> {
        Arc::new(Self {
            reader: OnceLock::new(),
            delivery: EventDelivery::new(interval),
            runtime_done,
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
        let Some(reader) = self.reader.get() else {
            return;
        };
        // In parallel with the function's start: by its first evaluation the data is current.
        reader.check();
        if reader.sends_events() {
            let left = launchdarkly_dynamo_common::time_left(invoke.deadline_ms, DEADLINE_MARGIN);
            self.runtime_done.wait(&invoke.request_id, left).await;
            let left = launchdarkly_dynamo_common::time_left(invoke.deadline_ms, DEADLINE_MARGIN);
            self.delivery.after_answer(reader, left).await;
        }
        // Never let Lambda freeze a check half-way (a few milliseconds, beside the function).
        reader
            .await_check(launchdarkly_dynamo_common::time_left(
                invoke.deadline_ms,
                DEADLINE_MARGIN,
            ))
            .await;
        // The evaluations since the last event (the function's previous invocations).
        if let Some(record) = reader.take_metrics("extension") {
            record.emit();
        }
    }

    /// Lambda Managed Instances: checks the table every freshness interval while the
    /// extension is in use, and delivers events and metrics every flush interval. Runs until
    /// the process ends.
    pub async fn on_a_timer(self: Arc<Self>) {
        let Some(reader) = self.reader.get().cloned() else {
            return;
        };
        let mut ticks = tokio::time::interval(reader.mirror().settings().freshness);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_delivery = tokio::time::Instant::now();
        loop {
            ticks.tick().await;
            if reader.idle_for() < IDLE_AFTER {
                reader.check();
            }
            if last_delivery.elapsed() >= self.delivery.interval() {
                last_delivery = tokio::time::Instant::now();
                self.delivery
                    .after_answer(&reader, TIMED_DELIVERY_LIMIT)
                    .await;
                if let Some(record) = reader.take_metrics("extension") {
                    record.emit();
                }
            }
        }
    }

    async fn at_shutdown(&self, shutdown: &ShutdownEvent) {
        let Some(reader) = self.reader.get() else {
            return;
        };
        let left = launchdarkly_dynamo_common::time_left(shutdown.deadline_ms, DEADLINE_MARGIN);
        self.delivery
            .at_shutdown(reader, left, &shutdown.shutdown_reason)
            .await;
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
