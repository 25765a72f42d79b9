//! The read side, against LaunchDarkly's Node SDK with the official store and its default cache
//! (15 s), same run, same DynamoDB Local: a synced change → answered; answers while DynamoDB
//! fails or stalls; DynamoDB reads per container while answering and per change; the
//! extension's cold start with DynamoDB up, refusing and stalled.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use launchdarkly_dynamo_store::{DynamoDbStore, DynamoDbStoreBuilder, Kind, Snapshot};
use launchdarkly_dynamo_testkit::dynamodb::{client, create_table};
use launchdarkly_dynamo_testkit::lambda::free_port;
use launchdarkly_dynamo_testkit::proxy::{DynamoProxy, Outage};
use launchdarkly_server_sdk::SerializedItem;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::ofrep;

/// The flag whose changes are timed.
pub const FLAG: &str = "fresh-flag";
const CONTEXT: &str = "user-1";
/// How long an outage lasts: longer than the Node store's 15 s cache.
pub const OUTAGE_SECONDS: u64 = 20;
const SAMPLE_INTERVAL: Duration = Duration::from_millis(200);

/// A table the bench syncs as the syncer does (fenced, with the data generation).
pub struct Fixture {
    pub table: String,
    store: DynamoDbStore,
    version: u64,
}

fn snapshot(version: u64) -> Snapshot {
    let flag = json!({"key": FLAG, "version": version, "on": true, "targets": [], "prerequisites": [],
        "rules": [], "fallthrough": {"variation": 0}, "offVariation": 0,
        // A value of its own per version: a reader one change behind never looks current.
        "variations": [format!("value-{version}")], "salt": "s"});
    let mut snapshot = Snapshot::default();
    snapshot.insert(
        Kind::Flags,
        FLAG,
        SerializedItem {
            version,
            deleted: false,
            serialized_item: flag.to_string(),
        },
    );
    snapshot
}

impl Fixture {
    pub async fn new(label: &str) -> anyhow::Result<Self> {
        let table = create_table(&client(), label).await;
        let store = DynamoDbStoreBuilder::new(&table)
            .client(client())
            .build()
            .await?;
        let mut fixture = Self {
            table,
            store,
            version: 0,
        };
        fixture.change().await?;
        Ok(fixture)
    }

    /// The value the current version serves.
    pub fn expected(&self) -> String {
        format!("value-{}", self.version)
    }

    /// Syncs the next version, which serves a value no earlier version served.
    pub async fn change(&mut self) -> anyhow::Result<()> {
        self.version += 1;
        crate::syncs::fenced_sync(
            &self.store,
            &snapshot(self.version),
            launchdarkly_dynamo_store::Compare::Versions,
        )
        .await?;
        Ok(())
    }
}

/// A reader under test, answering over HTTP on loopback.
pub enum Server {
    Extension(ofrep::Running),
    Reader { child: Child, base_url: String },
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Reader { child, .. } = self {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// The extension, as Lambda starts it.
pub async fn extension(binary: &str, table: &str, endpoint: &str) -> anyhow::Result<Server> {
    Ok(Server::Extension(
        ofrep::start(binary, table, endpoint).await?,
    ))
}

/// `example-reader serve`, ready once `/health` answers.
pub async fn reader(binary: &str, table: &str, endpoint: &str) -> anyhow::Result<Server> {
    let port = free_port();
    let child = Command::new(binary)
        .args(["serve", "--port", &port.to_string()])
        .env("LAUNCHDARKLY_DYNAMODB_TABLE", table)
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        .env_remove("LAUNCHDARKLY_SDK_KEY")
        .stderr(Stdio::null())
        .spawn()?;
    let server = Server::Reader {
        child,
        base_url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let health = http
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await;
        if health.is_ok_and(|r| r.status().is_success()) {
            return Ok(server);
        }
        if started.elapsed() > Duration::from_secs(20) {
            bail!("example-reader serve did not get ready");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Server {
    /// One evaluation of [`FLAG`]: its latency in ms and the value (`None`: no value).
    async fn value(&self, http: &reqwest::Client) -> (f64, Option<String>) {
        let started = Instant::now();
        let request = match self {
            Server::Extension(running) => http
                .post(format!(
                    "{}/ofrep/v1/evaluate/flags/{FLAG}",
                    running.base_url
                ))
                .header("content-type", "application/json")
                .body(json!({"context": {"targetingKey": CONTEXT}}).to_string()),
            Server::Reader { base_url, .. } => {
                http.get(format!("{base_url}/flags/{FLAG}?key={CONTEXT}"))
            }
        };
        let body = match request.timeout(Duration::from_secs(10)).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let value = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|b| b["value"].as_str().map(str::to_string));
        (started.elapsed().as_secs_f64() * 1000.0, value)
    }
}

/// Change synced → answered by `server`, in ms (the sync's own time excluded).
pub async fn change_latency(server: &Server, fixture: &mut Fixture) -> anyhow::Result<f64> {
    let http = reqwest::Client::new();
    fixture.change().await?;
    let expected = Some(fixture.expected());
    let started = Instant::now();
    loop {
        let (_, now) = server.value(&http).await;
        if now == expected {
            return Ok(started.elapsed().as_secs_f64() * 1000.0);
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the change was not answered within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Evaluations every 200 ms for `seconds`: latencies (ms) and how many had no value.
pub async fn sample(server: &Server, seconds: u64) -> (Vec<f64>, usize) {
    let http = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    let (mut latencies, mut missing) = (Vec::new(), 0);
    while Instant::now() < until {
        let (ms, value) = server.value(&http).await;
        latencies.push(ms);
        missing += usize::from(value.is_none());
        tokio::time::sleep(SAMPLE_INTERVAL).await;
    }
    (latencies, missing)
}

/// 1,024 OFREP evaluations whose contexts are just under the body limit, 32 in flight.
async fn burst(base_url: &str) {
    let http = reqwest::Client::new();
    let body = json!({"context": {"targetingKey": "u", "blob": "x".repeat(30 * 1024)}}).to_string();
    let url = format!("{base_url}/ofrep/v1/evaluate/flags/{FLAG}");
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let (http, body, url) = (http.clone(), body.clone(), url.clone());
            tokio::spawn(async move {
                for _ in 0..32 {
                    let request = http.post(&url).header("content-type", "application/json");
                    let _ = request.body(body.clone()).send().await;
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
}

/// DynamoDB reads the proxy has seen.
pub fn reads(proxy: &DynamoProxy) -> usize {
    ["GetItem", "Query", "BatchGetItem", "Scan"]
        .iter()
        .map(|op| proxy.received(op))
        .sum()
}

/// A Node reference process that printed `{"ready":true}`.
pub struct NodeProcess {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl NodeProcess {
    pub fn start(args: &[&str], endpoint: &str) -> anyhow::Result<Self> {
        let mut child = Command::new("node")
            .arg("bench/reference.js")
            .args(args)
            .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().context("node stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.next().context("node printed nothing")??;
        if !ready.contains("ready") {
            bail!("node reference: {ready}");
        }
        Ok(Self { child, lines })
    }

    /// Tells a `sample` process to start.
    pub fn go(&mut self) -> anyhow::Result<()> {
        let stdin = self.child.stdin.as_mut().context("node stdin")?;
        stdin.write_all(b"go\n")?;
        Ok(())
    }

    /// The process's result line.
    pub fn result(mut self) -> anyhow::Result<Value> {
        let line = self.lines.next().context("node gave no result")??;
        self.child.wait().ok();
        Ok(serde_json::from_str(&line)?)
    }
}

/// Node: change synced → answered, in ms.
pub fn node_change_latency(
    runtime: &tokio::runtime::Runtime,
    fixture: &mut Fixture,
    endpoint: &str,
) -> anyhow::Result<f64> {
    let node = NodeProcess::start(&["fresh", &fixture.table, FLAG, CONTEXT], endpoint)?;
    let started = std::time::Instant::now();
    runtime.block_on(fixture.change())?;
    let sync_ms = started.elapsed().as_secs_f64() * 1000.0;
    let result = node.result()?;
    Ok(result["ms"].as_f64().unwrap_or(f64::NAN) - sync_ms)
}

/// Node: `sample` for `seconds`, with `during` run between ready and go (e.g. an outage).
pub fn node_sample(
    table: &str,
    endpoint: &str,
    seconds: u64,
    during: impl FnOnce(),
) -> anyhow::Result<(Vec<f64>, usize)> {
    let interval = SAMPLE_INTERVAL.as_millis().to_string();
    let mut node = NodeProcess::start(
        &[
            "sample",
            table,
            FLAG,
            CONTEXT,
            &seconds.to_string(),
            &interval,
        ],
        endpoint,
    )?;
    during();
    node.go()?;
    let result = node.result()?;
    let latencies = result["latencies"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    Ok((latencies, result["missing"].as_u64().unwrap_or(0) as usize))
}

/// The proxy in front of DynamoDB Local, for outages and request counts.
pub fn proxy() -> DynamoProxy {
    DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint())
}

use crate::results::{Ratio, Row, Sample};

fn sample_of(values: impl IntoIterator<Item = f64>) -> Sample {
    let mut sample = Sample::default();
    for value in values {
        sample.push(value);
    }
    sample
}

fn percent(missing: usize, total: usize) -> f64 {
    100.0 * missing as f64 / total.max(1) as f64
}

/// What the read-side measures run.
pub struct Binaries<'a> {
    pub reader: &'a str,
    pub extension: &'a str,
}

/// Every read-side measure, as rows of the results table.
pub fn rows(
    runtime: &tokio::runtime::Runtime,
    runs: usize,
    binaries: &Binaries,
) -> anyhow::Result<Vec<Row>> {
    let endpoint = launchdarkly_dynamo_testkit::dynamodb::endpoint();
    let mut rows = change_rows(runtime, runs, binaries, &endpoint)?;
    rows.extend(outage_rows(runtime, binaries)?);
    rows.extend(read_rows(runtime, binaries.extension)?);
    rows.extend(burst_rows(runtime, binaries.extension, &endpoint)?);
    rows.extend(cold_start_rows(
        runtime,
        runs,
        binaries.extension,
        &endpoint,
    )?);
    Ok(rows)
}

/// A change synced → answered by a warm extension and reader, and by the Node SDK.
fn change_rows(
    runtime: &tokio::runtime::Runtime,
    runs: usize,
    binaries: &Binaries,
    endpoint: &str,
) -> anyhow::Result<Vec<Row>> {
    let (reader_binary, extension_binary) = (binaries.reader, binaries.extension);
    let mut rows = Vec::new();
    eprintln!("bench: change synced → answered");
    let (mut ext, mut rdr, mut node) = (Sample::default(), Sample::default(), Sample::default());
    runtime.block_on(async {
        let mut fixture = Fixture::new("bench-fresh").await?;
        let extension = extension(extension_binary, &fixture.table, endpoint).await?;
        let reader = reader(reader_binary, &fixture.table, endpoint).await?;
        for _ in 0..runs {
            ext.push(change_latency(&extension, &mut fixture).await?);
            rdr.push(change_latency(&reader, &mut fixture).await?);
        }
        anyhow::Ok(())
    })?;
    let mut fixture = runtime.block_on(Fixture::new("bench-fresh-node"))?;
    for _ in 0..runs {
        node.push(node_change_latency(runtime, &mut fixture, endpoint)?);
    }
    for (what, ours) in [("extension (OFREP)", ext), ("example-reader serve", rdr)] {
        rows.push(Row {
            measure: format!("Change synced → answered by a warm {what}"),
            unit: "ms",
            ours,
            reference: Some(node.clone()),
            ratio: Ratio::ReferenceOverOurs,
            goal: "≤ 2,000 ms",
        });
    }
    Ok(rows)
}

/// Answers while DynamoDB answers 500s or stalls: latency, and answers without a value.
fn outage_rows(runtime: &tokio::runtime::Runtime, binaries: &Binaries) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (name, outage) in [
        ("500s", Outage::InternalServerError),
        ("a stall", Outage::Stall),
    ] {
        eprintln!("bench: answers during {name} ({OUTAGE_SECONDS} s)");
        let (extension, reader, node) = runtime.block_on(async {
            let fixture = Fixture::new("bench-outage").await?;
            let table = fixture.table.as_str();
            let extension = answers_during(outage, |endpoint| async move {
                extension(binaries.extension, table, &endpoint).await
            })
            .await?;
            let reader = answers_during(outage, |endpoint| async move {
                reader(binaries.reader, table, &endpoint).await
            })
            .await?;
            let node_proxy = crate::reading::proxy();
            let node = node_sample(
                &fixture.table,
                node_proxy.endpoint(),
                OUTAGE_SECONDS,
                || node_proxy.set_outage(outage),
            )?;
            node_proxy.set_outage(Outage::None);
            anyhow::Ok((extension, reader, node))
        })?;
        for (who, ours) in [
            ("extension", extension),
            ("reader (example-reader serve, the Lambda's routes)", reader),
        ] {
            rows.push(Row {
                measure: format!(
                    "During {name} ({OUTAGE_SECONDS} s), {who} vs Node SDK: answer latency"
                ),
                unit: "ms",
                ours: sample_of(ours.0.iter().copied()),
                reference: Some(sample_of(node.0.iter().copied())),
                ratio: Ratio::ReferenceOverOurs,
                goal: "≤ 10 ms, from memory",
            });
            rows.push(Row {
                measure: format!(
                    "During {name} ({OUTAGE_SECONDS} s), {who}: answers without the flag's value"
                ),
                unit: "%",
                ours: sample_of([percent(ours.1, ours.0.len())]),
                reference: Some(sample_of([percent(node.1, node.0.len())])),
                ratio: Ratio::None,
                goal: "0 %",
            });
        }
    }
    Ok(rows)
}

/// A server started through a fresh proxy, answering once, then sampled for
/// [`OUTAGE_SECONDS`] while the proxy plays `outage`.
async fn answers_during<F, Fut>(outage: Outage, start: F) -> anyhow::Result<(Vec<f64>, usize)>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Server>>,
{
    let proxy = proxy();
    let server = start(proxy.endpoint().to_string()).await?;
    server.value(&reqwest::Client::new()).await;
    proxy.set_outage(outage);
    let answers = sample(&server, OUTAGE_SECONDS).await;
    proxy.set_outage(Outage::None);
    Ok(answers)
}

/// DynamoDB reads of a warm container: idle, answering, and for one change.
fn read_rows(
    runtime: &tokio::runtime::Runtime,
    extension_binary: &str,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    eprintln!("bench: DynamoDB reads per container");
    let (quiet, idle, change, node_idle) = runtime.block_on(async {
        let mut fixture = Fixture::new("bench-reads").await?;
        let proxy = proxy();
        let server = extension(extension_binary, &fixture.table, proxy.endpoint()).await?;
        // Warm and unused (between invocations): no check runs without an event.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        proxy.reset_received();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let quiet = reads(&proxy) as f64 * 6.0;
        proxy.reset_received();
        sample(&server, 20).await;
        let idle = reads(&proxy) as f64 * 3.0;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        proxy.reset_received();
        let http = reqwest::Client::new();
        let (_, first) = server.value(&http).await;
        fixture.change().await?;
        loop {
            let (_, now) = server.value(&http).await;
            if now.is_some() && now != first {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let change = reads(&proxy) as f64;
        let node_proxy = crate::reading::proxy();
        let node = node_sample(&fixture.table, node_proxy.endpoint(), 20, || {
            node_proxy.reset_received()
        })?;
        let _ = node;
        let node_idle = reads(&node_proxy) as f64 * 3.0;
        anyhow::Ok((quiet, idle, change, node_idle))
    })?;
    rows.push(Row {
        measure: "A warm container between invocations: DynamoDB reads per minute".into(),
        unit: "reads/min",
        ours: sample_of([quiet]),
        reference: None,
        ratio: Ratio::None,
        goal: "0 (checks run only at an event)",
    });
    rows.push(Row {
        measure: "Answering 5 evaluations/s: DynamoDB reads per container per minute".into(),
        unit: "reads/min",
        ours: sample_of([idle]),
        reference: Some(sample_of([node_idle])),
        ratio: Ratio::None,
        goal: "≤ 60 small reads",
    });
    rows.push(Row {
        measure: "A one-flag change: DynamoDB reads until the extension answers it".into(),
        unit: "reads",
        ours: sample_of([change]),
        reference: None,
        ratio: Ratio::None,
        goal: "generation check(s) + the flag",
    });
    Ok(rows)
}

/// The extension's memory through a burst of large contexts.
fn burst_rows(
    runtime: &tokio::runtime::Runtime,
    extension_binary: &str,
    endpoint: &str,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    eprintln!("bench: extension memory through a burst of large contexts");
    let (before, peak, after) = runtime.block_on(async {
        let fixture = Fixture::new("bench-burst").await?;
        let running = ofrep::start(extension_binary, &fixture.table, endpoint).await?;
        let before = running.rss_mib()?;
        burst(&running.base_url).await;
        let peak = running.peak_rss_mib()?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        anyhow::Ok((before, peak, running.rss_mib()?))
    })?;
    for (what, mib) in [
        ("before", before),
        ("peak during", peak),
        ("2 s after", after),
    ] {
        rows.push(Row {
            measure: format!(
                "Extension RSS {what} 1,024 evaluations with 30 KiB contexts, 32 at once"
            ),
            unit: "MiB",
            ours: sample_of([mib]),
            reference: None,
            ratio: Ratio::None,
            goal: "far below the function's memory; returned after",
        });
    }
    Ok(rows)
}

/// The extension's cold start with DynamoDB up, refusing connections and stalled.
fn cold_start_rows(
    runtime: &tokio::runtime::Runtime,
    runs: usize,
    extension_binary: &str,
    endpoint: &str,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    eprintln!("bench: extension cold start with DynamoDB up, refusing, stalled");
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        format!("http://{}", listener.local_addr()?)
    };
    for (name, setup) in [
        ("up", None),
        ("refusing connections", Some(closed)),
        ("stalled", None::<String>),
    ] {
        let mut starts = Sample::default();
        for _ in 0..runs {
            starts.push(runtime.block_on(async {
                let fixture = Fixture::new("bench-cold").await?;
                let proxy = proxy();
                if name == "stalled" {
                    proxy.set_outage(Outage::Stall);
                }
                let target = match (&setup, name) {
                    (Some(closed), _) => closed.clone(),
                    (None, "stalled") => proxy.endpoint().to_string(),
                    _ => endpoint.to_string(),
                };
                let running = ofrep::start(extension_binary, &fixture.table, &target).await?;
                proxy.set_outage(Outage::None);
                anyhow::Ok(running.start_ms)
            })?);
        }
        rows.push(Row {
            measure: format!("Extension cold start (spawn → ready), DynamoDB {name}"),
            unit: "ms",
            ours: starts,
            reference: None,
            ratio: Ratio::None,
            goal: "≤ 2,000 ms",
        });
    }
    Ok(rows)
}
