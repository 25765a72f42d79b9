//! An example Lambda that evaluates LaunchDarkly flags only from DynamoDB: a thin binary over
//! the read engine (`ld-dynamo-reader`) and its OFREP routes (`ld-dynamo-ofrep`).

pub mod config;
pub mod events;
pub mod routes;

pub use config::{Cli, Command};
pub use routes::{app, lambda_app};
