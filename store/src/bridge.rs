//! Runs the async store from the SDK's synchronous trait methods.
//!
//! The SDK calls the store from inside tokio tasks, and applications evaluate flags from their
//! own runtimes (current-thread or multi-thread) or from plain threads. `Handle::block_on` panics
//! inside a runtime and `block_in_place` needs a multi-thread one, so the store owns a small
//! runtime of its own: each call is spawned there and the calling thread waits on a channel.
//! That works from every context and cannot deadlock on the caller's runtime, whose threads the
//! store's futures never need.

use std::future::Future;

use tokio::runtime::{Builder, Runtime};

use crate::error::StoreError;

pub(crate) struct Bridge {
    // Always `Some` until drop.
    runtime: Option<Runtime>,
}

impl Bridge {
    pub(crate) fn new() -> Result<Self, StoreError> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ld-dynamo-store")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Setup(format!("starting the store's tokio runtime: {e}")))?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Runs `future` on the store's runtime and blocks the calling thread until it is done.
    pub(crate) fn run<F, T>(&self, future: F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| StoreError::Setup("the store's runtime was shut down".to_string()))?;
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            // The receiver only goes away if the caller is gone; nothing to report then.
            let _ = sender.send(future.await);
        });
        receiver.recv().map_err(|_| {
            StoreError::Setup("a store task stopped before answering (it panicked)".to_string())
        })?
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime: shut down in the
        // background instead, whatever context the SDK client is dropped from.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
