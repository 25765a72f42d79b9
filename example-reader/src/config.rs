//! The reader's command line; its settings are the read engine's ([`ReaderSettings`]).

use clap::{Parser, Subcommand};
use launchdarkly_dynamo_reader::ReaderSettings;

/// Evaluates LaunchDarkly feature flags from the DynamoDB table the syncer fills, with the Rust
/// SDK in daemon mode: no connection to LaunchDarkly is needed to evaluate.
///
/// Inside AWS Lambda it serves HTTP (API Gateway, ALB, function URLs): `GET /flags/{key}?context=<JSON>`
/// (or `?key=<context key>&kind=<kind>`), `GET /flags`, and OpenFeature's OFREP
/// (`POST /ofrep/v1/evaluate/flags/{key}`, `POST /ofrep/v1/evaluate/flags`) and `GET /health`.
/// Answers come from an in-memory copy of the table, checked for changes at most once per
/// LAUNCHDARKLY_FRESHNESS_MS; while DynamoDB cannot be read they come from the data as last
/// read, marked stale. A store never read, or a table never synced, answers 503 (OFREP: 500
/// with errorCode GENERAL). Elsewhere, `example-reader eval` prints the same JSON and
/// `example-reader serve` serves the same API locally. AWS settings come from the standard AWS variables (AWS_REGION, AWS_ENDPOINT_URL, ...).
#[derive(Parser, Debug)]
#[command(name = "example-reader", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: ReaderSettings,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Evaluate one flag (or all flags with --all) for a context and print the result as JSON
    /// (or, with --text, as lines for a person).
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
        /// Print one line for a person (flag, context key, value, reason) instead of JSON.
        #[arg(long)]
        text: bool,
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
