//! On Lambda Managed Instances, as the testkit's stand-in plays them (many invocations at once
//! in one environment that never freezes): the extension's and the reader's throughput and
//! 99th-percentile latency at 1, 8 and 64 concurrent requests, and the extension's DynamoDB
//! reads per minute while answering and once idle.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use launchdarkly_dynamo_testkit::events::HttpCall;
use launchdarkly_dynamo_testkit::lambda::LambdaApi;
use serde_json::{json, Value};

use crate::reading::{proxy, reads, Binaries};
use crate::results::{Row, Sample};
use crate::{data, ofrep};

/// Requests in flight at once.
const LEVELS: [usize; 3] = [1, 8, 64];
/// The environment's `AWS_LAMBDA_MAX_CONCURRENCY`.
const MAX_CONCURRENCY: usize = 64;
/// OFREP requests per level to the extension.
const EXTENSION_REQUESTS: usize = 4_000;
/// Invocations per level of the reader, each through the Runtime API stand-in.
const READER_INVOCATIONS: usize = 600;

/// Throughput and p99 of one level.
struct Load {
    per_second: f64,
    p99_ms: f64,
}

impl Load {
    fn of(latencies: &mut [f64], elapsed: Duration) -> Self {
        latencies.sort_by(|a, b| a.total_cmp(b));
        let at = (latencies.len() * 99 / 100).min(latencies.len().saturating_sub(1));
        Self {
            per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
            p99_ms: latencies.get(at).copied().unwrap_or(f64::NAN),
        }
    }

    fn rows(self, what: &str, level: usize) -> [Row; 2] {
        let one = |v: f64| Sample(vec![v]);
        [
            Row::reported(
                format!("Lambda Managed Instances, {what}, {level} concurrent: throughput"),
                "req/s",
                one(self.per_second),
            ),
            Row::reported(
                format!("Lambda Managed Instances, {what}, {level} concurrent: p99 latency"),
                "ms",
                one(self.p99_ms),
            ),
        ]
    }
}

/// Every Managed Instances measure, as rows of the results table.
pub fn rows(
    runtime: &tokio::runtime::Runtime,
    binaries: &Binaries,
    table: &str,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    eprintln!("bench: Lambda Managed Instances, extension under load");
    rows.extend(runtime.block_on(extension_rows(binaries.extension, table))?);
    eprintln!("bench: Lambda Managed Instances, reader under load");
    rows.extend(runtime.block_on(reader_rows(binaries.reader, table))?);
    eprintln!("bench: Lambda Managed Instances, extension reads busy and idle (about 2 min)");
    rows.extend(runtime.block_on(read_rows(binaries.extension, table))?);
    Ok(rows)
}

async fn extension_rows(binary: &str, table: &str) -> anyhow::Result<Vec<Row>> {
    let endpoint = launchdarkly_dynamo_testkit::dynamodb::endpoint();
    let api = LambdaApi::start_managed(MAX_CONCURRENCY);
    let running = ofrep::start_beside(api, binary, table, &endpoint).await?;
    let url = Arc::new(format!(
        "{}/ofrep/v1/evaluate/flags/{}",
        running.base_url,
        data::EVAL_FLAG
    ));
    let http = reqwest::Client::new();
    let mut rows = Vec::new();
    for level in LEVELS {
        let (http, url) = (http.clone(), url.clone());
        let load = concurrently(level, EXTENSION_REQUESTS, move |_| {
            let (http, url) = (http.clone(), url.clone());
            async move { evaluate_once(&http, &url).await }
        })
        .await?;
        rows.extend(load.rows("extension (OFREP)", level));
    }
    Ok(rows)
}

async fn evaluate_once(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let body = json!({"context": {"targetingKey": data::EVAL_CONTEXT}}).to_string();
    let answer = http
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?
        .bytes()
        .await?;
    let answer: Value = serde_json::from_slice(&answer)?;
    if answer["value"] != Value::Bool(true) {
        bail!("unexpected OFREP answer under load: {answer}");
    }
    Ok(())
}

async fn reader_rows(binary: &str, table: &str) -> anyhow::Result<Vec<Row>> {
    let endpoint = launchdarkly_dynamo_testkit::dynamodb::endpoint();
    let api = LambdaApi::start_managed(MAX_CONCURRENCY);
    let mut function = api.spawn(
        binary,
        &[
            ("LAUNCHDARKLY_DYNAMODB_TABLE", table),
            ("AWS_ENDPOINT_URL_DYNAMODB", &endpoint),
        ],
    );
    let path = format!("/flags/{}", data::EVAL_FLAG);
    let event = HttpCall::get(&path, &[("key", data::EVAL_CONTEXT)]).http_v2("/flags/{key}");
    let mut rows = Vec::new();
    for level in LEVELS {
        let (api, event) = (api.clone(), event.clone());
        let load = concurrently(level, READER_INVOCATIONS, move |_| {
            let (api, event) = (api.clone(), event.clone());
            async move {
                let response = api.invoke(event).await.response();
                let body: Value =
                    serde_json::from_str(response["body"].as_str().unwrap_or_default())?;
                if body["value"] != Value::Bool(true) {
                    bail!("unexpected reader answer under load: {response}");
                }
                Ok(())
            }
        })
        .await;
        match load {
            Ok(load) => rows.extend(load.rows("reader function", level)),
            Err(err) => {
                function.kill().ok();
                function.wait().ok();
                return Err(err);
            }
        }
    }
    function.kill().ok();
    function.wait().ok();
    Ok(rows)
}

/// `total` requests made by `level` workers at once; each request's latency and the whole.
async fn concurrently<F, Fut>(level: usize, total: usize, request: F) -> anyhow::Result<Load>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let request = Arc::new(request);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers = (0..level).map(|_| {
        let (request, next) = (request.clone(), next.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    return anyhow::Ok(latencies);
                }
                let at = Instant::now();
                request(n).await?;
                latencies.push(at.elapsed().as_secs_f64() * 1000.0);
            }
        })
    });
    let mut latencies = Vec::new();
    for worker in futures::future::join_all(workers).await {
        latencies.extend(worker??);
    }
    Ok(Load::of(&mut latencies, started.elapsed()))
}

/// DynamoDB reads per minute of the extension: answering 5 evaluations a second, then after
/// more than its idle time without one.
async fn read_rows(binary: &str, table: &str) -> anyhow::Result<Vec<Row>> {
    let proxy = proxy();
    let api = LambdaApi::start_managed(MAX_CONCURRENCY);
    let running = ofrep::start_beside(api, binary, table, proxy.endpoint()).await?;
    let url = format!(
        "{}/ofrep/v1/evaluate/flags/{}",
        running.base_url,
        data::EVAL_FLAG
    );
    let http = reqwest::Client::new();
    proxy.reset_received();
    let busy_for = Duration::from_secs(20);
    let until = Instant::now() + busy_for;
    while Instant::now() < until {
        evaluate_once(&http, &url).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let busy = reads(&proxy) as f64 * 60.0 / busy_for.as_secs_f64();
    // Idle: past the extension's idle time (60 s), then counted for 30 s.
    tokio::time::sleep(Duration::from_secs(65)).await;
    proxy.reset_received();
    let idle_for = Duration::from_secs(30);
    tokio::time::sleep(idle_for).await;
    let idle = reads(&proxy) as f64 * 60.0 / idle_for.as_secs_f64();
    Ok(vec![
        Row::reported(
            "Lambda Managed Instances, extension answering 5 evaluations/s: DynamoDB reads per minute",
            "reads/min",
            Sample(vec![busy]),
        ),
        Row::reported(
            "Lambda Managed Instances, extension idle for over 60 s: DynamoDB reads per minute",
            "reads/min",
            Sample(vec![idle]),
        ),
    ])
}
