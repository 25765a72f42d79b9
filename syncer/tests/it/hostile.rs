//! The syncer's real binary against hostile answers and settings: redirects to other hosts and
//! in loops, an empty data set over a full table, unsigned webhooks, answers slower than the
//! budget. In every case nothing is written that should not be, and one line says what to fix.

use crate::common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use launchdarkly_dynamo_testkit::events::HttpCall;
use launchdarkly_dynamo_testkit::lambda::{function_binary, sigterm, wait_exit, LambdaApi};
use launchdarkly_dynamo_testkit::launchdarkly::{Behavior, LaunchDarkly};
use launchdarkly_dynamo_testkit::proxy::{DynamoProxy, Outage};
use serde_json::{json, Value};

fn sync(env: &Env, extra: &[(&str, &str)]) -> Output {
    let mut command = env.cli(env!("CARGO_BIN_EXE_syncer"));
    command.arg("sync").envs(extra.iter().copied());
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The one ERROR line of a failed `syncer sync`.
fn error_line(output: &Output) -> String {
    let text = stderr(output);
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "one ERROR line: {text}");
    errors[0].to_string()
}

fn summary(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("a JSON summary ({e}): {output:?}"))
}

/// A table synced from `initial`, and its rows as an SDK reads them.
async fn synced(label: &str, initial: Value) -> (Env, TableState) {
    let env = Env::new(label, initial).await;
    let output = sync(&env, &[]);
    assert!(output.status.success(), "{output:?}");
    let state = env.data_state().await;
    (env, state)
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed_and_nothing_is_written() {
    let (env, before) = synced("hostile-redirect", data(&[("a", 1)], &[])).await;
    let elsewhere = LaunchDarkly::start(SDK_KEY, data(&[("a", 9), ("intruder", 1)], &[]));
    env.ld.queue([Behavior::Redirect(format!(
        "{}/sdk/latest-all",
        elsewhere.base_uri()
    ))]);
    let output = sync(&env, &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let line = error_line(&output);
    assert!(
        line.contains("LAUNCHDARKLY_BASE_URI") && line.contains("another origin"),
        "{line}"
    );
    assert!(
        !line.contains("latest-all"),
        "no path of the target: {line}"
    );
    assert_eq!(elsewhere.requests(), 0, "the other host was never asked");
    assert_eq!(
        env.ld.requests(),
        2,
        "one sync before, one fetch now, no retry"
    );
    assert_eq!(env.data_state().await, before);
}

#[tokio::test]
async fn a_redirect_loop_stops_after_a_few_hops_without_retries() {
    let (env, before) = synced("hostile-loop", data(&[("a", 1)], &[])).await;
    env.ld.set_data(data(&[("a", 2)], &[]));
    env.ld.queue(std::iter::repeat_n(
        Behavior::Redirect("/sdk/latest-all".into()),
        50,
    ));
    let output = sync(&env, &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let line = error_line(&output);
    assert!(
        line.contains("LAUNCHDARKLY_BASE_URI") && line.contains("redirected more than 3 times"),
        "{line}"
    );
    assert_eq!(
        env.ld.requests(),
        1 + 4,
        "the request and 3 redirects followed"
    );
    assert_eq!(env.data_state().await, before);
}

#[tokio::test]
async fn a_redirect_within_the_same_origin_is_followed_with_the_key() {
    let env = Env::new("hostile-same-origin", data(&[("a", 1)], &[])).await;
    env.ld
        .queue([Behavior::Redirect("/sdk/latest-all?moved=1".into())]);
    let output = sync(&env, &[]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(env.ld.requests(), 2);
    assert_eq!(env.flags().await.len(), 1);
}

fn many_flags(count: usize) -> Vec<(String, u64)> {
    (0..count).map(|i| (format!("flag-{i:02}"), 1)).collect()
}

fn data_of(flags: &[(String, u64)]) -> Value {
    let flags: Vec<(&str, u64)> = flags.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    data(&flags, &[("s", 1)])
}

#[tokio::test]
async fn an_empty_data_set_over_a_full_table_deletes_nothing_unless_allowed() {
    let flags = many_flags(25);
    let (env, before) = synced("hostile-empty", data_of(&flags)).await;
    env.ld.set_data(json!({"flags": {}, "segments": {}}));
    let output = sync(&env, &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let line = error_line(&output);
    assert!(
        line.contains("delete 25 of the 25 flags")
            && line.contains("nothing was written")
            && line.contains("--allow-mass-delete"),
        "{line}"
    );
    assert_eq!(summary(&output)["status"], "error");
    assert_eq!(env.data_state().await, before, "nothing deleted or marked");

    // More than the share (half, by default) is refused too; within it, the sync runs.
    env.ld.set_data(data_of(&flags[..12]));
    assert_eq!(sync(&env, &[]).status.code(), Some(1));
    assert_eq!(env.flags().await.len(), 25);
    let output = sync(&env, &[("LAUNCHDARKLY_MAX_DELETE_PERCENT", "60")]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(summary(&output)["deleted"], 13);

    // A deliberate clean-up.
    env.ld.set_data(json!({"flags": {}, "segments": {}}));
    let mut command = env.cli(env!("CARGO_BIN_EXE_syncer"));
    let output = command
        .args(["sync", "--allow-mass-delete"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        summary(&output)["deleted"],
        12 + 1,
        "the flags and the segment"
    );
    assert!(env.flags().await.is_empty());
}

fn function_env(env: &Env, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut settings = vec![
        ("LAUNCHDARKLY_DYNAMODB_TABLE", env.table.clone()),
        ("LAUNCHDARKLY_BASE_URI", env.ld.base_uri().to_string()),
        ("LAUNCHDARKLY_SDK_KEY", SDK_KEY.to_string()),
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            launchdarkly_dynamo_testkit::dynamodb::endpoint(),
        ),
    ];
    settings.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    settings
}

#[tokio::test]
async fn the_deployed_function_refuses_unsigned_webhooks_unless_allowed() {
    let env = Env::new("hostile-unsigned", data(&[("a", 1)], &[])).await;
    let binary = function_binary("syncer", env!("CARGO_BIN_EXE_syncer"));
    let webhook = || HttpCall::post("/webhook", &[], "{}").http_v2("/webhook");

    let api = LambdaApi::start();
    let settings = function_env(&env, &[]);
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut function = api.spawn(&binary, &settings);
    let response = api.invoke(webhook()).await.response();
    assert_eq!(response["statusCode"], 401, "{response}");
    assert_eq!(env.ld.requests(), 0, "no fetch");
    assert!(env.state().await.is_empty(), "no write");
    // A manual invoke may ask for a clean-up; the answer carries the operator's detail.
    let summary = api
        .invoke(json!({"allowMassDelete": true}))
        .await
        .response();
    assert_eq!(summary["status"], "ok", "{summary}");
    sigterm(&function);
    wait_exit(&mut function);

    let api = LambdaApi::start();
    let settings = function_env(&env, &[("LAUNCHDARKLY_ALLOW_UNSIGNED_WEBHOOKS", "true")]);
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut function = api.spawn(&binary, &settings);
    let response = api.invoke(webhook()).await.response();
    assert_eq!(response["statusCode"], 200, "{response}");
    sigterm(&function);
    wait_exit(&mut function);
}

/// The budget given in the tests below, and the margin the README states.
const BUDGET: Duration = Duration::from_secs(3);
const MARGIN: Duration = Duration::from_secs(1);

async fn assert_ends_within_budget(label: &str, behavior: Behavior) {
    let (env, before) = synced(label, data_of(&many_flags(10))).await;
    env.ld.set_data(data_of(&many_flags(30)));
    env.ld.queue(std::iter::repeat_n(behavior, 20));
    let started = Instant::now();
    let output = sync(
        &env,
        &[
            ("LAUNCHDARKLY_SYNC_TIMEOUT_SECONDS", "3"),
            ("LAUNCHDARKLY_HTTP_TIMEOUT_SECONDS", "20"),
        ],
    );
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        took <= BUDGET + MARGIN,
        "a {BUDGET:?} budget took {took:?}: {}",
        stderr(&output)
    );
    // Nothing lands after the sync gave up either.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(env.data_state().await, before);
}

#[tokio::test]
async fn a_slow_answer_ends_the_sync_at_its_budget() {
    assert_ends_within_budget("hostile-slow", Behavior::Slow(Duration::from_secs(10))).await;
}

#[tokio::test]
async fn a_trickling_answer_ends_the_sync_at_its_budget() {
    let trickle = Behavior::Trickle {
        bytes: 64,
        every: Duration::from_millis(100),
    };
    assert_ends_within_budget("hostile-trickle", trickle).await;
}

#[tokio::test]
async fn a_stalled_dynamodb_ends_the_sync_at_its_budget() {
    let (env, before) = synced("hostile-stall", data_of(&many_flags(10))).await;
    env.ld.set_data(data_of(&many_flags(30)));
    let proxy = DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint());
    for stall in [StallAt::Everything, StallAt::Writes] {
        match stall {
            StallAt::Everything => proxy.set_outage(Outage::Stall),
            StallAt::Writes => {
                proxy.set_outage(Outage::None);
                proxy.hold_writes();
            }
        }
        let started = Instant::now();
        let output = sync(
            &env,
            &[
                ("LAUNCHDARKLY_SYNC_TIMEOUT_SECONDS", "3"),
                ("AWS_ENDPOINT_URL_DYNAMODB", proxy.endpoint()),
            ],
        );
        let took = started.elapsed();
        assert_eq!(output.status.code(), Some(1), "{stall:?}: {output:?}");
        assert!(
            took <= BUDGET + MARGIN,
            "{stall:?}: a {BUDGET:?} budget took {took:?}: {}",
            stderr(&output)
        );
    }
    // The held writes reach DynamoDB after the sync gave up: its fence refuses them.
    proxy.release_writes();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(env.data_state().await, before);
}

#[derive(Debug, Clone, Copy)]
enum StallAt {
    Everything,
    Writes,
}
