//! `make bench`: measures this pipeline against LaunchDarkly's official Node.js DynamoDB store
//! (bench/reference.js), on the same DynamoDB Local, the same data, in the same run, and writes
//! bench/RESULTS.md.
//!
//!   launchdarkly-dynamo-bench <example-reader binary> <launchdarkly-ofrep extension> <results.md> [runs]
//!
//! Needs DynamoDB Local (scripts/with-local-aws.sh) and `node` with bench/node_modules and
//! examples/node-ofrep/node_modules.

mod data;
mod full_sync;
mod managed;
mod ofrep;
mod process;
mod readers;
mod reading;
mod results;
mod scale;
mod syncs;

use std::path::{Path, PathBuf};

/// Batches in flight for the store's full syncs unless BENCH_BATCH_CONCURRENCY says otherwise.
const DEFAULT_BATCH_CONCURRENCY: usize = 8;

/// `make bench`: this pipeline beside LaunchDarkly's official Node.js DynamoDB store, on the
/// same DynamoDB Local and data, in one run.
#[derive(clap::Parser)]
struct Args {
    /// The example-reader binary measured (the deployed artifact, unzipped).
    reader_binary: String,
    /// The launchdarkly-ofrep extension binary measured.
    extension_binary: String,
    /// Where the results go (Markdown).
    results: String,
    /// How many times each measure runs.
    #[arg(default_value_t = 5)]
    runs: usize,
    /// Only the cold starts and catch-ups at scale (bench/src/scale.rs), for quick iterations.
    #[arg(long)]
    only_scale: bool,
    /// An experiment knob: batches in flight for the store's full syncs.
    #[arg(long, env = "BENCH_BATCH_CONCURRENCY", default_value_t = DEFAULT_BATCH_CONCURRENCY)]
    batch_concurrency: usize,
}

fn main() -> anyhow::Result<()> {
    let args = <Args as clap::Parser>::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let binaries = reading::Binaries {
        reader: &args.reader_binary,
        extension: &args.extension_binary,
    };
    if args.only_scale {
        let rows = scale::rows(&runtime, args.runs, &binaries)?;
        results::write(Path::new(&args.results), &rows, args.runs, f64::NAN)?;
        eprintln!("bench: wrote {}", args.results);
        return Ok(());
    }
    let work = std::env::temp_dir().join(format!("ld-bench-{}", std::process::id()));
    let input = prepare(&work, args.batch_concurrency)?;
    let runs = args.runs;

    let (mut rows, reader_table) = syncs::rows(&runtime, runs, &input)?;
    let target = readers::Target {
        reader_binary: &args.reader_binary,
        extension_binary: &args.extension_binary,
        table: &reader_table,
        endpoint: launchdarkly_dynamo_testkit::dynamodb::endpoint(),
    };
    rows.extend(readers::rows(&runtime, runs, &target)?);
    rows.extend(results::zip_rows());
    rows.extend(reading::rows(&runtime, runs, &binaries)?);
    rows.extend(managed::rows(&runtime, &binaries, &reader_table)?);
    rows.extend(scale::rows(&runtime, runs, &binaries)?);
    rows.extend(full_sync::rows(&runtime, runs, &work)?);
    let items = (data::FLAGS + data::SEGMENTS) as f64;
    results::write(Path::new(&args.results), &rows, runs, items)?;
    let _ = std::fs::remove_dir_all(&work);
    eprintln!("bench: wrote {}", args.results);
    Ok(())
}

/// The generated data set and the same with ten flags changed, as files in `work` (for the
/// Node.js store) and parsed exactly as the syncer parses LaunchDarkly's body.
fn prepare(work: &PathBuf, batch_concurrency: usize) -> anyhow::Result<syncs::Input> {
    let data = data::generate();
    let changed = data::with_changed_flags(&data, 10);
    std::fs::create_dir_all(work)?;
    let data_file = work.join("data.json");
    let changed_file = work.join("changed.json");
    std::fs::write(&data_file, data.to_string())?;
    std::fs::write(&changed_file, changed.to_string())?;
    eprintln!(
        "bench: {} flags, {} segments, {:.1} MB of JSON",
        data::FLAGS,
        data::SEGMENTS,
        data.to_string().len() as f64 / 1e6
    );
    Ok(syncs::Input {
        data_path: data_file.to_string_lossy().to_string(),
        changed_path: changed_file.to_string_lossy().to_string(),
        snapshot: syncer::validate::parse(data.to_string().as_bytes())?.snapshot,
        changed: syncer::validate::parse(changed.to_string().as_bytes())?.snapshot,
        batch_concurrency,
    })
}
