//! What the reader does after an answer is on its way, before Lambda may freeze the
//! environment. Lambda freezes as soon as the response is sent and every extension has asked
//! for its next event, so the reader registers an internal extension that, for each
//! invocation, waits until the handler has answered, then
//!
//! - lets a check of the table that the request started end (frozen half-way, its deadline
//!   would pass during the freeze and the data would look stale at the next thaw), and
//! - applies the shared analytics-events delivery policy, when events are sent.
//!
//! At shutdown (SIGTERM, which Lambda sends because an extension is registered) the events
//! left are delivered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lambda_extension::{service_fn, Extension, LambdaEvent, NextEvent};
use launchdarkly_dynamo_reader::events::EventDelivery;
use launchdarkly_dynamo_reader::Reader;
use tokio::sync::watch;

/// Lambda allows 500 ms between SIGTERM and SIGKILL when only internal extensions are
/// registered: deliver what is left within that.
const SHUTDOWN_FLUSH: Duration = Duration::from_millis(450);

/// Time kept back from an invocation's deadline for the runtime's own answer.
const DEADLINE_MARGIN: Duration = Duration::from_millis(200);

/// The name the extension registers under.
pub const EXTENSION_NAME: &str = "launchdarkly-reader";

/// Counts invocations the handler has answered, for the extension to wait on.
#[derive(Clone)]
pub struct Answered(Arc<watch::Sender<u64>>);

impl Answered {
    /// Call once the handler has produced its response.
    pub fn one_more(&self) {
        self.0.send_modify(|n| *n += 1);
    }
}

/// Registers the extension (before the runtime starts), runs it in the background, and turns
/// SIGTERM into delivering what is left.
pub async fn start(
    reader: Arc<Reader>,
    events_interval: Duration,
) -> Result<Answered, lambda_extension::Error> {
    let (answered, watcher) = watch::channel(0u64);
    let after = Arc::new(AfterAnswer {
        reader: reader.clone(),
        delivery: EventDelivery::new(events_interval),
        invocations: AtomicU64::new(0),
        answered: watcher,
    });
    let extension = Extension::new()
        .with_extension_name(EXTENSION_NAME)
        .with_events(&["INVOKE"])
        .with_events_processor(service_fn(move |event: LambdaEvent| {
            let after = after.clone();
            async move { after.invocation(event).await }
        }))
        .register()
        .await?;
    tokio::spawn(async move {
        if let Err(err) = extension.run().await {
            tracing::error!("the reader's internal extension stopped: {err}");
        }
    });
    tokio::spawn(close_on_sigterm(reader));
    Ok(Answered(Arc::new(answered)))
}

struct AfterAnswer {
    reader: Arc<Reader>,
    delivery: EventDelivery,
    invocations: AtomicU64,
    answered: watch::Receiver<u64>,
}

impl AfterAnswer {
    /// Runs after invocation `n` was answered (the response is on its way), before Lambda may
    /// freeze the environment.
    async fn invocation(&self, event: LambdaEvent) -> Result<(), lambda_extension::Error> {
        let NextEvent::Invoke(invoke) = event.next else {
            return Ok(());
        };
        let n = self.invocations.fetch_add(1, Ordering::SeqCst) + 1;
        let mut answered = self.answered.clone();
        // A handler that never answers ends the invocation with a timeout anyway.
        let _ = answered.wait_for(|done| *done >= n).await;
        let left = || launchdarkly_dynamo_common::time_left(invoke.deadline_ms, DEADLINE_MARGIN);
        self.delivery.after_answer(&self.reader, left()).await;
        self.reader.await_check(left()).await;
        Ok(())
    }
}

async fn close_on_sigterm(reader: Arc<Reader>) {
    let Ok(mut sigterm) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        tracing::warn!("cannot listen for SIGTERM: pending events may be lost at shutdown");
        return;
    };
    sigterm.recv().await;
    EventDelivery::new(Duration::ZERO)
        .at_shutdown(&reader, SHUTDOWN_FLUSH, "SIGTERM")
        .await;
    std::process::exit(0);
}
