//! `launchdarkly-ofrep`: a Lambda external extension that serves OpenFeature's Remote
//! Evaluation Protocol (OFREP) on `localhost`, evaluating LaunchDarkly flags from the DynamoDB
//! table the syncer fills, so functions in any runtime (Node.js, Python, Java, ...) use an
//! OpenFeature OFREP provider instead of LaunchDarkly's SDK and a DynamoDB store.
//!
//! A thin binary: the routes are [`launchdarkly_dynamo_ofrep`]'s and `GET /health`, answered by the read
//! engine ([`launchdarkly_dynamo_reader`]); this crate adds the Lambda lifecycle: ready within a second
//! whatever DynamoDB does, a check of the table at each `INVOKE` (in parallel with the
//! function's own start), analytics events delivered after the function's responses and at
//! `SHUTDOWN`.

pub mod config;
pub mod lifecycle;
pub mod telemetry;

pub use config::Cli;
pub use lifecycle::Lifecycle;
pub use telemetry::RuntimeDone;
