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
//!
//! On Lambda Managed Instances nothing freezes and there are no `INVOKE` events: the extension
//! registers for `SHUTDOWN` only (and delivers what is left then), and each answered request
//! settles on its own, in a task of its own: events per the policy, its check of the table.

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

/// How long a request's settling may take on Lambda Managed Instances (nothing waits on it).
const SETTLE_LIMIT: Duration = Duration::from_secs(2);

/// What the handler tells once it has answered.
#[derive(Clone)]
pub enum Answered {
    /// Counts invocations answered, for the extension's `INVOKE` handling to wait on.
    Counted(Arc<watch::Sender<u64>>),
    /// Lambda Managed Instances: each answer settles in a task of its own.
    Concurrent(Arc<Settle>),
}

impl Answered {
    /// Call once the handler has produced its response.
    pub fn one_more(&self) {
        match self {
            Answered::Counted(count) => count.send_modify(|n| *n += 1),
            Answered::Concurrent(settle) => {
                let settle = settle.clone();
                tokio::spawn(async move { settle.after_one().await });
            }
        }
    }
}

/// What follows one answer on Lambda Managed Instances.
pub struct Settle {
    reader: Arc<Reader>,
    delivery: EventDelivery,
}

impl Settle {
    async fn after_one(&self) {
        self.delivery.after_answer(&self.reader, SETTLE_LIMIT).await;
        self.reader.await_check(SETTLE_LIMIT).await;
    }
}

/// Registers the extension (before the runtime starts), runs it in the background, and turns
/// SIGTERM (or, on Lambda Managed Instances, `SHUTDOWN`) into delivering what is left.
pub async fn start(
    reader: Arc<Reader>,
    events_interval: Duration,
) -> Result<Answered, lambda_extension::Error> {
    if launchdarkly_dynamo_common::on_managed_instances() {
        return start_concurrent(reader, events_interval).await;
    }
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
    Ok(Answered::Counted(Arc::new(answered)))
}

/// Lambda Managed Instances: `SHUTDOWN` only; answers settle one by one.
async fn start_concurrent(
    reader: Arc<Reader>,
    events_interval: Duration,
) -> Result<Answered, lambda_extension::Error> {
    let at_shutdown = reader.clone();
    let extension = Extension::new()
        .with_extension_name(EXTENSION_NAME)
        .with_events(&["SHUTDOWN"])
        .with_events_processor(service_fn(move |event: LambdaEvent| {
            let reader = at_shutdown.clone();
            async move {
                if let NextEvent::Shutdown(shutdown) = event.next {
                    let left = launchdarkly_dynamo_common::time_left(
                        shutdown.deadline_ms,
                        DEADLINE_MARGIN,
                    );
                    EventDelivery::new(Duration::ZERO)
                        .at_shutdown(&reader, left, &shutdown.shutdown_reason)
                        .await;
                }
                Ok::<(), lambda_extension::Error>(())
            }
        }))
        .register()
        .await?;
    tokio::spawn(async move {
        if let Err(err) = extension.run().await {
            tracing::error!("the reader's internal extension stopped: {err}");
        }
    });
    tokio::spawn(close_on_sigterm(reader.clone()));
    Ok(Answered::Concurrent(Arc::new(Settle {
        reader,
        delivery: EventDelivery::new(events_interval),
    })))
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
