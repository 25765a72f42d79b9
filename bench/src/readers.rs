//! Readers of the synced table: cold starts of `example-reader eval` (as a process and as Lambda
//! runs it), the OFREP extension and a Node.js function using it, warm evaluations; beside the
//! official Node.js SDK with its DynamoDB store in daemon mode, in the same run.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use launchdarkly_dynamo_store::DynamoDbStoreBuilder;
use launchdarkly_server_sdk::{
    Client, ConfigBuilder, ContextBuilder, NullEventProcessorBuilder, PersistentDataStoreBuilder,
};
use serde_json::Value;

use crate::process::{cold_start, node_reference, peak_rss};
use crate::results::{Ratio, Row, Sample};
use crate::{data, ofrep};

/// Evaluations per warm run through OFREP.
const OFREP_WARM_EVALUATIONS: usize = 5_000;

/// What the readers' measures run against.
pub struct Target<'a> {
    pub reader_binary: &'a str,
    pub extension_binary: &'a str,
    /// A table holding the bench's data set.
    pub table: &'a str,
    pub endpoint: String,
}

/// The official Node.js SDK's figures the readers are compared with.
#[derive(Default)]
struct Node {
    cold: Sample,
    rss: Sample,
    warm: Sample,
}

/// The reader's and the extension's rows.
pub fn rows(
    runtime: &tokio::runtime::Runtime,
    runs: usize,
    target: &Target,
) -> anyhow::Result<Vec<Row>> {
    let mut node = Node::default();
    let (cold, rss) = process_cold_starts(runs, target, &mut node)?;
    let lambda_cold = lambda_cold_starts(runtime, runs, target)?;
    let extension = extension_measures(runtime, runs, target)?;
    let warm = warm_evaluations(runtime, target.table, &mut node)?;
    use Ratio::{OursOverReference as Higher, ReferenceOverOurs as Faster};
    let mut rows = vec![
        Row::compared("Reader cold start: spawn → first evaluation", "ms", cold, &node.cold, Faster, "≤ 1/10 of Node's time"),
        Row::compared("Reader cold start as Lambda runs it: spawn → first invocation answered through the Runtime API (init + invoke; Node: spawn → first evaluation)", "ms", lambda_cold, &node.cold, Faster, "reported"),
        Row::compared("Warm evaluations (segment rule, cache on)", "evals/s", warm, &node.warm, Higher, "higher"),
    ];
    rows.extend(extension.rows(&node));
    rows.push(Row::compared(
        "Reader peak RSS (cold start process)",
        "MiB",
        rss,
        &node.rss,
        Faster,
        "reported",
    ));
    Ok(rows)
}

/// `example-reader eval` and the Node.js SDK, each spawned to its first evaluation: times and
/// peak memory.
fn process_cold_starts(
    runs: usize,
    target: &Target,
    node: &mut Node,
) -> anyhow::Result<(Sample, Sample)> {
    eprintln!("bench: reader cold starts");
    let (mut cold, mut rss) = (Sample::default(), Sample::default());
    for _ in 0..runs * 2 {
        let mut command = Command::new(target.reader_binary);
        command
            .args(["eval", data::EVAL_FLAG, "--key", data::EVAL_CONTEXT])
            .env("LAUNCHDARKLY_DYNAMODB_TABLE", target.table)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &target.endpoint)
            .env_remove("LAUNCHDARKLY_SDK_KEY");
        rss.push(peak_rss(&command)?);
        cold.push(cold_start(command)?);
        let mut command = Command::new("node");
        command.args([
            "bench/reference.js",
            "eval",
            target.table,
            data::EVAL_FLAG,
            data::EVAL_CONTEXT,
        ]);
        node.rss.push(peak_rss(&command)?);
        node.cold.push(cold_start(command)?);
    }
    Ok((cold, rss))
}

fn lambda_cold_starts(
    runtime: &tokio::runtime::Runtime,
    runs: usize,
    target: &Target,
) -> anyhow::Result<Sample> {
    eprintln!("bench: reader cold starts through the Lambda Runtime API stand-in");
    let mut cold = Sample::default();
    for _ in 0..runs * 2 {
        cold.push(runtime.block_on(lambda_cold_start(target))?);
    }
    Ok(cold)
}

/// Spawns the deployed reader bootstrap against the Runtime API stand-in and measures the time
/// until its first invocation (an HTTP API request evaluating the segment-rule flag) is answered.
async fn lambda_cold_start(target: &Target<'_>) -> anyhow::Result<f64> {
    use launchdarkly_dynamo_testkit::events::HttpCall;
    use launchdarkly_dynamo_testkit::lambda::LambdaApi;
    let api = LambdaApi::start();
    let started = Instant::now();
    let mut function = api.spawn(
        target.reader_binary,
        &[
            ("LAUNCHDARKLY_DYNAMODB_TABLE", target.table),
            ("AWS_ENDPOINT_URL_DYNAMODB", &target.endpoint),
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

/// The OFREP extension and a Node.js function using it through OpenFeature.
#[derive(Default)]
struct Extension {
    start: Sample,
    node_cold: Sample,
    node_rss: Sample,
    /// A Node.js process that prints one line: the floor under both.
    floor: Sample,
    floor_rss: Sample,
    warm: Sample,
    rss: Sample,
}

impl Extension {
    fn rows(self, node: &Node) -> Vec<Row> {
        use Ratio::{OursOverReference as Higher, ReferenceOverOurs as Faster};
        vec![
            Row::reported("OFREP extension start as Lambda runs it: spawn → ready (registered, first event/next)", "ms", self.start),
            Row::compared("Node.js function cold start: spawn → first flag value, with OpenFeature + OFREP through the running extension (Node: LaunchDarkly SDK + official DynamoDB store, daemon mode)", "ms", self.node_cold, &node.cold, Faster, "reported"),
            Row::reported("Node.js process that starts, prints one line and exits, no flags (the floor under both)", "ms", self.floor),
            Row::compared("Warm evaluations from one Node.js process: OpenFeature + OFREP to the extension, sequential (Node: the SDK in process)", "evals/s", self.warm, &node.warm, Higher, "reported"),
            Row::compared("Node.js process peak RSS: OpenFeature + OFREP (Node: the SDK + DynamoDB store)", "MiB", self.node_rss, &node.rss, Faster, "reported"),
            Row::reported("Node.js process peak RSS, no flags (the floor under both)", "MiB", self.floor_rss),
            Row::reported("OFREP extension peak RSS (after the warm runs)", "MiB", self.rss),
        ]
    }
}

fn extension_measures(
    runtime: &tokio::runtime::Runtime,
    runs: usize,
    target: &Target,
) -> anyhow::Result<Extension> {
    eprintln!("bench: the OFREP extension layer and a Node.js function using it");
    let mut measured = Extension::default();
    let start = || ofrep::start(target.extension_binary, target.table, &target.endpoint);
    for run in 0..runs * 2 {
        let mut floor = Command::new("node");
        floor.args(["-e", r#"process.stdout.write('{"value":null}\n')"#]);
        measured.floor_rss.push(peak_rss(&floor)?);
        measured.floor.push(cold_start(floor)?);
        let running = runtime.block_on(start())?;
        measured.start.push(running.start_ms);
        if run == 0 {
            ofrep::check_node_answer(&running.base_url)?;
        }
        let first_value = || ofrep::node_first_value(&running.base_url);
        measured.node_rss.push(peak_rss(&first_value())?);
        measured.node_cold.push(cold_start(first_value())?);
    }
    let running = runtime.block_on(start())?;
    for _ in 0..3 {
        let rate = ofrep::node_warm(&running.base_url, OFREP_WARM_EVALUATIONS)?;
        measured.warm.push(rate);
    }
    measured.rss.push(running.peak_rss_mib()?);
    Ok(measured)
}

/// Evaluations per second of a warm SDK in process: ours on the store, Node's on its own.
fn warm_evaluations(
    runtime: &tokio::runtime::Runtime,
    table: &str,
    node: &mut Node,
) -> anyhow::Result<Sample> {
    eprintln!("bench: warm evaluations");
    let mut warm = Sample::default();
    for _ in 0..3 {
        warm.push(runtime.block_on(warm_run(table))?);
        let result = node_reference(&[
            "warm",
            table,
            data::EVAL_FLAG,
            data::EVAL_CONTEXT,
            &data::WARM_EVALUATIONS.to_string(),
        ])?;
        node.warm
            .push(result["perSecond"].as_f64().unwrap_or(f64::NAN));
    }
    Ok(warm)
}
async fn warm_run(table: &str) -> anyhow::Result<f64> {
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
    for _ in 0..data::WARM_EVALUATIONS {
        std::hint::black_box(client.bool_variation(&context, data::EVAL_FLAG, false));
    }
    let rate = data::WARM_EVALUATIONS as f64 / started.elapsed().as_secs_f64();
    client.close();
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(rate)
}
