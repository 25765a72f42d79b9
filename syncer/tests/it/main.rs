//! The syncer's integration tests: its library against DynamoDB Local and its real release binary under the Lambda stand-in, one binary for all of them.
//!
//! Run one file's tests with a filter, e.g. `cargo test -p <crate> --test it <module>::`.

mod cli;
mod common;
mod docs;
mod handler;
mod hostile;
mod integrity;
mod memory;
mod metrics;
mod operator;
mod runtime;
mod status;
mod sync;
