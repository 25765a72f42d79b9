//! Checks of the repository as a whole: module layout, docs, deploy preflight and the local quick start, one binary for all of them.
//!
//! Run one file's tests with a filter, e.g. `cargo test -p <crate> --test it <module>::`.

mod architecture;
mod deploy_preflight;
mod docs;
mod try_locally;
