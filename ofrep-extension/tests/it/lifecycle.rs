//! The extension's real binary as Lambda runs it beside a function, through the Extensions API
//! stand-in (register, `INVOKE`, `SHUTDOWN`, Telemetry API): OFREP answers before the first
//! invocation, analytics events go out after the function answered and at `SHUTDOWN`, none
//! without an SDK key, and a configuration error fails the init with its message.

use launchdarkly_dynamo_testkit::events_sink::EventsSink;
use launchdarkly_dynamo_testkit::lambda::{
    free_port, layer_extension, wait_exit, Happened, LambdaApi,
};
use serde_json::{json, Value};

const NAME: &str = "launchdarkly-ofrep";

fn binary() -> String {
    layer_extension(NAME, env!("CARGO_BIN_EXE_launchdarkly-ofrep"))
}

async fn synced_table() -> String {
    let flag = json!({"key": "banner", "version": 1, "on": true, "targets": [], "prerequisites": [], "rules": [],
        "fallthrough": {"variation": 0}, "offVariation": 0, "variations": ["hello"], "salt": "s", "trackEvents": true});
    launchdarkly_dynamo_fixtures::synced_table("ofrep-ext", &[flag], &[]).await
}

struct Running {
    api: LambdaApi,
    extension: std::process::Child,
    port: u16,
}

fn start(env: &[(&str, &str)]) -> Running {
    let api = LambdaApi::start();
    let port = free_port();
    let telemetry_port = free_port();
    let endpoint = launchdarkly_dynamo_testkit::dynamodb::endpoint();
    let (port_text, telemetry_text) = (port.to_string(), telemetry_port.to_string());
    let mut all = vec![
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
        ("LAUNCHDARKLY_OFREP_PORT", port_text.as_str()),
        ("LAUNCHDARKLY_OFREP_TELEMETRY_PORT", telemetry_text.as_str()),
    ];
    all.extend_from_slice(env);
    let extension = api.spawn(&binary(), &all);
    Running {
        api,
        extension,
        port,
    }
}

async fn evaluate(port: u16, flag: &str, user: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/ofrep/v1/evaluate/flags/{flag}"
        ))
        .header("content-type", "application/json")
        .body(json!({"context": {"targetingKey": user}}).to_string())
        .send()
        .await
        .expect("the extension answers");
    let body = response.text().await.unwrap_or_default();
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

async fn ready(running: &Running) {
    assert!(
        running
            .api
            .wait_until(&Happened::ExtensionNext(NAME.into()))
            .await,
        "the extension registered and asked for its first event"
    );
    assert_eq!(running.api.extensions(), [NAME]);
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "{what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_before_the_first_invocation_and_events_delivered_after_the_response() {
    let table = synced_table().await;
    let sink = EventsSink::start();
    let mut running = start(&[
        ("LAUNCHDARKLY_DYNAMODB_TABLE", table.as_str()),
        ("LAUNCHDARKLY_SDK_KEY", "sdk-extension-key"),
        ("LAUNCHDARKLY_EVENTS_URI", sink.base_uri()),
        ("LAUNCHDARKLY_EVENTS_FLUSH_INTERVAL_SECONDS", "1"),
    ]);
    ready(&running).await;
    // Lambda starts the first invocation once every extension asked for its next event: the
    // endpoint must answer by then.
    let first = evaluate(running.port, "banner", "early-bird").await;
    assert_eq!(first["value"], "hello", "{first}");

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // Deliveries are held: the function's answer must not wait for them.
    sink.hold();
    let port = running.port;
    let answer = running
        .api
        .invoke_in_process(json!({}), |_| async move {
            evaluate(port, "banner", "alice").await
        })
        .await;
    assert_eq!(answer["value"], "hello");
    eventually("a delivery started once the function had answered", || {
        sink.arrived() > 0
    })
    .await;
    assert_eq!(
        running.api.count(&Happened::ExtensionNext(NAME.into())),
        1,
        "the environment may not freeze while events are being delivered"
    );
    sink.release();
    assert!(
        running
            .api
            .wait_for_count(&Happened::ExtensionNext(NAME.into()), 2)
            .await,
        "the extension finished the invocation"
    );
    assert!(
        sink.mentions("alice"),
        "alice's evaluation was delivered before the extension let the environment freeze"
    );
    assert!(sink
        .received()
        .iter()
        .all(|(auth, _)| auth == "sdk-extension-key"));
    running.extension.kill().ok();
    running.extension.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_left_are_delivered_at_shutdown_then_it_exits() {
    let table = synced_table().await;
    let sink = EventsSink::start();
    let mut running = start(&[
        ("LAUNCHDARKLY_DYNAMODB_TABLE", table.as_str()),
        ("LAUNCHDARKLY_SDK_KEY", "sdk-extension-key"),
        ("LAUNCHDARKLY_EVENTS_URI", sink.base_uri()),
        ("LAUNCHDARKLY_EVENTS_FLUSH_INTERVAL_SECONDS", "3600"),
    ]);
    ready(&running).await;
    let port = running.port;
    running
        .api
        .invoke_in_process(json!({}), |_| async move {
            evaluate(port, "banner", "carol").await
        })
        .await;
    assert!(
        running
            .api
            .wait_for_count(&Happened::ExtensionNext(NAME.into()), 2)
            .await
    );
    assert!(
        !sink.mentions("carol"),
        "within the interval, nothing is sent"
    );
    running.api.shutdown_extensions();
    let status = wait_exit(&mut running.extension);
    assert_eq!(status.code(), Some(0), "a clean exit after SHUTDOWN");
    assert!(
        sink.mentions("carol"),
        "carol's evaluation was delivered at SHUTDOWN"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_sdk_key_nothing_is_sent() {
    let table = synced_table().await;
    let sink = EventsSink::start();
    let mut running = start(&[
        ("LAUNCHDARKLY_DYNAMODB_TABLE", table.as_str()),
        ("LAUNCHDARKLY_EVENTS_URI", sink.base_uri()),
        ("LAUNCHDARKLY_EVENTS_FLUSH_INTERVAL_SECONDS", "1"),
    ]);
    ready(&running).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let port = running.port;
    let answer = running
        .api
        .invoke_in_process(json!({}), |_| async move {
            evaluate(port, "banner", "dave").await
        })
        .await;
    assert_eq!(answer["value"], "hello");
    running.api.shutdown_extensions();
    assert_eq!(wait_exit(&mut running.extension).code(), Some(0));
    assert_eq!(sink.arrived(), 0, "no SDK key, no analytics events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_error_fails_the_init_with_its_message() {
    let mut running = start(&[]);
    let status = wait_exit(&mut running.extension);
    assert_ne!(status.code(), Some(0));
    let errors = running.api.extension_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "Extension.InvalidConfiguration");
    let message = errors[0].1["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("LAUNCHDARKLY_DYNAMODB_TABLE"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_telemetry_port_never_holds_an_invocation() {
    let table = synced_table().await;
    let sink = EventsSink::start();
    let busy = std::net::TcpListener::bind("0.0.0.0:0").expect("a port to occupy");
    let busy_port = busy
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_default()
        .to_string();
    let mut running = start(&[
        ("LAUNCHDARKLY_DYNAMODB_TABLE", table.as_str()),
        ("LAUNCHDARKLY_SDK_KEY", "sdk-extension-key"),
        ("LAUNCHDARKLY_EVENTS_URI", sink.base_uri()),
        ("LAUNCHDARKLY_EVENTS_FLUSH_INTERVAL_SECONDS", "3600"),
        ("LAUNCHDARKLY_OFREP_TELEMETRY_PORT", busy_port.as_str()),
    ]);
    ready(&running).await;
    let port = running.port;
    running
        .api
        .invoke_in_process(json!({}), |_| async move {
            evaluate(port, "banner", "erin").await
        })
        .await;
    // Without telemetry, waiting for the function's answer would last until the invocation's
    // deadline (30 s here): the extension must not wait at all.
    assert!(
        running
            .api
            .wait_for_count(&Happened::ExtensionNext(NAME.into()), 2)
            .await,
        "the extension finished the invocation without telemetry"
    );
    running.api.shutdown_extensions();
    assert_eq!(wait_exit(&mut running.extension).code(), Some(0));
    assert!(sink.mentions("erin"), "events still go out at SHUTDOWN");
    drop(busy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_body_is_refused_with_a_clear_error() {
    let table = synced_table().await;
    let mut running = start(&[("LAUNCHDARKLY_DYNAMODB_TABLE", table.as_str())]);
    ready(&running).await;
    let padding = "x".repeat(2 * 1024 * 1024);
    let body = json!({"context": {"targetingKey": "u", "padding": padding}}).to_string();
    let response = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/ofrep/v1/evaluate/flags/banner",
            running.port
        ))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the extension answers");
    assert_eq!(response.status().as_u16(), 413);
    let answer: Value =
        serde_json::from_str(&response.text().await.unwrap_or_default()).unwrap_or(Value::Null);
    assert_eq!(answer["errorCode"], "GENERAL", "{answer}");
    assert!(
        answer["errorDetails"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 32768 bytes"),
        "{answer}"
    );
    running.extension.kill().ok();
    running.extension.wait().ok();
}
