//! The reader's real binary as Lambda runs it, through the Runtime and Extensions API stand-in:
//! requests answered in one process, analytics events delivered after the responses (never on
//! the response path) and at SIGTERM, a missing table answered 503. (Freshness and outages:
//! `reading.rs`.)

use launchdarkly_dynamo_testkit::events::HttpCall;
use launchdarkly_dynamo_testkit::events_sink::EventsSink;
use launchdarkly_dynamo_testkit::lambda::{
    function_binary, sigterm, wait_exit, Happened, LambdaApi,
};
use serde_json::{json, Value};

fn binary() -> String {
    function_binary("example-reader", env!("CARGO_BIN_EXE_example-reader"))
}

async fn synced_table() -> String {
    let mut flag = launchdarkly_dynamo_fixtures::banner(1, "hello");
    flag["trackEvents"] = json!(true);
    launchdarkly_dynamo_fixtures::synced_table("reader-runtime", &[flag], &[]).await
}

fn body(response: &Value) -> Value {
    serde_json::from_str(
        response["body"]
            .as_str()
            .unwrap_or_else(|| panic!("{response}")),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_503_through_the_runtime() {
    let api = LambdaApi::start();
    let endpoint = launchdarkly_dynamo_testkit::dynamodb::endpoint();
    let mut function = api.spawn(
        &binary(),
        &[
            ("LAUNCHDARKLY_DYNAMODB_TABLE", "no-such-table"),
            ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
        ],
    );
    let call = HttpCall::get("/flags/banner", &[("key", "alice")]).rest_v1("/flags/{key}");
    let response = api.invoke(call).await.response();
    assert_eq!(response["statusCode"], 503, "{response}");
    let body = body(&response);
    assert_eq!(body["kind"], "TABLE_MISSING", "{body}");
    // Callers learn what to check; the table, account and ARNs stay in the log.
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("does not exist") && !error.contains("no-such-table"),
        "{error}"
    );
    assert_eq!(
        api.extensions(),
        ["launchdarkly-reader"],
        "without events too: checks of the table end before a freeze"
    );
    function.kill().ok();
    function.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_answers_several_requests_then_stops_on_sigterm() {
    let table = synced_table().await;
    let api = LambdaApi::start();
    let endpoint = launchdarkly_dynamo_testkit::dynamodb::endpoint();
    let mut function = api.spawn(
        &binary(),
        &[
            ("LAUNCHDARKLY_DYNAMODB_TABLE", table.as_str()),
            ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
        ],
    );
    let call = HttpCall::get("/flags/banner", &[("key", "alice")]);
    for event in [
        call.http_v2("/flags/{key}"),
        call.rest_v1("/flags/{key}"),
        call.alb(),
    ] {
        let response = api.invoke(event).await.response();
        assert_eq!(response["statusCode"], 200, "{response}");
        assert_eq!(body(&response)["value"], "hello");
    }
    let unknown = HttpCall::get("/flags/gone", &[("key", "alice")]).http_v2("/flags/{key}");
    let response = api.invoke(unknown).await.response();
    assert_eq!(
        body(&response)["reason"]["errorKind"],
        "FLAG_NOT_FOUND",
        "{response}"
    );
    sigterm(&function);
    let status = wait_exit(&mut function);
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.signal() == Some(15) || status.code() == Some(0),
        "{status:?}"
    );
}

fn with_events<'a>(
    table: &'a str,
    sink: &'a EventsSink,
    endpoint: &'a str,
    interval: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("LAUNCHDARKLY_DYNAMODB_TABLE", table),
        ("LAUNCHDARKLY_SDK_KEY", "sdk-runtime-key"),
        ("LAUNCHDARKLY_EVENTS_URI", sink.base_uri()),
        ("LAUNCHDARKLY_EVENTS_FLUSH_INTERVAL_SECONDS", interval),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
    ]
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
async fn events_are_sent_after_responses_never_before() {
    let table = synced_table().await;
    let sink = EventsSink::start();
    // Deliveries are held: a response that waited for them would never come.
    sink.hold();
    let api = LambdaApi::start();
    let endpoint = launchdarkly_dynamo_testkit::dynamodb::endpoint();
    let mut function = api.spawn(&binary(), &with_events(&table, &sink, &endpoint, "1"));
    let first = HttpCall::get("/flags/banner", &[("key", "alice")]).http_v2("/flags/{key}");
    let response = api.invoke(first).await.response();
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(body(&response)["value"], "hello");
    assert_eq!(api.extensions(), ["launchdarkly-reader"]);

    // Once the interval has passed, the next invocation is answered while the delivery it
    // starts afterwards is still held by the sink.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = HttpCall::get("/flags/banner", &[("key", "bob")]).http_v2("/flags/{key}");
    let response = api.invoke(second).await.response();
    assert_eq!(body(&response)["value"], "hello");
    eventually("a delivery started after the responses", || {
        sink.arrived() > 0
    })
    .await;
    assert!(
        sink.received().is_empty(),
        "nothing was delivered before the responses"
    );
    sink.release();
    eventually("alice's evaluation was delivered", || {
        sink.mentions("alice")
    })
    .await;
    assert!(sink
        .received()
        .iter()
        .all(|(auth, _)| auth == "sdk-runtime-key"));
    // The extension let the environment freeze only after the flush: it asked for its next
    // event once per invocation (plus once at start).
    assert!(
        api.wait_until(&Happened::ExtensionNext("launchdarkly-reader".into()))
            .await
    );
    function.kill().ok();
    function.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_not_yet_sent_are_delivered_at_sigterm() {
    let table = synced_table().await;
    let sink = EventsSink::start();
    let api = LambdaApi::start();
    let endpoint = launchdarkly_dynamo_testkit::dynamodb::endpoint();
    let mut function = api.spawn(&binary(), &with_events(&table, &sink, &endpoint, "3600"));
    let call = HttpCall::get("/flags/banner", &[("key", "carol")]).http_v2("/flags/{key}");
    api.invoke(call).await.response();
    assert!(
        !sink.mentions("carol"),
        "within the interval, nothing is sent yet"
    );
    sigterm(&function);
    let status = wait_exit(&mut function);
    assert_eq!(
        status.code(),
        Some(0),
        "a clean exit after delivering the events"
    );
    assert!(
        sink.mentions("carol"),
        "carol's evaluation was delivered at SIGTERM"
    );
}

/// The EMF records on a function's stdout.
fn emf_records(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record.get("_aws").is_some())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_invocation_that_evaluates_emits_one_metric_record() {
    let table = synced_table().await;
    let api = LambdaApi::start();
    let endpoint = launchdarkly_dynamo_testkit::dynamodb::endpoint();
    let mut function = api.spawn_with_stdout(
        &binary(),
        &[
            ("LAUNCHDARKLY_DYNAMODB_TABLE", table.as_str()),
            ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
        ],
    );
    for _ in 0..2 {
        let call = HttpCall::get("/flags/banner", &[("key", "alice")]).http_v2("/flags/{key}");
        let response = api.invoke(call).await.response();
        assert_eq!(response["statusCode"], 200, "{response}");
    }
    let health = HttpCall::get("/health", &[]).http_v2("/health");
    api.invoke(health).await;
    sigterm(&function);
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut function.stdout.take().expect("piped"), &mut stdout)
        .unwrap();
    wait_exit(&mut function);

    let records = emf_records(&stdout);
    assert_eq!(
        records.len(),
        2,
        "one per evaluating invocation, none for /health: {stdout}"
    );
    for record in &records {
        let directive = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "LaunchDarklyDynamoStore");
        assert_eq!(
            directive["Dimensions"],
            json!([["Table"], ["Table", "Component"]])
        );
        assert_eq!(record["Table"], table.as_str());
        assert_eq!(record["Component"], "reader");
        assert_eq!(record["Evaluations"], 1.0, "{record}");
        assert_eq!(record["StaleAnswers"], 0.0);
        assert_eq!(record["UnavailableAnswers"], 0.0);
        assert!(
            record["DataAge"].as_f64().is_some_and(|age| age < 60.0),
            "{record}"
        );
    }
}

/// A rotated SDK key (its SSM parameter overwritten) reaches analytics events without a
/// redeploy or a cold start: the reader re-reads it every secrets TTL, as the syncer does, and
/// hands later events to a client with the new key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_sdk_key_takes_over_the_events_without_a_restart() {
    let table = synced_table().await;
    let sink = EventsSink::start();
    let ssm = launchdarkly_dynamo_testkit::ssm::client();
    let parameter = format!("/tests/{table}/sdkkey");
    launchdarkly_dynamo_testkit::ssm::put_secure(&ssm, &parameter, "sdk-before-rotation").await;
    let api = LambdaApi::start();
    let endpoint = launchdarkly_dynamo_testkit::dynamodb::endpoint();
    let env = [
        ("LAUNCHDARKLY_DYNAMODB_TABLE", table.as_str()),
        ("LAUNCHDARKLY_SDK_KEY_PARAM", parameter.as_str()),
        ("LAUNCHDARKLY_EVENTS_URI", sink.base_uri()),
        ("LAUNCHDARKLY_EVENTS_FLUSH_INTERVAL_SECONDS", "1"),
        ("LAUNCHDARKLY_SECRETS_TTL_SECONDS", "1"),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
    ];
    let mut function = api.spawn(&binary(), &env);
    let call = |key: &str| HttpCall::get("/flags/banner", &[("key", key)]).http_v2("/flags/{key}");
    api.invoke(call("before-1")).await.response();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    api.invoke(call("before-2")).await.response();
    eventually("an event with the first key", || sink.mentions("before-1")).await;

    launchdarkly_dynamo_testkit::ssm::put_secure(&ssm, &parameter, "sdk-after-rotation").await;
    let rotated = |sink: &EventsSink| {
        sink.received()
            .iter()
            .any(|(auth, _)| auth == "sdk-after-rotation")
    };
    for attempt in 0..10 {
        if rotated(&sink) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        api.invoke(call(&format!("after-{attempt}")))
            .await
            .response();
    }
    eventually("events with the rotated key", || rotated(&sink)).await;
    for (auth, body) in sink.received() {
        assert!(
            auth == "sdk-before-rotation" || auth == "sdk-after-rotation",
            "{auth}"
        );
        if body.to_string().contains("before-1") {
            assert_eq!(
                auth, "sdk-before-rotation",
                "events keep the key they were made with"
            );
        }
    }
    function.kill().ok();
    function.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_managed_instances_concurrent_requests_get_their_own_answers() {
    let mut flag = launchdarkly_dynamo_fixtures::banner(1, "hello");
    flag["variations"] = json!(["hello", "vip"]);
    flag["targets"] = json!([{"variation": 1, "values": ["u-1", "u-3", "u-5"]}]);
    flag["trackEvents"] = json!(true);
    let table = launchdarkly_dynamo_fixtures::synced_table("reader-lmi", &[flag], &[]).await;
    let sink = EventsSink::start();
    let api = LambdaApi::start_managed(8);
    let endpoint = launchdarkly_dynamo_testkit::dynamodb::endpoint();
    let mut function = api.spawn(
        &binary(),
        &[
            ("LAUNCHDARKLY_DYNAMODB_TABLE", table.as_str()),
            ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
            ("LAUNCHDARKLY_SDK_KEY", "sdk-reader-lmi"),
            ("LAUNCHDARKLY_EVENTS_URI", sink.base_uri()),
            ("LAUNCHDARKLY_EVENTS_FLUSH_INTERVAL_SECONDS", "30"),
        ],
    );
    let users: Vec<String> = (0..16).map(|i| format!("u-{i}")).collect();
    let calls = users.iter().map(|user| {
        let query = [("key", user.as_str())];
        let event = HttpCall::get("/flags/banner", &query).http_v2("/flags/{key}");
        api.invoke(event)
    });
    let answers = futures::future::join_all(calls).await;
    for (user, answer) in users.iter().zip(answers) {
        let body = body(&answer.response());
        let expected = if ["u-1", "u-3", "u-5"].contains(&user.as_str()) {
            "vip"
        } else {
            "hello"
        };
        assert_eq!(body["value"], expected, "{user}: {body}");
    }
    let mut open = 0usize;
    let mut most = 0usize;
    for (_, happened) in api.timeline() {
        match happened {
            Happened::Delivered(_) => open += 1,
            Happened::Answered(_) => open -= 1,
            _ => {}
        }
        most = most.max(open);
    }
    assert!(most > 1, "the requests were served one at a time");
    // Registered for SHUTDOWN only (INVOKE would have been refused), and it delivers then.
    assert_eq!(api.extensions(), ["launchdarkly-reader"]);
    api.shutdown_extensions();
    eventually("the events went out at SHUTDOWN", || sink.mentions("u-7")).await;
    sigterm(&function);
    wait_exit(&mut function);
}
