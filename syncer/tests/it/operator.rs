//! Failures an operator can act on: each misconfiguration fails quickly with one line that
//! names what to fix, and the table keeps what it held.

use crate::common;

use common::*;
use launchdarkly_dynamo_common::settings::TableArgs;
use launchdarkly_dynamo_testkit::dynamodb::{client_for, create_table_with_keys};
use syncer::{Settings, SyncError, Trigger};

async fn sync_error(env: &Env, settings: Settings, dynamo: aws_sdk_dynamodb::Client) -> String {
    env.syncer_on(settings, dynamo)
        .await
        .sync(Trigger::Manual, deadline())
        .await
        .map(|summary| panic!("expected a failure, got {summary:?}"))
        .unwrap_or_else(|err: SyncError| err.to_string())
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

#[tokio::test]
async fn an_unreachable_launchdarkly_fails_after_two_tries_naming_the_setting() {
    let env = Env::new("operator-refused", data(&[("a", 1)], &[])).await;
    for base_uri in [
        format!("http://127.0.0.1:{}", closed_port()),
        "http://launchdarkly-standin.invalid".to_string(),
    ] {
        let settings = Settings {
            base_uri: base_uri.clone(),
            ..env.settings()
        };
        let err = sync_error(&env, settings, env.dynamo.clone()).await;
        assert!(
            err.contains("could not connect to LaunchDarkly")
                && err.contains("after 2 attempts")
                && err.contains("LAUNCHDARKLY_BASE_URI"),
            "{base_uri}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert!(env.data_state().await.is_empty(), "nothing was written");
}

#[tokio::test]
async fn a_table_with_another_key_schema_says_which_keys_it_needs() {
    let env = Env::new("operator-schema", data(&[("a", 1)], &[])).await;
    let wrong = create_table_with_keys(&env.dynamo, "operator-wrong-keys", "pk", "sk").await;
    let settings = Settings {
        target: TableArgs {
            table: Some(wrong.clone()),
            prefix: None,
        },
        ..env.settings()
    };
    let err = sync_error(&env, settings, env.dynamo.clone()).await;
    assert!(
        err.contains(&wrong)
            && err.contains("key schema")
            && err.contains("\"namespace\" (S)")
            && err.contains("\"key\" (S)"),
        "{err}"
    );
}

#[tokio::test]
async fn an_endpoint_that_is_not_dynamodb_is_named() {
    let env = Env::new("operator-endpoint", data(&[("a", 1)], &[])).await;
    // The LaunchDarkly stand-in answers HTTP, but not DynamoDB's protocol.
    let err = sync_error(&env, env.settings(), client_for(env.ld.base_uri())).await;
    assert!(
        err.contains("did not answer like DynamoDB") && err.contains("AWS_ENDPOINT_URL"),
        "{err}"
    );
}
