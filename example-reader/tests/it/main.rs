//! The reader Lambda's integration tests: its handler and the real release binary, one binary for all of them.
//!
//! Run one file's tests with a filter, e.g. `cargo test -p <crate> --test it <module>::`.

mod cli;
mod handler;
mod reading;
mod runtime;
