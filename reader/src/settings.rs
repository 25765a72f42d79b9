//! Settings of a reader, under the same variable names as the syncer's where they overlap.

use std::time::Duration;

use clap::Args;
use launchdarkly_dynamo_common::secrets::SecretSource;
pub use launchdarkly_dynamo_common::settings::ConfigError;
use launchdarkly_dynamo_common::settings::{SdkKeyArgs, TableArgs};
use launchdarkly_dynamo_store::MirrorSettings;

/// Every reader setting; each can also be given as the environment variable shown.
#[derive(Args, Debug, Clone)]
pub struct ReaderSettings {
    #[command(flatten)]
    pub target: TableArgs,

    /// How often, at most, the reader checks the table's data generation (one small read):
    /// a synced change is answered within about this long.
    #[arg(long, env = "LAUNCHDARKLY_FRESHNESS_MS", default_value_t = 1000)]
    pub freshness_ms: u64,

    /// For a table without a data generation (written by LaunchDarkly's own SDKs or the Relay
    /// Proxy, not this project's syncer): how often it is reloaded whole.
    #[arg(long, env = "LAUNCHDARKLY_CACHE_TTL_SECONDS", default_value_t = 30)]
    pub cache_ttl_seconds: u64,

    /// Deadline of one DynamoDB read of the generation row, in milliseconds.
    #[arg(
        long,
        env = "LAUNCHDARKLY_DYNAMODB_CHECK_TIMEOUT_MS",
        default_value_t = 800
    )]
    pub check_timeout_ms: u64,

    /// Deadline of one reload of the flag data (whole or partial), in milliseconds.
    #[arg(
        long,
        env = "LAUNCHDARKLY_DYNAMODB_LOAD_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pub load_timeout_ms: u64,

    /// The SDK key, only to send analytics events to LaunchDarkly (events are off without one).
    #[command(flatten)]
    pub sdk_key: SdkKeyArgs,

    /// LaunchDarkly events endpoint (or a Relay Proxy URL).
    #[arg(
        long,
        env = "LAUNCHDARKLY_EVENTS_URI",
        default_value = "https://events.launchdarkly.com"
    )]
    pub events_uri: String,

    /// Longest wait for analytics events to be delivered by one flush (after an invocation's
    /// response, at shutdown); undelivered events stay queued.
    #[arg(
        long,
        env = "LAUNCHDARKLY_EVENTS_FLUSH_TIMEOUT_MS",
        default_value_t = 1000
    )]
    pub events_flush_timeout_ms: u64,

    /// Analytics events are delivered at most this long after the evaluation that made them:
    /// after a response once this interval has passed since the last delivery (never before
    /// the response), and at shutdown.
    #[arg(
        long,
        env = "LAUNCHDARKLY_EVENTS_FLUSH_INTERVAL_SECONDS",
        default_value_t = 5
    )]
    pub events_flush_interval_seconds: u64,

    /// How long the SDK key read from SSM is reused before being read again: a rotated key
    /// reaches analytics events within about this long, with no redeploy (as for the syncer).
    #[arg(long, env = "LAUNCHDARKLY_SECRETS_TTL_SECONDS", default_value_t = 300)]
    pub secrets_ttl_seconds: u64,
}

impl Default for ReaderSettings {
    /// The same defaults as the command line's.
    fn default() -> Self {
        Self {
            target: TableArgs::default(),
            freshness_ms: 1000,
            cache_ttl_seconds: 30,
            check_timeout_ms: 800,
            load_timeout_ms: 5000,
            sdk_key: SdkKeyArgs::default(),
            events_uri: "https://events.launchdarkly.com".to_string(),
            events_flush_timeout_ms: 1000,
            events_flush_interval_seconds: 5,
            secrets_ttl_seconds: 300,
        }
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct ReaderConfig {
    pub table: String,
    pub prefix: Option<String>,
    pub mirror: MirrorSettings,
    pub sdk_key: Option<SecretSource>,
    pub events_uri: String,
    pub events_flush_timeout: Duration,
    pub events_interval: Duration,
    /// How long the SDK key read from SSM is reused.
    pub secrets_ttl: Duration,
    /// How long a request may wait for a due check of the table before it is answered (the
    /// Rust reader: a short wait; the extension checks at each INVOKE instead: none).
    pub request_wait: Duration,
}

impl ReaderSettings {
    pub fn validate(&self) -> Result<ReaderConfig, ConfigError> {
        let (table, prefix) = self.target.validate()?;
        let sdk_key = self.sdk_key.source()?;
        let positive = |value: u64, name: &'static str| match value {
            0 => Err(ConfigError::Invalid(
                name,
                "must be more than 0".to_string(),
            )),
            value => Ok(value),
        };
        let mirror = MirrorSettings {
            freshness: Duration::from_millis(positive(
                self.freshness_ms,
                "LAUNCHDARKLY_FRESHNESS_MS",
            )?),
            fallback_ttl: Duration::from_secs(self.cache_ttl_seconds),
            check_timeout: Duration::from_millis(positive(
                self.check_timeout_ms,
                "LAUNCHDARKLY_DYNAMODB_CHECK_TIMEOUT_MS",
            )?),
            load_timeout: Duration::from_millis(positive(
                self.load_timeout_ms,
                "LAUNCHDARKLY_DYNAMODB_LOAD_TIMEOUT_MS",
            )?),
        };
        Ok(ReaderConfig {
            table,
            prefix,
            mirror,
            sdk_key,
            events_uri: self.events_uri.trim_end_matches('/').to_string(),
            events_flush_timeout: Duration::from_millis(self.events_flush_timeout_ms),
            events_interval: Duration::from_secs(self.events_flush_interval_seconds.max(1)),
            secrets_ttl: Duration::from_secs(self.secrets_ttl_seconds),
            request_wait: Duration::ZERO,
        })
    }
}
