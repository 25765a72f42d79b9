//! The extension's integration tests: the real release binary under the Lambda stand-in, read by OpenFeature clients, one binary for all of them.
//!
//! Run one file's tests with a filter, e.g. `cargo test -p <crate> --test it <module>::`.

mod lifecycle;
mod managed_instances;
mod openfeature;
mod python;
mod reading;
