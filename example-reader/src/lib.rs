//! An example Lambda that evaluates LaunchDarkly flags only from DynamoDB, with the Rust SDK in
//! daemon mode over `launchdarkly-dynamo-store`.

pub mod config;
pub mod events;
pub mod handler;
pub mod health;
pub mod ofrep;
pub mod reader;
pub mod rollouts;
pub mod serve;
pub mod startup;

pub use config::{Cli, Command, Config, Settings};
pub use handler::handle;
pub use health::Unavailable;
pub use reader::{parse_context, Evaluation, Reader};
