//! The read engine itself, over DynamoDB Local behind the fault proxy: a synced change is
//! answered at the next check; through 500s, a stall and refused connections answers stay
//! values, marked stale, and a request never waits on the failing store; an unknown flag stays
//! `FLAG_NOT_FOUND`; a cold start while DynamoDB stalls is unavailable (never a missing flag)
//! until the store answers. (The binaries' tests run the same engine as Lambda runs them.)

use std::sync::Arc;
use std::time::Duration;

use launchdarkly_dynamo_common::settings::TableArgs;
use launchdarkly_dynamo_fixtures::{banner, fenced_sync, fenced_table};
use launchdarkly_dynamo_reader::{Reader, ReaderSettings};
use launchdarkly_dynamo_store::mirror::{FailureKind, MirrorState};
use launchdarkly_dynamo_testkit::dynamodb::{client_with, endpoint};
use launchdarkly_dynamo_testkit::proxy::{DynamoProxy, Faults, Outage};
use launchdarkly_server_sdk::{Context, ContextBuilder, EvalError};
use serde_json::json;
use tokio::time::Instant;

/// Long enough that a request which waited on a failing store would show it: a stalled
/// check lasts its whole deadline.
const REQUEST_WAIT: Duration = Duration::from_secs(2);
const CHECK_TIMEOUT_MS: u64 = 1500;

async fn reader_at(table: &str, dynamo_endpoint: &str) -> Arc<Reader> {
    reader_checking_every(table, dynamo_endpoint, 50).await
}

async fn reader_checking_every(
    table: &str,
    dynamo_endpoint: &str,
    freshness_ms: u64,
) -> Arc<Reader> {
    let settings = ReaderSettings {
        target: TableArgs {
            table: Some(table.to_string()),
            prefix: None,
        },
        freshness_ms,
        check_timeout_ms: CHECK_TIMEOUT_MS,
        load_timeout_ms: CHECK_TIMEOUT_MS,
        ..ReaderSettings::default()
    };
    let mut config = settings.validate().unwrap();
    config.request_wait = REQUEST_WAIT;
    let reader = Reader::new(&config, client_with(dynamo_endpoint, None), None)
        .await
        .unwrap();
    Arc::new(reader)
}

fn alice() -> Context {
    ContextBuilder::new("alice").build().unwrap()
}

/// Checks (as a request does) until `done` holds, for at most `limit`.
async fn until(reader: &Reader, what: &str, limit: Duration, done: impl Fn(&Reader) -> bool) {
    let started = Instant::now();
    while !done(reader) {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        reader.check_before_answer().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn banner_value(reader: &Reader) -> Option<serde_json::Value> {
    reader.evaluate("banner", &alice()).ok()?.value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synced_change_is_answered_at_the_next_check() {
    let table = fenced_table("engine-fresh", &[banner(1, "hello")]).await;
    let reader = reader_at(&table, &endpoint()).await;
    let limit = Duration::from_secs(10);
    until(&reader, "the first load", limit, |r| {
        banner_value(r) == Some(json!("hello"))
    })
    .await;
    assert_eq!(reader.health().generation, Some(1));
    fenced_sync(&table, &[banner(2, "world")]).await;
    until(&reader, "the synced change", limit, |r| {
        banner_value(r) == Some(json!("world"))
    })
    .await;
    let health = reader.health();
    assert_eq!(
        (health.state, health.generation),
        (MirrorState::Current, Some(2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_steady_traffic_a_request_never_waits_on_a_check_that_starts_failing() {
    let table = fenced_table("engine-steady", &[banner(1, "hello")]).await;
    let proxy = DynamoProxy::start(&endpoint());
    let reader = reader_checking_every(&table, proxy.endpoint(), 1000).await;
    until(&reader, "the first load", Duration::from_secs(10), |r| {
        banner_value(r).is_some()
    })
    .await;
    // DynamoDB stalls from now on; a second later a check is due, and the copy was confirmed
    // within two intervals: the request is answered at once, beside the stalled check.
    proxy.set_outage(Outage::Stall);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = Instant::now();
    reader.check_before_answer_for("banner").await;
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "a request waited {:?} on a check",
        started.elapsed()
    );
    assert_eq!(banner_value(&reader), Some(json!("hello")));
    // After an idle spell (no confirmation for two intervals), a request waits for its
    // check again, at most the request wait: the check stalls, so the whole wait.
    proxy.set_outage(Outage::None);
    until(
        &reader,
        "the stalled check to end",
        Duration::from_secs(10),
        |r| r.health().state == MirrorState::Current,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2300)).await;
    proxy.set_outage(Outage::Stall);
    let started = Instant::now();
    reader.check_before_answer_for("banner").await;
    let waited = started.elapsed();
    assert!(
        waited
            >= REQUEST_WAIT.min(Duration::from_millis(CHECK_TIMEOUT_MS))
                - Duration::from_millis(50),
        "an idle reader answered after {waited:?}, without waiting for its check"
    );
    proxy.set_outage(Outage::None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_an_outage_answers_are_stale_values_at_once_and_recover() {
    let table = fenced_table("engine-outage", &[banner(1, "hello")]).await;
    let proxy = DynamoProxy::start(&endpoint());
    let reader = reader_at(&table, proxy.endpoint()).await;
    let limit = Duration::from_secs(10);
    until(&reader, "the first load", limit, |r| {
        banner_value(r).is_some()
    })
    .await;
    for outage in [Outage::InternalServerError, Outage::Stall, Outage::Refuse] {
        proxy.set_outage(outage);
        until(&reader, "a failed check", limit, |r| {
            r.health().state == MirrorState::Stale
        })
        .await;
        // A request does not wait for a check while the last one failed.
        let started = Instant::now();
        reader.check_before_answer().await;
        assert!(
            started.elapsed() < Duration::from_millis(CHECK_TIMEOUT_MS / 3),
            "{outage:?}: a request waited {:?} on a failing store",
            started.elapsed()
        );
        let answer = reader.evaluate("banner", &alice()).unwrap();
        assert_eq!(answer.value, Some(json!("hello")), "{outage:?}");
        assert!(answer.freshness.stale, "{outage:?}: marked stale");
        assert!(answer.freshness.age.is_some(), "{outage:?}: with its age");
        let unknown = reader.evaluate("no-such-flag", &alice()).unwrap();
        assert_eq!(unknown.error(), Some(EvalError::FlagNotFound), "{outage:?}");
        let kind = reader.health().last_error.map(|e| e.kind);
        // Under 500s the AWS client's retries may outlast the check's deadline.
        let expected: &[FailureKind] = match outage {
            Outage::InternalServerError => &[FailureKind::Unavailable, FailureKind::Unreachable],
            _ => &[FailureKind::Unreachable],
        };
        assert!(
            kind.is_some_and(|kind| expected.contains(&kind)),
            "{outage:?}: {kind:?}"
        );

        proxy.set_outage(Outage::None);
        until(&reader, "recovery", limit, |r| {
            r.health().state == MirrorState::Current
        })
        .await;
        let fresh = reader.evaluate("banner", &alice()).unwrap();
        assert!(!fresh.freshness.stale, "{outage:?}: current again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_while_dynamodb_stalls_is_unavailable_never_a_missing_flag() {
    let table = fenced_table("engine-cold", &[banner(1, "hello")]).await;
    let proxy = DynamoProxy::start(&endpoint());
    proxy.set_outage(Outage::Stall);
    let reader = reader_at(&table, proxy.endpoint()).await;
    reader.check_within(Duration::from_secs(2)).await;
    let unavailable = reader.evaluate("banner", &alice()).unwrap_err();
    assert!(
        matches!(
            unavailable.kind(),
            FailureKind::Loading | FailureKind::Unreachable
        ),
        "{unavailable:?}"
    );
    assert!(reader.evaluate_all(&alice()).is_err(), "no partial answer");
    assert_eq!(reader.health().state, MirrorState::Loading);
    proxy.set_outage(Outage::None);
    until(
        &reader,
        "the first load once DynamoDB answers",
        Duration::from_secs(10),
        |r| banner_value(r) == Some(json!("hello")),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_answers_one_flag_from_point_reads_before_the_data_set_loads() {
    let table = fenced_table("engine-ahead", &[banner(1, "hello")]).await;
    let proxy = DynamoProxy::start(&endpoint());
    // The first load stalls (its archive and every query); point reads still answer.
    proxy.set_faults(Faults {
        stall_bodies_with: vec!["$archive".into(), "KeyConditionExpression".into()],
        ..Faults::default()
    });
    let reader = reader_at(&table, proxy.endpoint()).await;
    let started = Instant::now();
    reader.check_before_answer_for("banner").await;
    let evaluation = reader.evaluate("banner", &alice()).unwrap();
    assert_eq!(evaluation.value, Some(json!("hello")));
    assert!(
        started.elapsed() < REQUEST_WAIT,
        "it waited for the stalled load: {:?}",
        started.elapsed()
    );
    assert_eq!(reader.health().state, MirrorState::Loading);
    assert!(reader.evaluate_all(&alice()).is_err(), "no partial answer");
    proxy.set_faults(Faults::default());
    until(
        &reader,
        "the whole data set",
        Duration::from_secs(10),
        |r| r.evaluate_all(&alice()).is_ok(),
    )
    .await;
    assert_eq!(banner_value(&reader), Some(json!("hello")));
}
