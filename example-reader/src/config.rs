//! Settings of the reader, from the same environment variables as the syncer.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ld_dynamo_common::secrets::SecretSource;
pub use ld_dynamo_common::settings::ConfigError;
use ld_dynamo_common::settings::{SdkKeyArgs, TableArgs};

/// Evaluates LaunchDarkly feature flags from the DynamoDB table the syncer fills, with the Rust
/// SDK in daemon mode: no connection to LaunchDarkly is needed to evaluate.
///
/// Inside AWS Lambda it serves HTTP (API Gateway, ALB, function URLs): `GET /flags/{key}?context=<JSON>`
/// (or `?key=<context key>&kind=<kind>`), `GET /flags`, and OpenFeature's OFREP
/// (`POST /ofrep/v1/evaluate/flags/{key}`, `POST /ofrep/v1/evaluate/flags`); a store it cannot
/// read, or a table never synced, answers 503 (OFREP: 500 with errorCode GENERAL). Elsewhere, `example-reader eval` prints the same JSON and
/// `example-reader serve` serves the same API locally. AWS settings come from the standard AWS variables (AWS_REGION, AWS_ENDPOINT_URL, ...).
#[derive(Parser, Debug)]
#[command(name = "example-reader", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Evaluate one flag (or all flags with --all) for a context and print the result as JSON.
    Eval {
        /// The flag key.
        #[arg(required_unless_present = "all")]
        flag: Option<String>,
        /// Evaluate every flag.
        #[arg(long, conflicts_with = "flag")]
        all: bool,
        /// The context as LaunchDarkly context JSON, e.g. '{"kind":"user","key":"alice"}'.
        #[arg(long, conflicts_with = "key")]
        context: Option<String>,
        /// A context key, for a simple single-kind context (instead of --context).
        #[arg(long)]
        key: Option<String>,
        /// The kind of the --key context.
        #[arg(long, default_value = "user", requires = "key")]
        kind: String,
        /// Send the evaluation's analytics event to LaunchDarkly (needs an SDK key). Off by
        /// default: a local evaluation should not create contexts in your account.
        #[arg(long)]
        send_events: bool,
    },
    /// Serve the HTTP API (`GET /flags/{key}`, `GET /flags`, OFREP's `POST
    /// /ofrep/v1/evaluate/flags[/{key}]`) on 127.0.0.1, as the Lambda answers it, to try it
    /// without AWS.
    Serve {
        /// Port to listen on.
        #[arg(long, default_value_t = 3000)]
        port: u16,
    },
}

/// Every setting; each can also be given as the environment variable shown.
#[derive(Args, Debug, Clone, Default)]
pub struct Settings {
    #[command(flatten)]
    pub target: TableArgs,

    /// How long flags read from DynamoDB are cached in the container (0: read on every evaluation).
    #[arg(long, env = "LAUNCHDARKLY_CACHE_TTL_SECONDS", default_value_t = 30)]
    pub cache_ttl_seconds: u64,

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
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub table: String,
    pub prefix: Option<String>,
    pub cache_ttl: Duration,
    pub sdk_key: Option<SecretSource>,
    pub events_uri: String,
    pub events_flush_timeout: Duration,
    pub events_interval: Duration,
}

impl Settings {
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let (table, prefix) = self.target.validate()?;
        let sdk_key = self.sdk_key.source()?;
        Ok(Config {
            table,
            prefix,
            cache_ttl: Duration::from_secs(self.cache_ttl_seconds),
            sdk_key,
            events_uri: self.events_uri.trim_end_matches('/').to_string(),
            events_flush_timeout: Duration::from_millis(self.events_flush_timeout_ms),
            events_interval: Duration::from_secs(self.events_flush_interval_seconds.max(1)),
        })
    }
}
