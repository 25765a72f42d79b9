//! Clients for DynamoDB Local, one fresh table per test, and a request counter.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Intercept, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The DynamoDB Local endpoint of this test run.
pub fn endpoint() -> String {
    std::env::var("LD_DYNAMO_TEST_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "LD_DYNAMO_TEST_ENDPOINT is not set: these tests need DynamoDB Local. Run them with \
             `make test`, or `scripts/with-local-aws.sh cargo test`"
        )
    })
}

/// A client for `endpoint` with dummy credentials and no retries of its own beyond the SDK's.
pub fn client_for(endpoint: &str) -> Client {
    client_with(endpoint, None)
}

/// A client for DynamoDB Local.
pub fn client() -> Client {
    client_for(&endpoint())
}

/// A client for `endpoint` that reports every request attempt to `counter`.
pub fn client_with(endpoint: &str, counter: Option<RequestCounter>) -> Client {
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("local", "local", None, None, "testkit"));
    if let Some(counter) = counter {
        config = config.interceptor(counter);
    }
    Client::from_conf(config.build())
}

/// A table name no other test uses.
pub fn unique_name(label: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(120)
        .collect();
    format!(
        "{label}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a table in the official layout (`namespace` S HASH, `key` S RANGE, on demand) and
/// returns its name.
pub async fn create_table(client: &Client, label: &str) -> String {
    create_table_with_keys(client, label, "namespace", "key").await
}

/// Creates a table whose partition and sort keys (S) have these names: the official layout
/// with `namespace` and `key`, or a wrong one to test how it is reported.
pub async fn create_table_with_keys(
    client: &Client,
    label: &str,
    partition: &str,
    sort: &str,
) -> String {
    let name = unique_name(label);
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(partition))
        .attribute_definitions(attribute(sort))
        .key_schema(key(partition, KeyType::Hash))
        .key_schema(key(sort, KeyType::Range))
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating table {name}: {e:?}"));
    name
}

/// Creates the table `name` in the official layout unless it exists (for the local setup's
/// scripts, which name their tables).
pub async fn ensure_table(client: &Client, name: &str) -> Result<(), String> {
    let tables = client
        .list_tables()
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    if tables.table_names().iter().any(|t| t == name) {
        return Ok(());
    }
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("namespace"))
        .attribute_definitions(attribute("key"))
        .key_schema(key("namespace", KeyType::Hash))
        .key_schema(key("key", KeyType::Range))
        .send()
        .await
        .map(drop)
        .map_err(|e| format!("{e:?}"))
}

fn attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute definition")
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("key schema")
}

/// A row as a map of attribute name to value.
pub type Row = std::collections::HashMap<String, AttributeValue>;

/// Every row of the table, sorted by (namespace, key): the exact state to compare before and
/// after an operation that must not change anything.
pub async fn scan_all(client: &Client, table: &str) -> Vec<BTreeMap<String, AttributeValue>> {
    let mut rows = Vec::new();
    let mut start = None;
    loop {
        let output = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap_or_else(|e| panic!("scanning {table}: {e:?}"));
        rows.extend(
            output
                .items
                .unwrap_or_default()
                .into_iter()
                .map(|row| row.into_iter().collect::<BTreeMap<_, _>>()),
        );
        match output.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    rows.sort_by_key(|row| (text(row, "namespace"), text(row, "key")));
    rows
}

fn text(row: &BTreeMap<String, AttributeValue>, name: &str) -> String {
    match row.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Writes one raw row, as another SDK would have.
pub async fn put_raw(client: &Client, table: &str, row: Row) {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(row))
        .send()
        .await
        .unwrap_or_else(|e| panic!("putting a raw row into {table}: {e:?}"));
}

/// Reads one raw row.
pub async fn get_raw(client: &Client, table: &str, namespace: &str, key: &str) -> Option<Row> {
    client
        .get_item()
        .table_name(table)
        .key("namespace", AttributeValue::S(namespace.into()))
        .key("key", AttributeValue::S(key.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("getting a raw row from {table}: {e:?}"))
        .item
}

/// Counts request attempts per DynamoDB operation name (`BatchWriteItem`, `Query`, ...).
#[derive(Clone, Debug, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl RequestCounter {
    /// Attempts of `operation` so far.
    pub fn get(&self, operation: &str) -> usize {
        self.counts
            .lock()
            .expect("counter lock")
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Write requests so far (`PutItem`, `DeleteItem`, `BatchWriteItem`, `UpdateItem`).
    pub fn writes(&self) -> usize {
        [
            "PutItem",
            "DeleteItem",
            "BatchWriteItem",
            "UpdateItem",
            "TransactWriteItems",
        ]
        .iter()
        .map(|op| self.get(op))
        .sum()
    }

    /// Forgets every count.
    pub fn reset(&self) {
        self.counts.lock().expect("counter lock").clear();
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map_or_else(|| "unknown".to_string(), |m| m.name().to_string());
        *self
            .counts
            .lock()
            .expect("counter lock")
            .entry(operation)
            .or_default() += 1;
        Ok(())
    }
}
