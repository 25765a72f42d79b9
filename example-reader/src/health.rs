//! Whether the flag store can be trusted: the table is readable and was initialized by a sync.
//! The SDK in daemon mode never asks (it treats an unreadable store like an empty one), so the
//! reader does, cheaply: once at cold start, and again only when a flag is missing, with the
//! answer cached as long as flags are.

use std::time::Duration;

use launchdarkly_dynamo_store::DynamoDbStore;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Why the reader cannot answer from its store.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// The `$inited` check of one table and prefix, cached.
pub struct StoreHealth {
    store: DynamoDbStore,
    ttl: Duration,
    last: Mutex<Option<(Result<(), Unavailable>, Instant)>>,
}

impl StoreHealth {
    /// Checks `store` now and keeps the answer for `ttl`.
    pub async fn new(store: DynamoDbStore, ttl: Duration) -> Self {
        let health = Self {
            store,
            ttl,
            last: Mutex::new(None),
        };
        if let Err(err) = health.check().await {
            tracing::error!("the flag store is not usable yet: {err}");
        }
        health
    }

    /// The cached answer while it is fresh, else a new check.
    pub async fn confirm(&self) -> Result<(), Unavailable> {
        {
            let last = self.last.lock().await;
            if let Some((result, at)) = last.as_ref() {
                if at.elapsed() < self.ttl {
                    return result.clone();
                }
            }
        }
        self.check().await
    }

    /// Reads the `$inited` marker now.
    pub async fn check(&self) -> Result<(), Unavailable> {
        let result = match self.store.is_initialized().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Unavailable(self.never_synced())),
            Err(err) => Err(Unavailable(format!("the flag store cannot be read: {err}"))),
        };
        *self.last.lock().await = Some((result.clone(), Instant::now()));
        result
    }

    fn never_synced(&self) -> String {
        let prefix = match self.store.prefix() {
            Some(prefix) => format!(" under the prefix \"{prefix}\""),
            None => " (no prefix)".to_string(),
        };
        format!(
            "the table \"{}\" has no \"$inited\" marker{prefix}: it was never synced (run the syncer), or LAUNCHDARKLY_DYNAMODB_PREFIX does not match the syncer's",
            self.store.table_name()
        )
    }
}
