//! Runs the async store from the SDK's synchronous trait methods.
//!
//! The SDK calls the store from inside tokio tasks, and applications evaluate flags from their
//! own runtimes (current-thread or multi-thread) or from plain threads. `Handle::block_on` panics
//! inside a runtime and `block_in_place` needs a multi-thread one, so the store runs its futures
//! on a runtime of its own: each call is spawned there and the calling thread waits on a
//! channel. That works from every context and cannot deadlock on the caller's runtime, whose
//! threads the store's futures never need.
//!
//! The runtime is one per process and never shut down: HTTP connections are pooled in the
//! DynamoDB client, which may be shared by several stores, and a pooled connection dies with the
//! runtime that spawned its task. A per-store runtime would leave dead connections behind in a
//! shared client when its store is dropped.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

use crate::error::StoreError;

#[derive(Clone, Copy)]
pub(crate) struct Bridge {
    runtime: &'static Runtime,
}

impl Bridge {
    pub(crate) fn new() -> Result<Self, StoreError> {
        static RUNTIME: OnceLock<Runtime> = OnceLock::new();
        if let Some(runtime) = RUNTIME.get() {
            return Ok(Self { runtime });
        }
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("launchdarkly-dynamo-store")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Setup(format!("starting the store's tokio runtime: {e}")))?;
        // Another thread may have won the race; its runtime is used and this one dropped (it
        // has run nothing yet, and this thread is not inside the runtime being dropped).
        let runtime = match RUNTIME.set(runtime) {
            Ok(()) => RUNTIME.get(),
            Err(unused) => {
                unused.shutdown_background();
                RUNTIME.get()
            }
        };
        runtime
            .map(|runtime| Self { runtime })
            .ok_or_else(|| StoreError::Setup("the store's tokio runtime is missing".to_string()))
    }

    /// Runs `future` on the store's runtime and blocks the calling thread until it is done.
    pub(crate) fn run<F, T>(&self, future: F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            // The receiver only goes away if the caller is gone; nothing to report then.
            let _ = sender.send(future.await);
        });
        receiver.recv().map_err(|_| {
            StoreError::Setup("a store task stopped before answering (it panicked)".to_string())
        })?
    }
}
