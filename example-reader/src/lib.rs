//! An example Lambda that evaluates LaunchDarkly flags only from DynamoDB, with the Rust SDK in
//! daemon mode over `launchdarkly-dynamo-store`.

pub mod config;
pub mod handler;
pub mod reader;

pub use config::{Cli, Command, Config, Settings};
pub use handler::{handle, Request, Response};
pub use reader::{parse_context, Reader};
