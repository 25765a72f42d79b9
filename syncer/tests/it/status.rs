//! `syncer status` as an operator runs it: the table's state after no sync, a sync, a failed
//! sync and while a sync holds the lease, from the table alone (no SDK key needed).

use crate::common;

use std::process::Output;
use std::time::Duration;

use common::*;
use launchdarkly_dynamo_store::DynamoDbStoreBuilder;
use launchdarkly_dynamo_sync::{Coverage, SyncCoordinator, Turn};
use serde_json::Value;

fn run(env: &Env, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut command = env.cli(env!("CARGO_BIN_EXE_syncer"));
    command.args(args).envs(extra.iter().copied());
    command.output().unwrap()
}

/// `syncer status --json` without any SDK key.
fn status(env: &Env, extra: &[(&str, &str)]) -> Value {
    let mut command = env.cli(env!("CARGO_BIN_EXE_syncer"));
    command
        .args(["status", "--json"])
        .env_remove("LAUNCHDARKLY_SDK_KEY")
        .envs(extra.iter().copied());
    let output = command.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"))
}

const SIGNED: [(&str, &str); 1] = [("LAUNCHDARKLY_WEBHOOK_SECRET", "status-secret")];

#[tokio::test]
async fn status_tells_the_story_of_a_tables_syncs() {
    let env = Env::new("status-story", data(&[("a", 1), ("b", 1)], &[("s", 1)])).await;

    let never = status(&env, &[]);
    assert_eq!(never["initialized"], false, "{never}");
    assert_eq!(never["generation"], Value::Null);
    assert_eq!(never["lastSync"], Value::Null);
    assert_eq!(never["webhookSigning"]["state"], "notConfigured", "{never}");
    // A configured secret parameter that does not exist refuses every webhook.
    let missing = status(
        &env,
        &[(
            "LAUNCHDARKLY_WEBHOOK_SECRET_PARAM",
            "/status-test/no-such-secret",
        )],
    );
    assert_eq!(missing["webhookSigning"]["state"], "refusing", "{missing}");

    assert!(run(&env, &["sync"], &[]).status.success());
    let synced = status(&env, &SIGNED);
    assert_eq!(synced["initialized"], true, "{synced}");
    assert_eq!(synced["generation"], 1);
    assert!(
        synced["lastSuccessAgeSeconds"].as_u64().unwrap() < 60,
        "{synced}"
    );
    assert_eq!(synced["lastSync"]["note"]["written"], 3, "{synced}");
    assert_eq!(synced["lastSync"]["note"]["trigger"], "cli");
    assert_eq!(synced["lastFailure"], Value::Null);
    assert_eq!(synced["runningSyncLeaseExpiresAt"], Value::Null);
    assert_eq!(synced["webhookSigning"]["state"], "checked");

    let failed = run(&env, &["sync"], &[("LAUNCHDARKLY_SDK_KEY", "wrong-key")]);
    assert_eq!(failed.status.code(), Some(1));
    let after = status(&env, &SIGNED);
    assert_eq!(
        after["lastFailure"]["note"]["kind"], "SDK_KEY_REFUSED",
        "{after}"
    );
    assert_eq!(after["generation"], 1, "the failure changed no data");
    assert_eq!(
        after["lastSync"]["note"]["written"], 3,
        "the last success is kept"
    );

    let text = run(&env, &["status"], &SIGNED);
    let screen = String::from_utf8_lossy(&text.stdout);
    for line in [
        "data             generation 1",
        "running sync     none",
        "webhook signing  checked",
    ] {
        assert!(screen.contains(line), "{line:?} in:\n{screen}");
    }
    assert!(
        screen.contains("last failure") && screen.contains("SDK_KEY_REFUSED"),
        "{screen}"
    );
}

#[tokio::test]
async fn status_shows_a_running_sync_and_unsigned_webhooks() {
    let env = Env::new("status-running", data(&[("a", 1)], &[])).await;
    let store = DynamoDbStoreBuilder::new(&env.table)
        .client(env.dynamo.clone())
        .build()
        .await
        .unwrap();
    let coordinator = SyncCoordinator::new(&store, Duration::from_secs(30)).unwrap();
    let ticket = coordinator.ticket(Coverage::Any).await.unwrap();
    let Turn::Held(lease) = coordinator.wait_turn(&ticket, deadline()).await.unwrap() else {
        panic!("nothing else holds the lease");
    };
    let running = status(&env, &[("LAUNCHDARKLY_ALLOW_UNSIGNED_WEBHOOKS", "true")]);
    assert!(
        running["runningSyncLeaseExpiresAt"].is_string(),
        "{running}"
    );
    assert_eq!(running["webhookSigning"]["state"], "unsigned");
    lease.release(None).await;
    assert_eq!(status(&env, &[])["runningSyncLeaseExpiresAt"], Value::Null);
}
