//! An unreachable endpoint or a missing table gives an error from every operation: never a
//! panic, never a hang past the timeouts, and a message that says what to check.

use crate::fixtures;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fixtures::*;
use launchdarkly_dynamo_store::{DynamoDbStoreBuilder, Kind, Snapshot, StoreError};
use launchdarkly_server_sdk::{AllData, PersistentDataStore, PersistentDataStoreFactory};

fn every_operation_fails(mut store: Box<dyn PersistentDataStore>, expected: &str) {
    let started = Instant::now();
    let data = AllData {
        flags: HashMap::from([("a".to_string(), item(Kind::Flags, "a", 1))]),
        segments: HashMap::new(),
    };
    let errors = [
        store.init(data).err().map(|e| e.to_string()),
        store.flag("a").err().map(|e| e.to_string()),
        store.segment("a").err().map(|e| e.to_string()),
        store.all_flags().err().map(|e| e.to_string()),
        store
            .upsert(data_kind(Kind::Flags), "a", item(Kind::Flags, "a", 2))
            .err()
            .map(|e| e.to_string()),
    ];
    for (i, error) in errors.iter().enumerate() {
        let error = error
            .as_deref()
            .unwrap_or_else(|| panic!("operation {i} did not fail"));
        assert!(error.contains(expected), "operation {i}: {error}");
    }
    assert!(!store.is_initialized());
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn missing_table_fails_every_operation_with_the_aws_code() {
    let client = launchdarkly_dynamo_testkit::dynamodb::client();
    let store = DynamoDbStoreBuilder::new("no-such-table")
        .client(client)
        .create_persistent_data_store()
        .unwrap();
    every_operation_fails(store, "ResourceNotFoundException");
}

#[test]
fn unreachable_endpoint_fails_every_operation() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client =
        launchdarkly_dynamo_testkit::dynamodb::client_for(&format!("http://127.0.0.1:{port}"));
    let store = DynamoDbStoreBuilder::new("t")
        .client(client)
        .create_persistent_data_store()
        .unwrap();
    every_operation_fails(store, "DynamoDB endpoint reachable");
}

#[test]
fn empty_table_name_is_a_clear_error() {
    let err = DynamoDbStoreBuilder::new("")
        .create_persistent_data_store()
        .err()
        .expect("an error");
    assert!(err.to_string().contains("table name is empty"), "{err}");
    let err =
        launchdarkly_dynamo_testkit::block_on(DynamoDbStoreBuilder::new(" ").build()).unwrap_err();
    assert!(matches!(err, StoreError::EmptyTableName));
}

#[test]
fn the_standard_aws_chain_is_used_by_default() {
    // make test exports AWS_ENDPOINT_URL_DYNAMODB and dummy credentials: no client given here.
    let fixture = Fixture::new("default-chain");
    let store =
        launchdarkly_dynamo_testkit::block_on(DynamoDbStoreBuilder::new(&fixture.table).build())
            .unwrap();
    let mut snapshot = Snapshot::default();
    snapshot.insert(Kind::Flags, "a", item(Kind::Flags, "a", 1));
    let report = launchdarkly_dynamo_testkit::block_on(store.apply_snapshot(&snapshot)).unwrap();
    assert_eq!(report.written.len(), 1);
    assert!(fixture.sdk_store(None).is_initialized());
}
