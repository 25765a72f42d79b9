//! The SDK calls the synchronous store from tokio tasks and from applications' own runtimes and
//! threads: every context must work, without panics or deadlocks.

use crate::fixtures;

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use fixtures::*;
use launchdarkly_dynamo_store::Kind;
use launchdarkly_server_sdk::AllData;

/// init, upsert, get, all and is_initialized through the SDK trait, then drop the store.
fn exercise(fixture: &Fixture, label: &str) {
    let mut store = fixture.sdk_store(Some(label));
    store
        .init(AllData {
            flags: HashMap::from([("a".to_string(), item(Kind::Flags, "a", 1))]),
            segments: HashMap::new(),
        })
        .unwrap();
    assert!(store
        .upsert(data_kind(Kind::Flags), "a", item(Kind::Flags, "a", 2))
        .unwrap());
    assert_eq!(
        state(get(store.as_ref(), Kind::Flags, "a")),
        Some((2, false))
    );
    assert_eq!(store.all_flags().unwrap().len(), 1);
    assert!(store.is_initialized());
    drop(store);
}

/// Runs `f` on another thread and fails the test instead of hanging if it deadlocks.
fn within_deadline(f: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the store answered within 60 s (no deadlock, no panic)");
}

#[test]
fn works_from_a_plain_thread() {
    within_deadline(|| exercise(&Fixture::new("rt-thread"), "thread"));
}

#[test]
fn works_inside_a_current_thread_runtime() {
    within_deadline(|| {
        let fixture = Fixture::new("rt-current");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            exercise(&fixture, "current");
            // And from a task of that runtime, the way the SDK's data source calls it.
            let fixture = Fixture {
                client: fixture.client.clone(),
                table: fixture.table.clone(),
            };
            tokio::spawn(async move { exercise(&fixture, "current-task") })
                .await
                .unwrap();
        });
    });
}

#[test]
fn works_inside_a_multi_thread_runtime() {
    within_deadline(|| {
        let fixture = Fixture::new("rt-multi");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            exercise(&fixture, "multi");
            let tasks: Vec<_> = (0..4)
                .map(|i| {
                    let fixture = Fixture {
                        client: fixture.client.clone(),
                        table: fixture.table.clone(),
                    };
                    tokio::spawn(async move { exercise(&fixture, &format!("multi-task-{i}")) })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
    });
}
