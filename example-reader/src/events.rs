//! Analytics events that never delay a response. In Lambda the environment freezes as soon as
//! the response is sent and every extension has asked for its next event, so the reader
//! registers an internal extension: for each invocation it waits until the handler has
//! answered, then flushes events when the flush interval has passed, before letting the
//! environment freeze. At shutdown (SIGTERM, which Lambda sends because an extension is
//! registered) what is left is delivered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lambda_extension::{service_fn, Extension, LambdaEvent, NextEvent};
use tokio::sync::{watch, Mutex};
use tokio::time::Instant;

use crate::reader::Reader;

/// Lambda allows 500 ms between SIGTERM and SIGKILL when only internal extensions are
/// registered: deliver what is left within that.
const SHUTDOWN_FLUSH: Duration = Duration::from_millis(450);

/// The name the extension registers under.
pub const EXTENSION_NAME: &str = "launchdarkly-events-flush";

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
/// SIGTERM into closing the client.
pub async fn start(
    reader: Arc<Reader>,
    interval: Duration,
) -> Result<Answered, lambda_extension::Error> {
    let (answered, watcher) = watch::channel(0u64);
    let flusher = Arc::new(Flusher {
        reader: reader.clone(),
        interval,
        invocations: AtomicU64::new(0),
        answered: watcher,
        last_flush: Mutex::new(Instant::now()),
    });
    let extension = Extension::new()
        .with_extension_name(EXTENSION_NAME)
        .with_events(&["INVOKE"])
        .with_events_processor(service_fn(move |event: LambdaEvent| {
            let flusher = flusher.clone();
            async move { flusher.after(event).await }
        }))
        .register()
        .await?;
    tokio::spawn(async move {
        if let Err(err) = extension.run().await {
            tracing::error!("the events extension stopped: {err}");
        }
    });
    tokio::spawn(close_on_sigterm(reader));
    Ok(Answered(Arc::new(answered)))
}

struct Flusher {
    reader: Arc<Reader>,
    interval: Duration,
    invocations: AtomicU64,
    answered: watch::Receiver<u64>,
    last_flush: Mutex<Instant>,
}

impl Flusher {
    /// Runs after invocation `n` was answered (the response is on its way), before Lambda may
    /// freeze the environment.
    async fn after(&self, event: LambdaEvent) -> Result<(), lambda_extension::Error> {
        if !matches!(event.next, NextEvent::Invoke(_)) {
            return Ok(());
        }
        let n = self.invocations.fetch_add(1, Ordering::SeqCst) + 1;
        let mut answered = self.answered.clone();
        // A handler that never answers ends the invocation with a timeout anyway.
        let _ = answered.wait_for(|done| *done >= n).await;
        let mut last = self.last_flush.lock().await;
        if last.elapsed() >= self.interval {
            if !self.reader.flush_events().await {
                tracing::warn!("analytics events were not all delivered; they stay queued");
            }
            *last = Instant::now();
        }
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
    if !reader.flush_events_within(SHUTDOWN_FLUSH).await {
        tracing::warn!("shutting down before every analytics event was delivered");
    }
    std::process::exit(0);
}
