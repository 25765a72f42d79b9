//! Settings of the extension: the read engine's (table, prefix, freshness, events) plus its
//! ports.
//! In Lambda, an extension sees the function's environment variables.

use clap::Parser;
use launchdarkly_dynamo_reader::ReaderSettings;

/// The extension's name: Lambda runs `/opt/extensions/launchdarkly-ofrep` and the name it
/// registers under must be that file's name.
pub const EXTENSION_NAME: &str = "launchdarkly-ofrep";

/// Default OFREP port: flagd's, so OFREP examples written for flagd work unchanged.
pub const DEFAULT_PORT: u16 = 8016;

/// Serves OpenFeature OFREP (`POST /ofrep/v1/evaluate/flags/{key}`, `POST
/// /ofrep/v1/evaluate/flags`) on 127.0.0.1, evaluating LaunchDarkly flags from the DynamoDB
/// table the syncer fills, with the Rust SDK in daemon mode.
///
/// In AWS Lambda it runs as an external extension (from a layer) beside a function of any
/// runtime: ready before the first invocation; analytics events, when an SDK key is set,
/// delivered after responses and at shutdown. Elsewhere it just serves, for local work.
#[derive(Parser, Debug)]
#[command(name = "launchdarkly-ofrep", version)]
pub struct Cli {
    #[command(flatten)]
    pub settings: ReaderSettings,

    /// Port of the OFREP endpoint on 127.0.0.1.
    #[arg(long, env = "LAUNCHDARKLY_OFREP_PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// Port where the Lambda Telemetry API posts platform events (they tell when the
    /// function has answered, so events go out after the response). Only used in Lambda.
    #[arg(
        long,
        env = "LAUNCHDARKLY_OFREP_TELEMETRY_PORT",
        default_value_t = 8017
    )]
    pub telemetry_port: u16,
}
