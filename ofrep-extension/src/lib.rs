//! `launchdarkly-ofrep`: a Lambda external extension that serves OpenFeature's Remote
//! Evaluation Protocol (OFREP) on `localhost`, evaluating LaunchDarkly flags from the DynamoDB
//! table the syncer fills, so functions in any runtime (Node.js, Python, Java, ...) use an
//! OpenFeature OFREP provider instead of LaunchDarkly's SDK and a DynamoDB store.
//!
//! The routes and their answers are the reader's ([`example_reader::ofrep`]); this crate adds
//! the Lambda lifecycle: ready before the first invocation, analytics events delivered after
//! the function's responses and at `SHUTDOWN`.

pub mod config;
pub mod lifecycle;
pub mod telemetry;

pub use config::Cli;
pub use lifecycle::Lifecycle;
pub use telemetry::RuntimeDone;
