//! The extension's real binary on Lambda Managed Instances, as the stand-in plays them: the
//! registration for `INVOKE` that Lambda refuses there (what would fail a function's Init),
//! `SHUTDOWN` only, many concurrent evaluations, a synced change answered with no `INVOKE`
//! event at all, analytics events on the timer and at `SHUTDOWN`.

use std::time::Duration;

use launchdarkly_dynamo_fixtures::banner;
use launchdarkly_dynamo_testkit::events_sink::EventsSink;
use launchdarkly_dynamo_testkit::lambda::{
    free_port, layer_extension, wait_exit, Happened, LambdaApi,
};
use serde_json::{json, Value};
use tokio::time::Instant;

const NAME: &str = "launchdarkly-ofrep";
const CONCURRENCY: usize = 64;

fn binary() -> String {
    layer_extension(NAME, env!("CARGO_BIN_EXE_launchdarkly-ofrep"))
}

struct Running {
    api: LambdaApi,
    extension: std::process::Child,
    port: u16,
}

fn variables(table: &str, port: u16) -> Vec<(&'static str, String)> {
    vec![
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            launchdarkly_dynamo_testkit::dynamodb::endpoint(),
        ),
        ("LAUNCHDARKLY_OFREP_PORT", port.to_string()),
        ("LAUNCHDARKLY_OFREP_TELEMETRY_PORT", free_port().to_string()),
        ("LAUNCHDARKLY_DYNAMODB_TABLE", table.to_string()),
    ]
}

fn start(table: &str, more: &[(&'static str, &str)]) -> Running {
    let api = LambdaApi::start_managed(CONCURRENCY);
    let port = free_port();
    let mut env = variables(table, port);
    env.extend(more.iter().map(|(k, v)| (*k, v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let extension = api.spawn(&binary(), &env);
    Running {
        api,
        extension,
        port,
    }
}

async fn evaluate(http: &reqwest::Client, port: u16, user: &str) -> Value {
    let answer = http
        .post(format!(
            "http://127.0.0.1:{port}/ofrep/v1/evaluate/flags/banner"
        ))
        .header("content-type", "application/json")
        .body(json!({"context": {"targetingKey": user}}).to_string())
        .send()
        .await
        .expect("the extension answers");
    serde_json::from_str(&answer.text().await.unwrap_or_default()).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extension_registering_for_invoke_is_refused_there() {
    let table = launchdarkly_dynamo_fixtures::fenced_table("lmi-refused", &[banner(1, "hi")]).await;
    let api = LambdaApi::start_managed(CONCURRENCY);
    let port = free_port();
    let env = variables(&table, port);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // As the extension behaved before it knew Lambda Managed Instances: INVOKE and SHUTDOWN.
    let mut unaware = api.spawn_unaware(&binary(), &env);
    let status = wait_exit(&mut unaware);
    assert!(
        !status.success(),
        "a refused registration ends the extension: {status}"
    );
    assert!(api.extensions().is_empty(), "{:?}", api.extensions());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_managed_instances_it_registers_for_shutdown_only_and_answers_64_at_once() {
    let table = launchdarkly_dynamo_fixtures::fenced_table("lmi", &[banner(1, "hello")]).await;
    let mut running = start(&table, &[]);
    assert!(
        running
            .api
            .wait_until(&Happened::ExtensionNext(NAME.into()))
            .await,
        "the extension registered and asked for its first event"
    );
    assert_eq!(running.api.extensions(), [NAME]);

    // The function's workers, all at once.
    let http = reqwest::Client::new();
    let users: Vec<String> = (0..CONCURRENCY).map(|i| format!("user-{i}")).collect();
    let answers =
        futures::future::join_all(users.iter().map(|user| evaluate(&http, running.port, user)))
            .await;
    for answer in &answers {
        assert_eq!(answer["value"], "hello", "{answer}");
    }

    // A sync while the function keeps evaluating: answered within 2 s, no INVOKE anywhere.
    launchdarkly_dynamo_fixtures::fenced_sync(&table, &[banner(2, "bye")]).await;
    let synced = Instant::now();
    loop {
        let answer = evaluate(&http, running.port, "alice").await;
        if answer["value"] == "bye" {
            break;
        }
        assert!(
            synced.elapsed() < Duration::from_secs(2),
            "the change was not answered within 2 s: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        running.api.count(&Happened::ExtensionNext(NAME.into())),
        1,
        "no event but SHUTDOWN ever reaches the extension"
    );

    running.api.shutdown_extensions();
    let status = wait_exit(&mut running.extension);
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_go_out_on_the_timer_and_at_shutdown() {
    let table =
        launchdarkly_dynamo_fixtures::fenced_table("lmi-events", &[banner(1, "hello")]).await;
    let sink = EventsSink::start();
    let mut running = start(
        &table,
        &[
            ("LAUNCHDARKLY_SDK_KEY", "sdk-lmi-key"),
            ("LAUNCHDARKLY_EVENTS_URI", sink.base_uri()),
            ("LAUNCHDARKLY_EVENTS_FLUSH_INTERVAL_SECONDS", "1"),
        ],
    );
    assert!(
        running
            .api
            .wait_until(&Happened::ExtensionNext(NAME.into()))
            .await
    );
    let http = reqwest::Client::new();
    assert_eq!(
        evaluate(&http, running.port, "timer-user").await["value"],
        "hello"
    );
    // No invocation ends, no telemetry arrives: the timer alone delivers.
    let until = Instant::now() + Duration::from_secs(10);
    while !sink.mentions("timer-user") {
        assert!(
            Instant::now() < until,
            "no delivery within 10 s of the evaluation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Evaluated just before SHUTDOWN, within the flush interval: delivered by then.
    assert_eq!(
        evaluate(&http, running.port, "last-user").await["value"],
        "hello"
    );
    running.api.shutdown_extensions();
    let status = wait_exit(&mut running.extension);
    assert!(status.success(), "{status}");
    assert!(
        sink.mentions("last-user"),
        "the last events went out at SHUTDOWN"
    );
}
