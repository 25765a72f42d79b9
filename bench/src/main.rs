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
mod ofrep;
mod reading;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use launchdarkly_dynamo_store::{
    ApplyOptions, ApplyReport, Compare, DynamoDbStore, DynamoDbStoreBuilder, Snapshot,
};
use launchdarkly_dynamo_sync::{Coverage, SyncCoordinator, Turn};
use launchdarkly_dynamo_testkit::dynamodb::{client, client_with, create_table, RequestCounter};
use launchdarkly_server_sdk::{
    Client, ConfigBuilder, ContextBuilder, NullEventProcessorBuilder, PersistentDataStoreBuilder,
};
use serde_json::Value;

const WARM_EVALUATIONS: usize = 50_000;
const DEFAULT_BATCH_CONCURRENCY: usize = 8;
const OFREP_WARM_EVALUATIONS: usize = 5_000;

/// Several measurements of one quantity.
#[derive(Default, Clone)]
struct Sample(Vec<f64>);

impl Sample {
    fn push(&mut self, v: f64) {
        self.0.push(v);
    }
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    }
    fn median(&self) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let mid = v.len() / 2;
        if v.len().is_multiple_of(2) {
            (v[mid - 1] + v[mid]) / 2.0
        } else {
            v[mid]
        }
    }
    fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }
    fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
}

struct Row {
    measure: String,
    unit: &'static str,
    ours: Sample,
    reference: Option<Sample>,
    /// How the ratio reads: reference / ours ("× faster") or ours / reference ("× higher").
    ratio: Ratio,
    goal: &'static str,
}

#[derive(Clone, Copy)]
enum Ratio {
    ReferenceOverOurs,
    OursOverReference,
    None,
}

fn node_reference(args: &[&str]) -> anyhow::Result<Value> {
    let output = Command::new("node")
        .arg("bench/reference.js")
        .args(args)
        .output()
        .context("running node")?;
    if !output.status.success() {
        bail!(
            "node reference.js {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// Spawns `command` and returns the time until its first stdout line (an evaluation) in ms.
fn cold_start(mut command: Command) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().context("no output")??;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    if !first.contains("\"value\"") {
        bail!("unexpected output: {first}");
    }
    for _ in lines {}
    child.wait()?;
    Ok(elapsed)
}

/// Peak RSS in MiB of `command`, measured by a small Python parent: Linux keeps a process's
/// high-water mark across fork and exec, so a child of this (large) process would report ours.
fn peak_rss(command: &Command) -> anyhow::Result<f64> {
    let mut python = Command::new("python3");
    python.args([
        "-c",
        "import resource,subprocess,sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
    ]);
    python.arg(command.get_program()).args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => python.env(key, value),
            None => python.env_remove(key),
        };
    }
    let output = python.output()?;
    if !output.status.success() {
        bail!(
            "measuring RSS failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let kib: f64 = String::from_utf8_lossy(&output.stdout).trim().parse()?;
    Ok(kib / 1024.0)
}

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
    /// An experiment knob: batches in flight for the store's full syncs.
    #[arg(long, env = "BENCH_BATCH_CONCURRENCY", default_value_t = DEFAULT_BATCH_CONCURRENCY)]
    batch_concurrency: usize,
}

fn main() -> anyhow::Result<()> {
    let Args {
        reader_binary,
        extension_binary,
        results,
        runs,
        batch_concurrency,
    } = <Args as clap::Parser>::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    let data = data::generate();
    let changed = data::with_changed_flags(&data, 10);
    let work = std::env::temp_dir().join(format!("ld-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let data_file = work.join("data.json");
    let changed_file = work.join("changed.json");
    std::fs::write(&data_file, data.to_string())?;
    std::fs::write(&changed_file, changed.to_string())?;
    let data_path = data_file.to_string_lossy().to_string();
    let changed_path = changed_file.to_string_lossy().to_string();
    // Exactly what the syncer does with LaunchDarkly's body.
    let snapshot = syncer::validate::parse(data.to_string().as_bytes())?.snapshot;
    let changed_snapshot = syncer::validate::parse(changed.to_string().as_bytes())?.snapshot;
    let items = (data::FLAGS + data::SEGMENTS) as f64;
    eprintln!(
        "bench: {} flags, {} segments, {:.1} MB of JSON, {runs} runs",
        data::FLAGS,
        data::SEGMENTS,
        data.to_string().len() as f64 / 1e6
    );

    let (mut full_ms, mut full_requests, mut node_full_ms, mut node_full_requests): (
        Sample,
        Sample,
        Sample,
        Sample,
    ) = Default::default();
    let (mut same_ms, mut same_writes, mut node_same_ms, mut node_same_writes): (
        Sample,
        Sample,
        Sample,
        Sample,
    ) = Default::default();
    let (mut changed_writes, mut node_changed_writes): (Sample, Sample) = Default::default();
    let (mut fenced_ms, mut fenced_requests, mut reconcile_ms, mut reconcile_writes): (
        Sample,
        Sample,
        Sample,
        Sample,
    ) = Default::default();
    let (mut versions_rcu, mut content_rcu): (Sample, Sample) = Default::default();
    let mut reader_table = String::new();
    for run in 0..runs {
        eprintln!("bench: sync run {}/{runs}", run + 1);
        let (ours, fenced_run, reference) = runtime.block_on(async {
            let counter = RequestCounter::default();
            let dynamo = client_with(
                &launchdarkly_dynamo_testkit::dynamodb::endpoint(),
                Some(counter.clone()),
            );
            let table = create_table(&client(), "bench-ours").await;
            let reference = create_table(&client(), "bench-node").await;
            let store = DynamoDbStoreBuilder::new(&table)
                .client(dynamo)
                .batch_write_concurrency(batch_concurrency)
                .build()
                .await?;
            let started = Instant::now();
            store.apply_snapshot(&snapshot).await?;
            let full = (
                started.elapsed().as_secs_f64() * 1000.0,
                counter.writes() + counter.get("Query") + counter.get("GetItem"),
            );
            counter.reset();
            let started = Instant::now();
            let report = store.apply_snapshot(&snapshot).await?;
            let same = (
                started.elapsed().as_secs_f64() * 1000.0,
                report.item_writes(),
                counter.writes(),
            );
            let report = store.apply_snapshot(&changed_snapshot).await?;

            // As the syncer runs it: ticket, lease, fences, every write a fenced transaction.
            let fenced_table = create_table(&client(), "bench-fenced").await;
            let fenced_store = DynamoDbStoreBuilder::new(&fenced_table)
                .client(client_with(
                    &launchdarkly_dynamo_testkit::dynamodb::endpoint(),
                    Some(counter.clone()),
                ))
                .batch_write_concurrency(batch_concurrency)
                .build()
                .await?;
            counter.reset();
            let (ms, _) = fenced_sync(&fenced_store, &snapshot, Compare::Versions).await?;
            let fenced = (
                ms,
                counter.writes() + counter.get("Query") + counter.get("GetItem"),
            );
            // The schedule's reconciling sync when nothing changed: every item compared.
            let (ms, reconciled) = fenced_sync(&fenced_store, &snapshot, Compare::Content).await?;
            let reconcile = (ms, reconciled.item_writes());
            let rcu = (
                read_capacity(&client(), &fenced_table, true).await?,
                read_capacity(&client(), &fenced_table, false).await?,
            );
            anyhow::Ok((
                (full, same, report.item_writes(), table),
                (fenced, reconcile, rcu),
                reference,
            ))
        })?;
        let (fenced, reconcile, rcu) = fenced_run;
        fenced_ms.push(fenced.0);
        fenced_requests.push(fenced.1 as f64);
        reconcile_ms.push(reconcile.0);
        reconcile_writes.push(reconcile.1 as f64);
        versions_rcu.push(rcu.0);
        content_rcu.push(rcu.1);
        let ((full, same, changed_items, table), node_table) = (ours, reference);
        full_ms.push(full.0);
        full_requests.push(full.1 as f64);
        same_ms.push(same.0);
        same_writes.push(same.1 as f64);
        assert_eq!(same.2, 0, "no write request on an unchanged resync");
        changed_writes.push(changed_items as f64);
        let first = node_reference(&["init", &node_table, &data_path])?;
        node_full_ms.push(first["ms"].as_f64().unwrap_or(f64::NAN));
        let requests: f64 = first["requests"]
            .as_object()
            .map(|r| r.values().filter_map(Value::as_f64).sum())
            .unwrap_or(f64::NAN);
        node_full_requests.push(requests);
        let again = node_reference(&["init", &node_table, &data_path])?;
        node_same_ms.push(again["ms"].as_f64().unwrap_or(f64::NAN));
        node_same_writes.push(again["itemWrites"].as_f64().unwrap_or(f64::NAN));
        let changed_run = node_reference(&["init", &node_table, &changed_path])?;
        node_changed_writes.push(changed_run["itemWrites"].as_f64().unwrap_or(f64::NAN));
        reader_table = table;
    }

    eprintln!("bench: reader cold starts");
    let (mut cold, mut rss, mut node_cold, mut node_rss): (Sample, Sample, Sample, Sample) =
        Default::default();
    let endpoint = launchdarkly_dynamo_testkit::dynamodb::endpoint();
    for _ in 0..runs * 2 {
        let mut command = Command::new(&reader_binary);
        command
            .args(["eval", data::EVAL_FLAG, "--key", data::EVAL_CONTEXT])
            .env("LAUNCHDARKLY_DYNAMODB_TABLE", &reader_table)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &endpoint)
            .env_remove("LAUNCHDARKLY_SDK_KEY");
        rss.push(peak_rss(&command)?);
        cold.push(cold_start(command)?);
        let mut command = Command::new("node");
        command.args([
            "bench/reference.js",
            "eval",
            &reader_table,
            data::EVAL_FLAG,
            data::EVAL_CONTEXT,
        ]);
        node_rss.push(peak_rss(&command)?);
        node_cold.push(cold_start(command)?);
    }

    eprintln!("bench: reader cold starts through the Lambda Runtime API stand-in");
    let mut lambda_cold = Sample::default();
    for _ in 0..runs * 2 {
        lambda_cold.push(runtime.block_on(lambda_cold_start(
            &reader_binary,
            &reader_table,
            &endpoint,
        ))?);
    }

    eprintln!("bench: the OFREP extension layer and a Node.js function using it");
    let (mut extension_start, mut node_ofrep_cold, mut node_ofrep_rss): (Sample, Sample, Sample) =
        Default::default();
    let (mut node_floor, mut node_floor_rss): (Sample, Sample) = Default::default();
    for run in 0..runs * 2 {
        let mut floor = Command::new("node");
        floor.args(["-e", r#"process.stdout.write('{"value":null}\n')"#]);
        node_floor_rss.push(peak_rss(&floor)?);
        node_floor.push(cold_start(floor)?);
        let running =
            runtime.block_on(ofrep::start(&extension_binary, &reader_table, &endpoint))?;
        extension_start.push(running.start_ms);
        if run == 0 {
            ofrep::check_node_answer(&running.base_url)?;
        }
        node_ofrep_rss.push(peak_rss(&ofrep::node_first_value(&running.base_url))?);
        node_ofrep_cold.push(cold_start(ofrep::node_first_value(&running.base_url))?);
    }
    let (mut ofrep_warm, mut extension_rss): (Sample, Sample) = Default::default();
    {
        let running =
            runtime.block_on(ofrep::start(&extension_binary, &reader_table, &endpoint))?;
        for _ in 0..3 {
            ofrep_warm.push(ofrep::node_warm(&running.base_url, OFREP_WARM_EVALUATIONS)?);
        }
        extension_rss.push(running.peak_rss_mib()?);
    }

    eprintln!("bench: warm evaluations");
    let mut warm = Sample::default();
    let mut node_warm = Sample::default();
    for _ in 0..3 {
        warm.push(runtime.block_on(warm_evaluations(&reader_table))?);
        let result = node_reference(&[
            "warm",
            &reader_table,
            data::EVAL_FLAG,
            data::EVAL_CONTEXT,
            &WARM_EVALUATIONS.to_string(),
        ])?;
        node_warm.push(result["perSecond"].as_f64().unwrap_or(f64::NAN));
    }

    let reading_rows = reading::rows(&runtime, runs, &reader_binary, &extension_binary)?;
    let full_sync_rows = full_sync::rows(&runtime, runs, &work)?;

    let mut rows = vec![
        Row {
            measure: "Full sync into an empty table: time".into(),
            unit: "ms",
            ours: full_ms,
            reference: Some(node_full_ms.clone()),
            ratio: Ratio::ReferenceOverOurs,
            goal: "≥ 3× faster",
        },
        Row {
            measure: "Full sync as the syncer runs it (lease, fenced transactions): time".into(),
            unit: "ms",
            ours: fenced_ms,
            reference: Some(node_full_ms.clone()),
            ratio: Ratio::ReferenceOverOurs,
            goal: "no slower than Node's init",
        },
        Row {
            measure: "Full sync as the syncer runs it: DynamoDB requests".into(),
            unit: "requests",
            ours: fenced_requests,
            reference: Some(node_full_requests.clone()),
            ratio: Ratio::ReferenceOverOurs,
            goal: "reported",
        },
        Row {
            measure: "Reconciling resync (schedule, CLI), nothing changed: time".into(),
            unit: "ms",
            ours: reconcile_ms,
            reference: Some(node_same_ms.clone()),
            ratio: Ratio::ReferenceOverOurs,
            goal: "reported",
        },
        Row {
            measure: "Reconciling resync, nothing changed: item writes".into(),
            unit: "writes",
            ours: reconcile_writes,
            reference: Some(node_same_writes.clone()),
            ratio: Ratio::None,
            goal: "0 writes",
        },
        Row {
            measure: "Reading what is stored: keys and versions (webhook diff)".into(),
            unit: "RCU",
            ours: versions_rcu,
            reference: None,
            ratio: Ratio::None,
            goal: "reported",
        },
        Row {
            measure: "Reading what is stored: whole items (reconciling diff)".into(),
            unit: "RCU",
            ours: content_rcu,
            reference: None,
            ratio: Ratio::None,
            goal: "reported",
        },
        Row {
            measure: "Full sync into an empty table: DynamoDB requests".into(),
            unit: "requests",
            ours: full_requests,
            reference: Some(node_full_requests),
            ratio: Ratio::ReferenceOverOurs,
            goal: "reported",
        },
        Row {
            measure: "Resync, nothing changed: item writes".into(),
            unit: "writes",
            ours: same_writes,
            reference: Some(node_same_writes),
            ratio: Ratio::None,
            goal: "0 writes",
        },
        Row {
            measure: "Resync, nothing changed: time".into(),
            unit: "ms",
            ours: same_ms,
            reference: Some(node_same_ms),
            ratio: Ratio::ReferenceOverOurs,
            goal: "reported",
        },
        Row {
            measure: "Resync, 10 flags changed: item writes".into(),
            unit: "writes",
            ours: changed_writes,
            reference: Some(node_changed_writes),
            ratio: Ratio::None,
            goal: "10 writes",
        },
        Row {
            measure: "Reader cold start: spawn → first evaluation".into(),
            unit: "ms",
            ours: cold,
            reference: Some(node_cold.clone()),
            ratio: Ratio::ReferenceOverOurs,
            goal: "≤ 1/10 of Node's time",
        },
        Row {
            measure: "Reader cold start as Lambda runs it: spawn → first invocation answered through the Runtime API (init + invoke; Node: spawn → first evaluation)".into(),
            unit: "ms",
            ours: lambda_cold,
            reference: Some(node_cold.clone()),
            ratio: Ratio::ReferenceOverOurs,
            goal: "reported",
        },
        Row {
            measure: "Warm evaluations (segment rule, cache on)".into(),
            unit: "evals/s",
            ours: warm,
            reference: Some(node_warm.clone()),
            ratio: Ratio::OursOverReference,
            goal: "higher",
        },
        Row {
            measure: "OFREP extension start as Lambda runs it: spawn → ready (registered, first event/next)".into(),
            unit: "ms",
            ours: extension_start,
            reference: None,
            ratio: Ratio::None,
            goal: "reported",
        },
        Row {
            measure: "Node.js function cold start: spawn → first flag value, with OpenFeature + OFREP through the running extension (Node: LaunchDarkly SDK + official DynamoDB store, daemon mode)".into(),
            unit: "ms",
            ours: node_ofrep_cold,
            reference: Some(node_cold.clone()),
            ratio: Ratio::ReferenceOverOurs,
            goal: "reported",
        },
        Row {
            measure: "Node.js process that starts, prints one line and exits, no flags (the floor under both)".into(),
            unit: "ms",
            ours: node_floor,
            reference: None,
            ratio: Ratio::None,
            goal: "reported",
        },
        Row {
            measure: "Warm evaluations from one Node.js process: OpenFeature + OFREP to the extension, sequential (Node: the SDK in process)".into(),
            unit: "evals/s",
            ours: ofrep_warm,
            reference: Some(node_warm),
            ratio: Ratio::OursOverReference,
            goal: "reported",
        },
        Row {
            measure: "Node.js process peak RSS: OpenFeature + OFREP (Node: the SDK + DynamoDB store)".into(),
            unit: "MiB",
            ours: node_ofrep_rss,
            reference: Some(node_rss.clone()),
            ratio: Ratio::ReferenceOverOurs,
            goal: "reported",
        },
        Row {
            measure: "Node.js process peak RSS, no flags (the floor under both)".into(),
            unit: "MiB",
            ours: node_floor_rss,
            reference: None,
            ratio: Ratio::None,
            goal: "reported",
        },
        Row {
            measure: "OFREP extension peak RSS (after the warm runs)".into(),
            unit: "MiB",
            ours: extension_rss,
            reference: None,
            ratio: Ratio::None,
            goal: "reported",
        },
        Row {
            measure: "Reader peak RSS (cold start process)".into(),
            unit: "MiB",
            ours: rss,
            reference: Some(node_rss),
            ratio: Ratio::ReferenceOverOurs,
            goal: "reported",
        },
    ];
    for (name, path) in [
        ("syncer (function store)", "dist/x86_64/syncer.zip"),
        (
            "example-reader (function reader)",
            "dist/x86_64/example-reader.zip",
        ),
        (
            "launchdarkly-ofrep extension layer",
            "dist/x86_64/launchdarkly-ofrep-layer.zip",
        ),
    ] {
        if let Ok(meta) = std::fs::metadata(path) {
            let mut size = Sample::default();
            size.push(meta.len() as f64 / (1024.0 * 1024.0));
            rows.push(Row {
                measure: format!("Lambda zip size: {name}"),
                unit: "MiB",
                ours: size,
                reference: None,
                ratio: Ratio::None,
                goal: "reported",
            });
        }
    }
    rows.extend(reading_rows);
    rows.extend(full_sync_rows);
    write_results(Path::new(&results), &rows, runs, items)?;
    let _ = std::fs::remove_dir_all(&work);
    eprintln!("bench: wrote {results}");
    Ok(())
}

/// Spawns the deployed reader bootstrap against the Runtime API stand-in and measures the time
/// until its first invocation (an HTTP API request evaluating the segment-rule flag) is answered.
async fn lambda_cold_start(binary: &str, table: &str, endpoint: &str) -> anyhow::Result<f64> {
    use launchdarkly_dynamo_testkit::events::HttpCall;
    use launchdarkly_dynamo_testkit::lambda::LambdaApi;
    let api = LambdaApi::start();
    let started = Instant::now();
    let mut function = api.spawn(
        binary,
        &[
            ("LAUNCHDARKLY_DYNAMODB_TABLE", table),
            ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
        ],
    );
    let path = format!("/flags/{}", data::EVAL_FLAG);
    let query = [("key", data::EVAL_CONTEXT)];
    let event = HttpCall::get(&path, &query).http_v2("/flags/{key}");
    let response = api.invoke(event).await.response();
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    function.kill().ok();
    function.wait().ok();
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap_or_default())?;
    if body["value"] != Value::Bool(true) {
        bail!("unexpected answer through the Runtime API: {response}");
    }
    Ok(elapsed)
}

/// One sync as the syncer runs it: ticket, lease and fences, fenced apply, release. Returns the
/// wall time in ms and what the apply did.
async fn fenced_sync(
    store: &DynamoDbStore,
    snapshot: &Snapshot,
    compare: Compare,
) -> anyhow::Result<(f64, ApplyReport)> {
    let started = Instant::now();
    let coordinator = SyncCoordinator::new(store, Duration::from_secs(10))?;
    let ticket = coordinator.ticket(Coverage::Any).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let Turn::Held(lease) = coordinator.wait_turn(&ticket, deadline).await? else {
        bail!("nothing else runs: the bench must hold the lease");
    };
    let options = ApplyOptions::default()
        .fenced_by(&lease)
        .deadline(deadline)
        .compare(compare);
    let report = store.apply(snapshot, options).await;
    lease.release(report.is_ok().then_some(Coverage::Any)).await;
    Ok((started.elapsed().as_secs_f64() * 1000.0, report?))
}

/// Read capacity units DynamoDB charges for the consistent queries of both namespaces that a
/// diff makes, with the projection to keys and versions or without it.
async fn read_capacity(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    versions_only: bool,
) -> anyhow::Result<f64> {
    let mut units = 0.0;
    for namespace in ["features", "segments"] {
        let mut start = None;
        loop {
            let mut query = dynamo
                .query()
                .table_name(table)
                .consistent_read(true)
                .key_condition_expression("#ns = :ns")
                .expression_attribute_names("#ns", "namespace")
                .expression_attribute_values(":ns", AttributeValue::S(namespace.into()))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .set_exclusive_start_key(start);
            if versions_only {
                query = query
                    .projection_expression("#k, #v")
                    .expression_attribute_names("#k", "key")
                    .expression_attribute_names("#v", "version");
            }
            let output = query.send().await?;
            units += output
                .consumed_capacity
                .as_ref()
                .and_then(|c| c.capacity_units)
                .unwrap_or(f64::NAN);
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
    }
    Ok(units)
}

async fn warm_evaluations(table: &str) -> anyhow::Result<f64> {
    let store = DynamoDbStoreBuilder::new(table);
    let data_store = PersistentDataStoreBuilder::new(Arc::new(store));
    let config = ConfigBuilder::new("sdk-bench-key")
        .daemon_mode(true)
        .data_store(&data_store)
        .event_processor(&NullEventProcessorBuilder::new())
        .build()?;
    let client = Client::build(config)?;
    client.start_with_default_executor();
    let context = ContextBuilder::new(data::EVAL_CONTEXT)
        .build()
        .map_err(anyhow::Error::msg)?;
    if !client.bool_variation(&context, data::EVAL_FLAG, false) {
        bail!(
            "{} should be true for {} (segment rule)",
            data::EVAL_FLAG,
            data::EVAL_CONTEXT
        );
    }
    let started = Instant::now();
    for _ in 0..WARM_EVALUATIONS {
        std::hint::black_box(client.bool_variation(&context, data::EVAL_FLAG, false));
    }
    let rate = WARM_EVALUATIONS as f64 / started.elapsed().as_secs_f64();
    client.close();
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(rate)
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "—".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn write_results(path: &Path, rows: &[Row], runs: usize, items: f64) -> anyhow::Result<()> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
                    / 1024.0
                    / 1024.0
            })
        })
        .unwrap_or(0.0);
    let mut out = String::new();
    out.push_str("# Benchmark results\n\n");
    out.push_str("Written by `make bench` (bench/src/main.rs). This project against LaunchDarkly's official Node.js\n");
    out.push_str("DynamoDB store (`launchdarkly-node-server-sdk-dynamodb` 4.0.0 with `launchdarkly-node-server-sdk` 6.4.3,\n");
    out.push_str("bench/reference.js), on the same DynamoDB Local, with the same generated data, in the same run.\n\n");
    out.push_str(&format!(
        "Machine: {cpu}, {cores} cores, {memory:.0} GiB; DynamoDB Local 3.3.0 on loopback. Data: {} flags and {} segments \
         ({items:.0} items; some with rules and 1,000-key targets, one flag near 350 KB), seeded. {runs} runs per sync measure, \
         {} reader cold starts, 3 warm runs of {WARM_EVALUATIONS} evaluations.\n\n",
        data::FLAGS, data::SEGMENTS, runs * 2
    ));
    out.push_str("| Measure | Unit | Ours: median (min–max) | Reference: median (min–max) | Ratio | Goal |\n|---|---|---|---|---|---|\n");
    for row in rows {
        let ours = format!(
            "{} ({}–{})",
            fmt(row.ours.median()),
            fmt(row.ours.min()),
            fmt(row.ours.max())
        );
        let reference = row.reference.as_ref().map_or("—".to_string(), |r| {
            format!("{} ({}–{})", fmt(r.median()), fmt(r.min()), fmt(r.max()))
        });
        let ratio = match (row.ratio, &row.reference) {
            (Ratio::ReferenceOverOurs, Some(r)) => {
                format!("{:.1}× (reference ÷ ours)", r.median() / row.ours.median())
            }
            (Ratio::OursOverReference, Some(r)) => {
                format!("{:.1}× (ours ÷ reference)", row.ours.median() / r.median())
            }
            _ => "—".to_string(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            row.measure, row.unit, ours, reference, ratio, row.goal
        ));
    }
    out.push_str("\nTimes are wall-clock on a shared 2-core machine; DynamoDB Local is much faster per request than AWS,\n");
    out.push_str("so request counts say more about cost in AWS than milliseconds do.\n");
    if let Ok(notes) = std::fs::read_to_string("bench/NOTES.md") {
        out.push('\n');
        out.push_str(&notes);
    }
    std::fs::write(path, out)?;
    Ok(())
}
