//! The store's integration tests against DynamoDB Local, one binary (one link) for all of them.
//!
//! Run one file's tests with a filter, e.g. `cargo test -p <crate> --test it <module>::`.

mod ahead;
mod apply;
mod archive;
mod end_to_end;
mod errors;
mod fixtures;
mod layout;
mod mirror;
mod runtimes;
mod suite;
