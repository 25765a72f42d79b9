//! The read engine through the reader's real binary as Lambda runs it, beside DynamoDB Local
//! behind the fault proxy: a synced change is answered at the next requests; through 500s, a
//! stall and refused connections answers stay values, marked stale, answered at once; a cold
//! start while DynamoDB stalls answers the store's error at once, never a missing flag; the
//! health route says which; and a check of the table a request started ends before Lambda
//! may freeze the environment.

use std::time::Duration;

use launchdarkly_dynamo_fixtures::banner;
use launchdarkly_dynamo_testkit::events::HttpCall;
use launchdarkly_dynamo_testkit::lambda::{function_binary, Happened, LambdaApi};
use launchdarkly_dynamo_testkit::proxy::{DynamoProxy, Outage};
use serde_json::{json, Value};
use tokio::time::Instant;

const EXTENSION: &str = "launchdarkly-reader";

struct Running {
    api: LambdaApi,
    function: std::process::Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.function.kill().ok();
        self.function.wait().ok();
    }
}

async fn start(table: &str, endpoint: &str) -> Running {
    let api = LambdaApi::start();
    let binary = function_binary("example-reader", env!("CARGO_BIN_EXE_example-reader"));
    let function = api.spawn(
        &binary,
        &[
            ("LAUNCHDARKLY_DYNAMODB_TABLE", table),
            ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
        ],
    );
    assert!(
        api.wait_until(&Happened::ExtensionNext(EXTENSION.into()))
            .await,
        "the reader's internal extension registered and asked for its first event"
    );
    Running { api, function }
}

/// One HTTP API invocation of `path`: its status and JSON body.
async fn get(running: &Running, path: &str, route: &str) -> (u64, Value) {
    let call = HttpCall::get(path, &[("key", "alice")]).http_v2(route);
    let response = running.api.invoke(call).await.response();
    let body = response["body"]
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    (response["statusCode"].as_u64().unwrap_or(0), body)
}

async fn flag(running: &Running, key: &str) -> (u64, Value) {
    get(running, &format!("/flags/{key}"), "/flags/{key}").await
}

async fn health(running: &Running) -> (u64, Value) {
    get(running, "/health", "/health").await
}

async fn until(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synced_change_is_answered_by_a_warm_reader_at_its_next_requests() {
    let table =
        launchdarkly_dynamo_fixtures::fenced_table("reader-fresh", &[banner(1, "hello")]).await;
    let running = start(&table, &launchdarkly_dynamo_testkit::dynamodb::endpoint()).await;
    assert_eq!(flag(&running, "banner").await.1["value"], "hello");
    launchdarkly_dynamo_fixtures::fenced_sync(&table, &[banner(2, "bye")]).await;
    // Default freshness (1 s), not the 30 s of a cache TTL (how fast exactly: `make bench`).
    until("the change", Duration::from_secs(5), async || {
        flag(&running, "banner").await.1["value"] == "bye"
    })
    .await;
    let (status, current) = health(&running).await;
    assert_eq!(
        (status, current["state"].as_str(), &current["generation"]),
        (200, Some("CURRENT"), &json!(2)),
        "{current}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_500s_a_stall_and_refused_connections_answers_stay_values_marked_stale() {
    let table =
        launchdarkly_dynamo_fixtures::fenced_table("reader-outage", &[banner(1, "hello")]).await;
    let proxy = DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint());
    let running = start(&table, proxy.endpoint()).await;
    assert_eq!(flag(&running, "banner").await.1["value"], "hello");
    // The first answer may come from point reads while the copy loads (on a busy machine it
    // can take seconds): the outages are of a loaded copy, which then goes STALE, not LOADING.
    until("the copy", Duration::from_secs(20), async || {
        health(&running).await.1["state"] == "CURRENT"
    })
    .await;
    for outage in [Outage::InternalServerError, Outage::Stall, Outage::Refuse] {
        proxy.set_outage(outage);
        until("going stale", Duration::from_secs(10), async || {
            health(&running).await.1["state"] == "STALE"
        })
        .await;
        let started = Instant::now();
        let (status, body) = flag(&running, "banner").await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{outage:?}: answered from memory after {:?}",
            started.elapsed()
        );
        assert_eq!(
            (status, &body["value"], &body["stale"]),
            (200, &json!("hello"), &json!(true)),
            "{outage:?}: {body}"
        );
        assert!(body["dataAgeSeconds"].is_u64(), "{body}");
        // OFREP through the reader says so too.
        let request = json!({"context": {"targetingKey": "alice"}}).to_string();
        let headers = [("content-type", "application/json")];
        let call = HttpCall::post("/ofrep/v1/evaluate/flags/banner", &headers, &request)
            .http_v2("/ofrep/v1/evaluate/flags/{key}");
        let response = running.api.invoke(call).await.response();
        let ofrep: Value =
            serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap_or_default();
        assert_eq!(
            (&ofrep["value"], &ofrep["metadata"]["stale"]),
            (&json!("hello"), &json!(true)),
            "{outage:?}: {response}"
        );
        // A flag the loaded data does not hold is not found without a DynamoDB read.
        let (status, missing) = flag(&running, "no-such-flag").await;
        assert_eq!(
            (status, &missing["reason"]["errorKind"]),
            (200, &json!("FLAG_NOT_FOUND")),
            "{missing}"
        );
        let (status, stale) = health(&running).await;
        assert_eq!(status, 200, "stale data still serves: {stale}");
        assert!(stale["lastError"]["kind"].is_string(), "{stale}");
        assert!(stale["dataAgeSeconds"].is_u64(), "{stale}");

        proxy.set_outage(Outage::None);
        until("recovery", Duration::from_secs(10), async || {
            health(&running).await.1["state"] == "CURRENT"
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_while_dynamodb_stalls_answers_the_store_error_never_a_missing_flag() {
    let table =
        launchdarkly_dynamo_fixtures::fenced_table("reader-cold-stall", &[banner(1, "hello")])
            .await;
    let proxy = DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint());
    proxy.set_outage(Outage::Stall);
    let started = Instant::now();
    let running = start(&table, proxy.endpoint()).await;
    // Lambda's init limit is 10 s; the reader waits about 1 s for a first load.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "ready after {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let (status, body) = flag(&running, "banner").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status, 503, "never a null value: {body}");
    assert!(body["kind"].is_string(), "{body}");
    let (status, loading) = health(&running).await;
    assert_eq!(
        (
            status,
            loading["state"].as_str(),
            loading["serving"].as_bool()
        ),
        (503, Some("LOADING"), Some(false)),
        "{loading}"
    );
    proxy.set_outage(Outage::None);
    until("the first load", Duration::from_secs(10), async || {
        flag(&running, "banner").await.1["value"] == "hello"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_a_request_started_ends_before_the_environment_may_freeze() {
    let table =
        launchdarkly_dynamo_fixtures::fenced_table("reader-settle", &[banner(1, "hello")]).await;
    let proxy = DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint());
    let running = start(&table, proxy.endpoint()).await;
    assert_eq!(flag(&running, "banner").await.1["value"], "hello");
    // The next request's check stalls: the request is answered from memory after its short
    // wait, and the extension asks for its next event (letting Lambda freeze the environment)
    // only once the check has ended, at its deadline (800 ms).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    proxy.set_outage(Outage::Stall);
    let (status, body) = flag(&running, "banner").await;
    assert_eq!((status, &body["value"]), (200, &json!("hello")), "{body}");
    let next = Happened::ExtensionNext(EXTENSION.into());
    assert!(running.api.wait_for_count(&next, 3).await);
    let timeline = running.api.timeline();
    let answered = timeline
        .iter()
        .filter(|(_, happened)| matches!(happened, Happened::Answered(_)))
        .map(|(at, _)| *at)
        .nth(1)
        .expect("the second invocation was answered");
    let released = timeline
        .iter()
        .filter(|(_, happened)| *happened == next)
        .map(|(at, _)| *at)
        .nth(2)
        .expect("the extension finished the second invocation");
    assert!(
        released >= answered + Duration::from_millis(400),
        "the extension waited for the check: answered at {answered:?}, released at {released:?}"
    );
    // Once the data is stale, a failing check holds no invocation back.
    until("going stale", Duration::from_secs(10), async || {
        health(&running).await.1["state"] == "STALE"
    })
    .await;
    proxy.set_outage(Outage::None);
}
