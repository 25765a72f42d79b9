//! The read engine both readers are built on (the example reader Lambda and the OFREP
//! extension): LaunchDarkly's SDK in daemon mode evaluating from an in-memory
//! [`Mirror`](launchdarkly_dynamo_store::Mirror) of the table, so answers never wait on
//! DynamoDB; store health as a typed status; typed evaluation results that say when the data
//! is stale, and a store that cannot be read as such, never as a missing flag; and the
//! analytics event policy (after answers, at shutdown).

pub mod evaluation;
pub mod events;
pub mod health;
mod metrics;
mod reader;
mod rollouts;
pub mod routes;
pub mod settings;
pub mod startup;

pub use evaluation::{Evaluation, Freshness, Unavailable};
pub use health::Health;
/// The category of a failure to read the store, as callers see it.
pub use launchdarkly_dynamo_store::mirror::FailureKind;
pub use reader::{parse_context, BadContext, Reader};
pub use settings::{ReaderConfig, ReaderSettings};
