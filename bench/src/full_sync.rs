//! A full sync into an empty table at two sizes, as the syncer runs it (ticket, lease, fences,
//! every write a fenced transaction), beside the official Node.js store's `init`; and, in the
//! same run, DynamoDB Local's own floor for each write shape: the same items written with
//! nothing else, as unconditional `BatchWriteItem`s of 25 (Node's shape) and as fenced
//! `TransactWriteItems` of 99 (ours). The write capacity each costs is computed from DynamoDB's
//! pricing rules (DynamoDB Local reports none): 1 unit per KB per item for standard writes, 2 for
//! transactional ones.

use std::collections::HashMap;
use std::time::Instant;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, PutRequest, TransactWriteItem, WriteRequest,
};
use futures::StreamExt;
use launchdarkly_dynamo_store::schema::{estimated_item_size, item_attributes};
use launchdarkly_dynamo_store::{Compare, DynamoDbStoreBuilder, Kind, Snapshot};
use launchdarkly_dynamo_testkit::dynamodb::{client, create_table};

use crate::data;
use crate::process::node_reference;
use crate::results::{Ratio, Row, Sample};
use crate::syncs::fenced_sync;

/// Items per size: the bench's usual data set, and ten times it.
pub const SIZES: [(usize, usize); 2] = [(1_000, 200), (10_000, 2_000)];

/// Batches in flight for Node's shape (its store sends them all at once; DynamoDB Local serves
/// no more than this in parallel anyway); transactions in flight as the syncer runs them.
const BATCH_CONCURRENCY: usize = 16;
const FENCED_CONCURRENCY: usize = launchdarkly_dynamo_store::schema::FENCE_SHARDS;

#[derive(Default)]
struct Measured {
    ours: Sample,
    node: Sample,
    fenced_floor: Sample,
    batch_floor: Sample,
    ours_units: f64,
    node_units: f64,
    condition_checks: f64,
}

pub fn rows(
    runtime: &tokio::runtime::Runtime,
    runs: usize,
    work: &std::path::Path,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (flags, segments) in SIZES {
        let items = flags + segments;
        eprintln!("bench: full sync of {items} items");
        let data = data::generate_sized(flags, segments);
        let file = work.join(format!("full-{items}.json"));
        std::fs::write(&file, data.to_string())?;
        let snapshot = syncer::validate::parse(data.to_string().as_bytes())?.snapshot;
        let measured = measure(runtime, runs, &snapshot, &file.to_string_lossy())?;
        rows.extend(size_rows(items, measured));
    }
    Ok(rows)
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    runs: usize,
    snapshot: &Snapshot,
    data_file: &str,
) -> anyhow::Result<Measured> {
    let mut measured = Measured::default();
    for _ in 0..runs {
        let (ours, fenced_floor, batch_floor) = runtime.block_on(async {
            let table = create_table(&client(), "bench-full").await;
            let store = DynamoDbStoreBuilder::new(&table)
                .client(client())
                .build()
                .await?;
            let (ms, _) = fenced_sync(&store, snapshot, Compare::Versions).await?;
            let fenced_floor = fenced_floor(snapshot).await?;
            let batch_floor = batch_floor(snapshot).await?;
            anyhow::Ok((ms, fenced_floor, batch_floor))
        })?;
        measured.ours.push(ours);
        measured.fenced_floor.push(fenced_floor);
        measured.batch_floor.push(batch_floor);
        let node_table = runtime.block_on(create_table(&client(), "bench-full-node"));
        let node = node_reference(&["init", &node_table, data_file])?;
        measured.node.push(node["ms"].as_f64().unwrap_or(f64::NAN));
    }
    let units = write_units(snapshot);
    measured.node_units = units as f64;
    measured.ours_units = 2.0 * units as f64;
    measured.condition_checks = transactions(snapshot) as f64;
    Ok(measured)
}

fn size_rows(items: usize, m: Measured) -> Vec<Row> {
    let above = |total: &Sample, floor: &Sample| {
        Sample(total.0.iter().zip(&floor.0).map(|(t, f)| t - f).collect())
    };
    vec![
        Row {
            measure: format!("Full sync of {items} items into an empty table, as the syncer runs it (lease, fenced transactions): time"),
            unit: "ms",
            reference: Some(Sample(m.node.0.clone())),
            ours: Sample(m.ours.0.clone()),
            ratio: Ratio::ReferenceOverOurs,
            goal: "no slower than Node's init",
        },
        Row {
            measure: format!("DynamoDB Local alone, {items} items: fenced TransactWriteItems of 99 (ours) against BatchWriteItem of 25 (Node's), nothing else"),
            unit: "ms",
            reference: Some(Sample(m.batch_floor.0.clone())),
            ours: Sample(m.fenced_floor.0.clone()),
            ratio: Ratio::ReferenceOverOurs,
            goal: "reported: the floor of each write shape",
        },
        Row {
            measure: format!("Full sync of {items} items: time above the floor of its write shape"),
            unit: "ms",
            reference: Some(above(&m.node, &m.batch_floor)),
            ours: above(&m.ours, &m.fenced_floor),
            // Differences of two noisy times: a ratio of them says nothing.
            ratio: Ratio::None,
            goal: "reported",
        },
        Row {
            measure: format!("Full sync of {items} items: write capacity units for the items (DynamoDB's pricing; ours also {:.0} condition checks, one per transaction)", m.condition_checks),
            unit: "WCU",
            reference: Some(Sample(vec![m.node_units])),
            ours: Sample(vec![m.ours_units]),
            ratio: Ratio::OursOverReference,
            goal: "reported",
        },
    ]
}

/// Standard write units of every item: one per KB, rounded up, by the official size estimate.
fn write_units(snapshot: &Snapshot) -> usize {
    each_item(snapshot)
        .map(|(namespace, key, item)| estimated_item_size(namespace, key, item).div_ceil(1024))
        .sum()
}

fn transactions(snapshot: &Snapshot) -> usize {
    (snapshot.len(Kind::Flags) + snapshot.len(Kind::Segments)).div_ceil(99)
}

fn each_item(
    snapshot: &Snapshot,
) -> impl Iterator<
    Item = (
        &'static str,
        &String,
        &launchdarkly_server_sdk::SerializedItem,
    ),
> {
    [(Kind::Segments, "segments"), (Kind::Flags, "features")]
        .into_iter()
        .flat_map(move |(kind, namespace)| {
            snapshot
                .items(kind)
                .iter()
                .map(move |(key, item)| (namespace, key, item))
        })
}

fn attributes(snapshot: &Snapshot) -> Vec<HashMap<String, AttributeValue>> {
    each_item(snapshot)
        .map(|(namespace, key, item)| item_attributes(namespace, key, item))
        .collect()
}

/// The items as Node's store writes them: `BatchWriteItem`s of 25, unconditional.
async fn batch_floor(snapshot: &Snapshot) -> anyhow::Result<f64> {
    let dynamo = client();
    let table = create_table(&dynamo, "bench-floor-batch").await;
    let batches: Vec<Vec<WriteRequest>> = attributes(snapshot)
        .chunks(25)
        .map(|chunk| {
            chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder().set_item(Some(item.clone())).build()?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(batches)
        .map(|batch| {
            let (dynamo, table) = (dynamo.clone(), table.clone());
            async move {
                let output = dynamo
                    .batch_write_item()
                    .request_items(&table, batch)
                    .send()
                    .await?;
                anyhow::ensure!(
                    output.unprocessed_items().is_none_or(HashMap::is_empty),
                    "DynamoDB Local left items unprocessed"
                );
                Ok(())
            }
        })
        .buffer_unordered(BATCH_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<()>>()?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// The items as the syncer writes them: transactions of 99 puts and one fence check each, on
/// the syncer's fence rows, nothing else (no lease, no reads, no generation).
async fn fenced_floor(snapshot: &Snapshot) -> anyhow::Result<f64> {
    let dynamo = client();
    let table = create_table(&dynamo, "bench-floor-fenced").await;
    let fence = |shard: usize| {
        HashMap::from([
            (
                "namespace".to_string(),
                AttributeValue::S("$bench-fence".into()),
            ),
            (
                "key".to_string(),
                AttributeValue::S(format!("fence-{shard}")),
            ),
        ])
    };
    for shard in 0..FENCED_CONCURRENCY {
        let mut row = fence(shard);
        row.insert("owner".into(), AttributeValue::S("bench".into()));
        dynamo
            .put_item()
            .table_name(&table)
            .set_item(Some(row))
            .send()
            .await?;
    }
    let transactions: Vec<Vec<TransactWriteItem>> = attributes(snapshot)
        .chunks(99)
        .enumerate()
        .map(|(i, chunk)| {
            let check = ConditionCheck::builder()
                .table_name(&table)
                .set_key(Some(fence(i % FENCED_CONCURRENCY)))
                .condition_expression("#owner = :owner")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", AttributeValue::S("bench".into()))
                .build()?;
            let mut actions = vec![TransactWriteItem::builder().condition_check(check).build()];
            for item in chunk {
                let put = Put::builder()
                    .table_name(&table)
                    .set_item(Some(item.clone()))
                    .build()?;
                actions.push(TransactWriteItem::builder().put(put).build());
            }
            Ok(actions)
        })
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(transactions)
        .map(|actions| {
            let dynamo = dynamo.clone();
            async move {
                dynamo
                    .transact_write_items()
                    .set_transact_items(Some(actions))
                    .send()
                    .await?;
                Ok(())
            }
        })
        .buffer_unordered(FENCED_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<()>>()?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}
