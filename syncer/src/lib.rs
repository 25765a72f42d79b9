//! The syncer: keeps a DynamoDB table equal to the flags and segments LaunchDarkly serves, in the
//! official SDK table layout, on webhook, schedule and manual invoke.

pub mod config;
pub mod failure;
pub mod handler;
pub mod launchdarkly;
pub mod metrics;
pub use launchdarkly_dynamo_common::secrets;
pub mod status;
pub mod sync;
pub mod validate;
pub mod webhook;

pub use config::{Cli, Command, Config, Settings};
pub use handler::handle;
pub use sync::{Outcome, Summary, SyncError, SyncRequest, Syncer, Trigger};
