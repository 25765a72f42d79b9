//! An example Lambda that evaluates LaunchDarkly flags only from DynamoDB: a thin binary over
//! the read engine (`launchdarkly-dynamo-reader`) and its OFREP routes (`launchdarkly-dynamo-ofrep`).

pub mod after_answer;
pub mod config;
pub mod routes;

pub use config::{Cli, Command};
pub use routes::{app, lambda_app};
