//! Syncs of the bench's data set: a full sync into an empty table, resyncs with nothing and with
//! ten flags changed, the same as the syncer runs them (lease, fences, fenced transactions), and
//! what reading the stored items costs; beside the official Node.js store's `init` of the same
//! data, in the same run.

use std::time::{Duration, Instant};

use anyhow::bail;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use launchdarkly_dynamo_store::schema::{
    FEATURES_NAMESPACE, PARTITION_KEY, SEGMENTS_NAMESPACE, SORT_KEY, VERSION_ATTRIBUTE,
};
use launchdarkly_dynamo_store::{
    ApplyOptions, ApplyReport, Compare, DynamoDbStore, DynamoDbStoreBuilder, Snapshot,
};
use launchdarkly_dynamo_sync::{Coverage, SyncCoordinator, Turn};
use launchdarkly_dynamo_testkit::dynamodb::{client, client_with, create_table, RequestCounter};
use serde_json::Value;

use crate::process::node_reference;
use crate::results::{Ratio, Row, Sample};

/// The data set, as files for the Node.js store and as the syncer parses it.
pub struct Input {
    pub data_path: String,
    pub changed_path: String,
    pub snapshot: Snapshot,
    /// The data set with ten flags changed.
    pub changed: Snapshot,
    pub batch_concurrency: usize,
}

#[derive(Default)]
struct Ours {
    full_ms: Sample,
    full_requests: Sample,
    same_ms: Sample,
    same_writes: Sample,
    changed_writes: Sample,
    fenced_ms: Sample,
    fenced_requests: Sample,
    reconcile_ms: Sample,
    reconcile_writes: Sample,
    versions_rcu: Sample,
    content_rcu: Sample,
}

#[derive(Default)]
struct Node {
    full_ms: Sample,
    full_requests: Sample,
    same_ms: Sample,
    same_writes: Sample,
    changed_writes: Sample,
}

/// The sync rows, and a table holding the data set for the readers' measures.
pub fn rows(
    runtime: &tokio::runtime::Runtime,
    runs: usize,
    input: &Input,
) -> anyhow::Result<(Vec<Row>, String)> {
    let (mut ours, mut node) = (Ours::default(), Node::default());
    let mut reader_table = String::new();
    for run in 0..runs {
        eprintln!("bench: sync run {}/{runs}", run + 1);
        let (table, node_table) = runtime.block_on(async {
            let table = plain_syncs(input, &mut ours).await?;
            fenced_syncs(input, &mut ours).await?;
            anyhow::Ok((table, create_table(&client(), "bench-node").await))
        })?;
        node_syncs(input, &node_table, &mut node)?;
        reader_table = table;
    }
    Ok((sync_rows(ours, &node), reader_table))
}

/// The store's own apply (unfenced): full, unchanged, ten changed. Returns the table.
async fn plain_syncs(input: &Input, ours: &mut Ours) -> anyhow::Result<String> {
    let counter = RequestCounter::default();
    let table = create_table(&client(), "bench-ours").await;
    let store = store(&table, &counter, input.batch_concurrency).await?;
    let started = Instant::now();
    store.apply_snapshot(&input.snapshot).await?;
    ours.full_ms.push(ms_since(started));
    ours.full_requests.push(requests(&counter));
    counter.reset();
    let started = Instant::now();
    let report = store.apply_snapshot(&input.snapshot).await?;
    ours.same_ms.push(ms_since(started));
    ours.same_writes.push(report.item_writes() as f64);
    if counter.writes() != 0 {
        bail!(
            "an unchanged resync sent {} write requests",
            counter.writes()
        );
    }
    let report = store.apply_snapshot(&input.changed).await?;
    ours.changed_writes.push(report.item_writes() as f64);
    Ok(table)
}

/// As the syncer runs it: a full sync, then the schedule's reconciling sync with nothing
/// changed (every item compared), and the read capacity of both diffs.
async fn fenced_syncs(input: &Input, ours: &mut Ours) -> anyhow::Result<()> {
    let counter = RequestCounter::default();
    let table = create_table(&client(), "bench-fenced").await;
    let store = store(&table, &counter, input.batch_concurrency).await?;
    let (ms, _) = fenced_sync(&store, &input.snapshot, Compare::Versions).await?;
    ours.fenced_ms.push(ms);
    ours.fenced_requests.push(requests(&counter));
    let (ms, reconciled) = fenced_sync(&store, &input.snapshot, Compare::Content).await?;
    ours.reconcile_ms.push(ms);
    ours.reconcile_writes.push(reconciled.item_writes() as f64);
    ours.versions_rcu
        .push(read_capacity(&client(), &table, true).await?);
    ours.content_rcu
        .push(read_capacity(&client(), &table, false).await?);
    Ok(())
}

/// The Node.js store's `init`: into an empty table, again unchanged, with ten flags changed.
fn node_syncs(input: &Input, table: &str, node: &mut Node) -> anyhow::Result<()> {
    let number = |result: &Value, field: &str| result[field].as_f64().unwrap_or(f64::NAN);
    let first = node_reference(&["init", table, &input.data_path])?;
    node.full_ms.push(number(&first, "ms"));
    let requests: f64 = first["requests"]
        .as_object()
        .map(|r| r.values().filter_map(Value::as_f64).sum())
        .unwrap_or(f64::NAN);
    node.full_requests.push(requests);
    let again = node_reference(&["init", table, &input.data_path])?;
    node.same_ms.push(number(&again, "ms"));
    node.same_writes.push(number(&again, "itemWrites"));
    let changed = node_reference(&["init", table, &input.changed_path])?;
    node.changed_writes.push(number(&changed, "itemWrites"));
    Ok(())
}

fn sync_rows(ours: Ours, node: &Node) -> Vec<Row> {
    use Ratio::{None as NoRatio, ReferenceOverOurs as Faster};
    vec![
        Row::compared(
            "Full sync into an empty table: time",
            "ms",
            ours.full_ms,
            &node.full_ms,
            Faster,
            "≥ 3× faster",
        ),
        Row::compared(
            "Full sync as the syncer runs it (lease, fenced transactions): time",
            "ms",
            ours.fenced_ms,
            &node.full_ms,
            Faster,
            "no slower than Node's init",
        ),
        Row::compared(
            "Full sync as the syncer runs it: DynamoDB requests",
            "requests",
            ours.fenced_requests,
            &node.full_requests,
            Faster,
            "reported",
        ),
        Row::compared(
            "Reconciling resync (schedule, CLI), nothing changed: time",
            "ms",
            ours.reconcile_ms,
            &node.same_ms,
            Faster,
            "reported",
        ),
        Row::compared(
            "Reconciling resync, nothing changed: item writes",
            "writes",
            ours.reconcile_writes,
            &node.same_writes,
            NoRatio,
            "0 writes",
        ),
        Row::reported(
            "Reading what is stored: keys and versions (webhook diff)",
            "RCU",
            ours.versions_rcu,
        ),
        Row::reported(
            "Reading what is stored: whole items (reconciling diff)",
            "RCU",
            ours.content_rcu,
        ),
        Row::compared(
            "Full sync into an empty table: DynamoDB requests",
            "requests",
            ours.full_requests,
            &node.full_requests,
            Faster,
            "reported",
        ),
        Row::compared(
            "Resync, nothing changed: item writes",
            "writes",
            ours.same_writes,
            &node.same_writes,
            NoRatio,
            "0 writes",
        ),
        Row::compared(
            "Resync, nothing changed: time",
            "ms",
            ours.same_ms,
            &node.same_ms,
            Faster,
            "reported",
        ),
        Row::compared(
            "Resync, 10 flags changed: item writes",
            "writes",
            ours.changed_writes,
            &node.changed_writes,
            NoRatio,
            "10 writes",
        ),
    ]
}

async fn store(
    table: &str,
    counter: &RequestCounter,
    batch_concurrency: usize,
) -> anyhow::Result<DynamoDbStore> {
    let endpoint = launchdarkly_dynamo_testkit::dynamodb::endpoint();
    Ok(DynamoDbStoreBuilder::new(table)
        .client(client_with(&endpoint, Some(counter.clone())))
        .batch_write_concurrency(batch_concurrency)
        .build()
        .await?)
}

fn requests(counter: &RequestCounter) -> f64 {
    (counter.writes() + counter.get("Query") + counter.get("GetItem")) as f64
}

fn ms_since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// One sync as the syncer runs it: ticket, lease and fences, fenced apply, release. Returns the
/// wall time in ms and what the apply did.
pub async fn fenced_sync(
    store: &DynamoDbStore,
    snapshot: &Snapshot,
    compare: Compare,
) -> anyhow::Result<(f64, ApplyReport)> {
    let started = Instant::now();
    let coordinator = SyncCoordinator::new(store, Duration::from_secs(10))?;
    let ticket = coordinator.ticket(Coverage::Any).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let Turn::Held(lease) = coordinator.wait_turn(&ticket, deadline).await? else {
        bail!("nothing else runs: the bench must hold the lease");
    };
    let options = ApplyOptions::default()
        .fenced_by(&lease)
        .deadline(deadline)
        .compare(compare);
    let report = store.apply(snapshot, options).await;
    lease.release(report.is_ok().then_some(Coverage::Any)).await;
    Ok((ms_since(started), report?))
}
/// Read capacity units DynamoDB charges for the consistent queries of both namespaces that a
/// diff makes, with the projection to keys and versions or without it.
pub async fn read_capacity(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    versions_only: bool,
) -> anyhow::Result<f64> {
    let mut units = 0.0;
    for namespace in [FEATURES_NAMESPACE, SEGMENTS_NAMESPACE] {
        let mut start = None;
        loop {
            let mut query = dynamo
                .query()
                .table_name(table)
                .consistent_read(true)
                .key_condition_expression("#ns = :ns")
                .expression_attribute_names("#ns", PARTITION_KEY)
                .expression_attribute_values(":ns", AttributeValue::S(namespace.into()))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .set_exclusive_start_key(start);
            if versions_only {
                query = query
                    .projection_expression("#k, #v")
                    .expression_attribute_names("#k", SORT_KEY)
                    .expression_attribute_names("#v", VERSION_ATTRIBUTE);
            }
            let output = query.send().await?;
            units += output
                .consumed_capacity
                .as_ref()
                .and_then(|c| c.capacity_units)
                .unwrap_or(f64::NAN);
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
    }
    Ok(units)
}
