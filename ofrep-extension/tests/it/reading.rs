//! The read engine through the extension's real binary, beside DynamoDB Local behind the fault
//! proxy: a synced change is answered soon after an `INVOKE`; through 500s, a stall and refused
//! connections answers stay values, marked stale, answered at once; a cold start while
//! DynamoDB stalls is ready at once and answers the store's error, never a missing flag; the
//! health route says which; and the server stays usable under hundreds of idle connections.

use std::time::Duration;

use launchdarkly_dynamo_fixtures::banner;
use launchdarkly_dynamo_testkit::lambda::{free_port, layer_extension, Happened, LambdaApi};
use launchdarkly_dynamo_testkit::proxy::{DynamoProxy, Faults, Outage};
use serde_json::{json, Value};
use tokio::time::Instant;

const NAME: &str = "launchdarkly-ofrep";

async fn table(label: &str) -> String {
    launchdarkly_dynamo_fixtures::fenced_table(label, &[banner(1, "hello")]).await
}

struct Running {
    api: LambdaApi,
    extension: std::process::Child,
    port: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.extension.kill().ok();
        self.extension.wait().ok();
    }
}

fn start(table: &str, endpoint: &str) -> Running {
    start_with(table, endpoint, false)
}

fn start_with(table: &str, endpoint: &str, capture_stdout: bool) -> Running {
    let api = LambdaApi::start();
    let port = free_port();
    let port_text = port.to_string();
    let env = [
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
        ("LAUNCHDARKLY_OFREP_PORT", port_text.as_str()),
        ("LAUNCHDARKLY_DYNAMODB_TABLE", table),
    ];
    let binary = layer_extension(NAME, env!("CARGO_BIN_EXE_launchdarkly-ofrep"));
    let extension = match capture_stdout {
        true => api.spawn_with_stdout(&binary, &env),
        false => api.spawn(&binary, &env),
    };
    Running {
        api,
        extension,
        port,
    }
}

async fn ready(running: &Running) {
    assert!(
        running
            .api
            .wait_until(&Happened::ExtensionNext(NAME.into()))
            .await,
        "the extension asked for its first event"
    );
}

async fn post(port: u16, flag: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/ofrep/v1/evaluate/flags/{flag}"
        ))
        .header("content-type", "application/json")
        .body(json!({"context": {"targetingKey": "user"}}).to_string())
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("the extension answers within 5 s");
    let status = response.status().as_u16();
    (status, json_of(response).await)
}

async fn health(port: u16) -> (u16, Value) {
    let response = reqwest::get(format!("http://127.0.0.1:{port}/health"))
        .await
        .expect("health answers");
    let status = response.status().as_u16();
    (status, json_of(response).await)
}

async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// One invocation whose function evaluates `banner` (the extension checks the table at its
/// `INVOKE`).
async fn invoke(running: &Running) -> (u16, Value) {
    let port = running.port;
    let answer = running
        .api
        .invoke_in_process(json!({}), |_| async move {
            let (status, body) = post(port, "banner").await;
            json!({"status": status, "body": body})
        })
        .await;
    (
        answer["status"].as_u64().unwrap_or(0) as u16,
        answer["body"].clone(),
    )
}

async fn until(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synced_change_is_answered_by_a_warm_extension_after_its_next_invokes() {
    let table = table("ext-fresh").await;
    let running = start(&table, &launchdarkly_dynamo_testkit::dynamodb::endpoint());
    ready(&running).await;
    assert_eq!(invoke(&running).await.1["value"], "hello");
    launchdarkly_dynamo_fixtures::fenced_sync(&table, &[banner(2, "bye")]).await;
    // Default freshness (1 s): the change shows within a couple of invocations, not the 30 s
    // of a cache TTL. (How fast exactly is measured by `make bench`.)
    until("the change", Duration::from_secs(5), async || {
        invoke(&running).await.1["value"] == "bye"
    })
    .await;
    let (status, current) = health(running.port).await;
    assert_eq!(
        (status, current["state"].as_str()),
        (200, Some("CURRENT")),
        "{current}"
    );
    assert_eq!(current["generation"], 2, "{current}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_500s_a_stall_and_refused_connections_answers_stay_values_marked_stale() {
    let table = table("ext-outage").await;
    let proxy = DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint());
    let running = start(&table, proxy.endpoint());
    ready(&running).await;
    assert_eq!(invoke(&running).await.1["value"], "hello");
    // The first answer may come from point reads: the outages are of a loaded copy.
    until("the copy", Duration::from_secs(20), async || {
        invoke(&running).await;
        health(running.port).await.1["state"] == "CURRENT"
    })
    .await;
    for outage in [Outage::InternalServerError, Outage::Stall, Outage::Refuse] {
        proxy.set_outage(outage);
        until("going stale", Duration::from_secs(10), async || {
            invoke(&running).await;
            health(running.port).await.1["state"] == "STALE"
        })
        .await;
        let started = Instant::now();
        let (status, body) = post(running.port, "banner").await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{outage:?}: answered from memory"
        );
        assert_eq!(
            (status, &body["value"]),
            (200, &json!("hello")),
            "{outage:?}: {body}"
        );
        assert_eq!(body["metadata"]["stale"], true, "{outage:?}: {body}");
        assert!(body["metadata"]["dataAgeSeconds"].is_u64(), "{body}");
        // A flag the loaded data does not hold needs no DynamoDB read to be not found.
        let (status, missing) = post(running.port, "no-such-flag").await;
        assert_eq!(
            (status, &missing["errorCode"]),
            (404, &json!("FLAG_NOT_FOUND")),
            "{missing}"
        );
        let (status, stale) = health(running.port).await;
        assert_eq!(status, 200, "stale data still serves: {stale}");
        assert!(stale["lastError"]["kind"].is_string(), "{stale}");

        proxy.set_outage(Outage::None);
        until("recovery", Duration::from_secs(10), async || {
            invoke(&running).await;
            health(running.port).await.1["state"] == "CURRENT"
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_while_dynamodb_stalls_is_ready_at_once_and_answers_the_store_error() {
    let table = table("ext-cold-stall").await;
    let proxy = DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint());
    proxy.set_outage(Outage::Stall);
    let started = Instant::now();
    let running = start(&table, proxy.endpoint());
    ready(&running).await;
    // Lambda's init limit is 10 s; the extension starts its first load and is ready at once.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "ready after {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let (status, body) = post(running.port, "banner").await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        (status, &body["errorCode"]),
        (500, &json!("GENERAL")),
        "never FLAG_NOT_FOUND: {body}"
    );
    let (status, loading) = health(running.port).await;
    assert_eq!(
        (status, loading["state"].as_str()),
        (503, Some("LOADING")),
        "{loading}"
    );
    proxy.set_outage(Outage::None);
    until("the first load", Duration::from_secs(10), async || {
        invoke(&running).await.1["value"] == "hello"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_answers_a_flag_from_point_reads_before_its_copy_loads() {
    let table = table("ext-ahead").await;
    let proxy = DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint());
    // The archive (the copy's first load) cannot be read; the flag's own rows can.
    proxy.set_faults(Faults {
        stall_bodies_with: vec!["$archive".into()],
        ..Faults::default()
    });
    let running = start(&table, proxy.endpoint());
    ready(&running).await;
    let (status, body) = post(running.port, "banner").await;
    assert_eq!((status, &body["value"]), (200, &json!("hello")), "{body}");
    assert_eq!(body["metadata"]["stale"], Value::Null, "just read: {body}");
    let (_, loading) = health(running.port).await;
    assert_eq!(loading["state"], "LOADING", "{loading}");
    // Once the first load has failed (its deadline passed), the point reads are unconfirmed:
    // still answered, marked stale.
    until(
        "the first load failing",
        Duration::from_secs(20),
        async || health(running.port).await.1["lastError"].is_object(),
    )
    .await;
    let (status, body) = post(running.port, "banner").await;
    assert_eq!((status, &body["value"]), (200, &json!("hello")), "{body}");
    assert_eq!(body["metadata"]["stale"], true, "{body}");
    // The copy replaces the point reads once the archive can be read.
    proxy.set_faults(Faults::default());
    until("the copy", Duration::from_secs(20), async || {
        invoke(&running).await;
        health(running.port).await.1["state"] == "CURRENT"
    })
    .await;
    assert_eq!(invoke(&running).await.1["value"], "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_leave_a_well_behaved_client_answered() {
    let table = table("ext-bounded").await;
    let running = start(&table, &launchdarkly_dynamo_testkit::dynamodb::endpoint());
    ready(&running).await;
    // More idle connections than the server keeps: the longest idle make room.
    let idle: Vec<std::net::TcpStream> = (0..400)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", running.port)).ok())
        .collect();
    assert!(idle.len() >= 300, "opened {}", idle.len());
    let started = Instant::now();
    let (status, body) = post(running.port, "banner").await;
    assert_eq!((status, &body["value"]), (200, &json!("hello")), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered after {:?}",
        started.elapsed()
    );
    drop(idle);
    assert_eq!(post(running.port, "banner").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluations_between_events_become_metric_records() {
    let table = table("ext-metrics").await;
    let mut running = start_with(
        &table,
        &launchdarkly_dynamo_testkit::dynamodb::endpoint(),
        true,
    );
    ready(&running).await;
    let stdout = running.extension.stdout.take().expect("piped stdout");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let collected = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            collected.lock().unwrap().push(line);
        }
    });
    for _ in 0..2 {
        assert_eq!(invoke(&running).await.0, 200);
    }
    // The next event's record counts what the function evaluated since the last one.
    running
        .api
        .invoke_in_process(json!({}), |_| async { json!({}) })
        .await;
    let records = || -> Vec<Value> {
        lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|record| record.get("_aws").is_some())
            .collect()
    };
    until(
        "both evaluations are in metric records",
        Duration::from_secs(10),
        async || {
            records()
                .iter()
                .filter_map(|r| r["Evaluations"].as_f64())
                .sum::<f64>()
                == 2.0
        },
    )
    .await;
    for record in records() {
        assert_eq!(record["Component"], "extension", "{record}");
        assert_eq!(record["Table"], table.as_str());
        assert_eq!(
            record["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "LaunchDarklyDynamoStore"
        );
        assert_eq!(record["UnavailableAnswers"], 0.0);
    }
}
