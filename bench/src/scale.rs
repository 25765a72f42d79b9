//! Cold starts and catch-ups as the environment grows: at 1,000 and at 10,000 flags (with 200
//! and 2,000 segments), spawn → first answer of `example-reader eval` and of the extension,
//! beside the official Node.js SDK with its DynamoDB store in daemon mode on the same table;
//! the read units each cold start costs (DynamoDB's own `ConsumedCapacity`, asked for by the
//! proxy in front of DynamoDB Local) against a query of every item; peak memory; the reads of a
//! warm copy 1 and 10 generations behind; and the write units the archive adds to a one-flag
//! change.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_sdk_dynamodb::types::AttributeValue;
use launchdarkly_dynamo_store::schema::{
    ARCHIVE_ATTRIBUTE, ARCHIVE_REFRESH_FRACTION, GENERATION_KEY, PARTITION_KEY, SORT_KEY,
    SYNC_NAMESPACE,
};
use launchdarkly_dynamo_store::ArchiveRef;
use launchdarkly_dynamo_store::{
    ApplyReport, Compare, DynamoDbStore, DynamoDbStoreBuilder, Snapshot,
};
use launchdarkly_dynamo_testkit::dynamodb::{client, client_for, create_table};
use launchdarkly_dynamo_testkit::proxy::DynamoProxy;
use serde_json::{json, Value};

use crate::process::{cold_start, peak_rss};
use crate::reading::Binaries;
use crate::results::{Ratio, Row, Sample};
use crate::syncs::{fenced_sync, read_capacity};
use crate::{data, full_sync, ofrep};

/// One-flag syncs measured for their write units.
const ONE_FLAG_SYNCS: usize = 8;

/// A table synced as the syncer syncs it, with the data set it holds.
struct Synced {
    table: String,
    store: DynamoDbStore,
    data: Value,
    flags: usize,
    segments: usize,
}

impl Synced {
    async fn new(flags: usize, segments: usize) -> anyhow::Result<Self> {
        let table = create_table(&client(), "bench-scale").await;
        let store = DynamoDbStoreBuilder::new(&table)
            .client(client())
            .build()
            .await?;
        let mut synced = Self {
            table,
            store,
            data: data::generate_sized(flags, segments),
            flags,
            segments,
        };
        synced.sync().await?;
        Ok(synced)
    }

    fn snapshot(&self) -> anyhow::Result<Snapshot> {
        Ok(syncer::validate::parse(self.data.to_string().as_bytes())?.snapshot)
    }

    async fn sync(&mut self) -> anyhow::Result<ApplyReport> {
        let snapshot = self.snapshot()?;
        Ok(fenced_sync(&self.store, &snapshot, Compare::Versions)
            .await?
            .1)
    }

    /// Syncs a new version of flag `index`.
    async fn change_one(&mut self, index: usize) -> anyhow::Result<ApplyReport> {
        let key = format!("flag-{:04}", index % self.flags);
        let flag = &mut self.data["flags"][&key];
        let version = flag["version"].as_u64().context("a version")? + 1;
        flag["version"] = json!(version);
        flag["salt"] = json!(format!("changed-{version}"));
        self.sync().await
    }

    fn size(&self) -> String {
        format!(
            "{} flags + {} segments",
            thousands(self.flags),
            thousands(self.segments)
        )
    }
}

fn thousands(n: usize) -> String {
    match n >= 1000 {
        true => format!("{},{:03}", n / 1000, n % 1000),
        false => n.to_string(),
    }
}

/// Every measure at both sizes.
pub fn rows(
    runtime: &tokio::runtime::Runtime,
    runs: usize,
    binaries: &Binaries,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (flags, segments) in full_sync::SIZES {
        eprintln!("bench: cold starts at {flags} flags");
        let mut synced = runtime.block_on(Synced::new(flags, segments))?;
        rows.extend(cold_start_rows(runtime, runs, binaries, &synced)?);
        if flags == full_sync::SIZES[1].0 {
            rows.extend(runtime.block_on(catch_up_rows(&mut synced))?);
            rows.extend(runtime.block_on(write_rows(&mut synced))?);
        }
    }
    Ok(rows)
}

/// Spawn → first answer, memory and read units of each reader, and Node's, on one table.
fn cold_start_rows(
    runtime: &tokio::runtime::Runtime,
    runs: usize,
    binaries: &Binaries,
    synced: &Synced,
) -> anyhow::Result<Vec<Row>> {
    let endpoint = launchdarkly_dynamo_testkit::dynamodb::endpoint();
    let (mut reader, mut extension, mut node) =
        (Sample::default(), Sample::default(), Sample::default());
    let (mut reader_rss, mut extension_rss, mut node_rss) =
        (Sample::default(), Sample::default(), Sample::default());
    for _ in 0..runs * 2 {
        reader_rss.push(peak_rss(&reader_eval(
            binaries.reader,
            &synced.table,
            &endpoint,
        ))?);
        reader.push(cold_start(reader_eval(
            binaries.reader,
            &synced.table,
            &endpoint,
        ))?);
        node_rss.push(peak_rss(&node_eval(&synced.table, &endpoint))?);
        node.push(cold_start(node_eval(&synced.table, &endpoint))?);
        let (ms, rss) = runtime.block_on(extension_first_answer(
            binaries.extension,
            &synced.table,
            &endpoint,
        ))?;
        extension.push(ms);
        extension_rss.push(rss);
    }
    let units = runtime.block_on(read_units(binaries, synced))?;
    let size = synced.size();
    let goal = match synced.flags >= 10_000 {
        true => "≤ 0.5× Node's time",
        false => "≤ 0.2× Node's time",
    };
    use Ratio::{OursOverReference as Share, ReferenceOverOurs as Faster};
    let mut rows = vec![
        Row::compared(format!("Cold start at {size}: example-reader eval, spawn → first answer"), "ms", reader, &node, Faster, goal),
        Row::compared(format!("Cold start at {size}: the extension, spawn → first OFREP answer (Node: spawn → first evaluation)"), "ms", extension, &node, Faster, goal),
        Row::compared(format!("Cold start at {size}: DynamoDB read units of one reader cold start (ConsumedCapacity), against Node's"), "RCU", Sample(vec![units.ours]), &Sample(vec![units.node]), Share, "reported"),
        Row::compared(format!("Cold start at {size}: read units of one reader cold start, against a query of every item (the load before the archive)"), "RCU", Sample(vec![units.ours]), &Sample(vec![units.full_load]), Share, "≤ 1/5 of a full load"),
        Row::compared(format!("Cold start at {size}: read units of the extension's cold start until its whole copy is loaded (point reads, archive, changes since), against a query of every item"), "RCU", Sample(vec![units.whole_copy]), &Sample(vec![units.full_load]), Share, "≤ 1/5 of a full load"),
    ];
    if synced.flags >= 10_000 {
        rows.push(Row::compared(
            format!("Peak RSS at {size}: example-reader eval of one flag, from point reads (Node: its eval process)"),
            "MiB",
            reader_rss,
            &node_rss,
            Share,
            "reported",
        ));
        rows.push(Row::compared(
            format!("Peak RSS at {size}: the extension with the whole copy loaded (Node: its eval process)"),
            "MiB",
            extension_rss,
            &node_rss,
            Share,
            "≤ 45 MiB",
        ));
    }
    Ok(rows)
}

fn reader_eval(binary: &str, table: &str, endpoint: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["eval", data::EVAL_FLAG, "--key", data::EVAL_CONTEXT])
        .env("LAUNCHDARKLY_DYNAMODB_TABLE", table)
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        .env_remove("LAUNCHDARKLY_SDK_KEY");
    command
}

fn node_eval(table: &str, endpoint: &str) -> Command {
    let mut command = Command::new("node");
    command
        .args([
            "bench/reference.js",
            "eval",
            table,
            data::EVAL_FLAG,
            data::EVAL_CONTEXT,
        ])
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint);
    command
}

/// The extension spawned as Lambda does, then asked for the bench flag until it answers with
/// a value: ms from spawn, and its peak RSS then.
async fn extension_first_answer(
    binary: &str,
    table: &str,
    endpoint: &str,
) -> anyhow::Result<(f64, f64)> {
    let running = ofrep::start(binary, table, endpoint).await?;
    let ready = Instant::now();
    let http = reqwest::Client::new();
    let url = format!(
        "{}/ofrep/v1/evaluate/flags/{}",
        running.base_url,
        data::EVAL_FLAG
    );
    let body = json!({"context": {"targetingKey": data::EVAL_CONTEXT}}).to_string();
    loop {
        let answer = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if let Ok(answer) = answer {
            if answer.status().is_success() {
                let text = answer.text().await.unwrap_or_default();
                let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if value["value"] != Value::Bool(true) {
                    bail!("unexpected OFREP answer: {value}");
                }
                let ms = running.start_ms + ready.elapsed().as_secs_f64() * 1000.0;
                // The first answer may come from point reads: the peak that counts is the
                // one with the whole copy loaded.
                copy_loaded(&http, &running.base_url).await?;
                return Ok((ms, running.peak_rss_mib()?));
            }
        }
        if ready.elapsed() > Duration::from_secs(30) {
            bail!("the extension did not answer within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits until the extension's health route says its copy is current.
async fn copy_loaded(http: &reqwest::Client, base_url: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let health = http.get(format!("{base_url}/health")).send().await;
        if let Ok(health) = health {
            let text = health.text().await.unwrap_or_default();
            let health: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if health["state"] == "CURRENT" {
                return Ok(());
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the extension's copy was not loaded within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

struct Units {
    ours: f64,
    node: f64,
    full_load: f64,
    whole_copy: f64,
}

/// Read units of one cold start of the reader and of Node, and of the extension until its
/// whole copy is loaded, through the metering proxy; and of one query of both namespaces.
async fn read_units(binaries: &Binaries<'_>, synced: &Synced) -> anyhow::Result<Units> {
    let reader_binary = binaries.reader;
    let proxy = DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint());
    let mut units = Vec::new();
    for command in [
        reader_eval(reader_binary, &synced.table, proxy.endpoint()),
        node_eval(&synced.table, proxy.endpoint()),
    ] {
        proxy.reset_units();
        let mut command = command;
        let output = command.output()?;
        if !output.status.success() {
            bail!(
                "a metered cold start failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        units.push(proxy.read_units());
    }
    proxy.reset_units();
    let running = ofrep::start(binaries.extension, &synced.table, proxy.endpoint()).await?;
    copy_loaded(&reqwest::Client::new(), &running.base_url).await?;
    let whole_copy = proxy.read_units();
    drop(running);
    let full_load = read_capacity(&client(), &synced.table, false).await?;
    Ok(Units {
        ours: units[0],
        node: units[1],
        full_load,
        whole_copy,
    })
}

/// A warm copy (the store's mirror, as every reader holds it) frozen while 1 and then 10
/// one-flag syncs land: the read units and requests of its catch-up.
async fn catch_up_rows(synced: &mut Synced) -> anyhow::Result<Vec<Row>> {
    eprintln!("bench: catch-ups 1 and 10 generations behind");
    let proxy = DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint());
    let mirror = DynamoDbStoreBuilder::new(&synced.table)
        .client(client_for(proxy.endpoint()))
        .build_mirror()
        .await?;
    mirror
        .wait_for_first_load(Duration::from_secs(30))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let full_load = read_capacity(&client(), &synced.table, false).await?;
    let mut rows = Vec::new();
    for behind in [1, 10] {
        for i in 0..behind {
            synced.change_one(200 + i).await?;
        }
        proxy.reset_units();
        proxy.reset_received();
        // Past the freshness interval, so the check is due.
        tokio::time::sleep(mirror.settings().freshness).await;
        mirror.check_within(Duration::from_secs(10)).await;
        let requests: usize = ["GetItem", "Query", "BatchGetItem"]
            .iter()
            .map(|op| proxy.received(op))
            .sum();
        let generations = if behind == 1 {
            "generation"
        } else {
            "generations"
        };
        rows.push(Row::compared(
            format!("Catch-up of a warm copy {behind} {generations} behind at {} ({requests} requests): read units, against a query of every item", synced.size()),
            "RCU",
            Sample(vec![proxy.read_units()]),
            &Sample(vec![full_load]),
            Ratio::OursOverReference,
            "the changed items and the generation row",
        ));
    }
    Ok(rows)
}

/// Write units through the metering proxy: of one-flag syncs (each a different flag) that
/// keep the archive, and of one archive refresh (an idle sync on a generation row whose
/// archive pointer was removed: it writes a new archive and deletes the old parts, what every
/// refresh does); the refresh's share of each change follows from the refresh rule (bytes
/// changed since the archive up to an eighth of it), with the bytes the syncer counted.
async fn write_rows(synced: &mut Synced) -> anyhow::Result<Vec<Row>> {
    eprintln!("bench: write units of {ONE_FLAG_SYNCS} one-flag syncs and of an archive refresh");
    let proxy = DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint());
    let writer = DynamoDbStoreBuilder::new(&synced.table)
        .client(client_for(proxy.endpoint()))
        .build()
        .await?;
    let original = std::mem::replace(&mut synced.store, writer);
    let mut kept = Sample::default();
    let before = archive_named(synced).await?;
    for i in 0..ONE_FLAG_SYNCS {
        proxy.reset_units();
        let report = synced.change_one(1000 + i).await?;
        if report.archive.is_some() {
            bail!("a one-flag sync refreshed the archive: use fewer of them");
        }
        kept.push(proxy.write_units());
    }
    let after = archive_named(synced).await?;
    let per_change = (after.changed_bytes - before.changed_bytes) as f64 / ONE_FLAG_SYNCS as f64;
    let changes_per_refresh = (after.data_bytes / ARCHIVE_REFRESH_FRACTION) as f64 / per_change;
    proxy.reset_units();
    synced.sync().await?;
    let idle = proxy.write_units();
    forget_archive(&synced.table).await?;
    proxy.reset_units();
    let report = synced.sync().await?;
    let refresh = proxy.write_units() - idle;
    synced.store = original;
    let size = synced.size();
    let compressed = report.archive_bytes / 1000;
    Ok(vec![
        Row::reported(format!("One-flag change at {size}: write units of the sync (lease, fences, the flag, its change row, generation row twice)"), "WCU", kept),
        Row::reported(format!("Archive refresh at {size} ({compressed} KB compressed; writing it and deleting the one before the previous): write units"), "WCU", Sample(vec![refresh])),
        Row::reported(format!("One-flag changes between two archive refreshes at {size} ({per_change:.0} changed bytes each, refresh at an eighth of the archive's {} KB of items)", after.data_bytes / 1000), "changes", Sample(vec![changes_per_refresh.floor()])),
        Row::reported(format!("Write units the archive adds to a one-flag change at {size}, amortized over its refreshes"), "WCU", Sample(vec![refresh / changes_per_refresh.floor().max(1.0)])),
    ])
}

/// The archive the table's generation row names.
async fn archive_named(synced: &Synced) -> anyhow::Result<ArchiveRef> {
    synced
        .store
        .generation()
        .await?
        .and_then(|generation| generation.archive)
        .context("the generation row names no archive")
}

/// Removes the archive pointer from the generation row (the next sync then writes one).
async fn forget_archive(table: &str) -> anyhow::Result<()> {
    client()
        .update_item()
        .table_name(table)
        .key(PARTITION_KEY, AttributeValue::S(SYNC_NAMESPACE.to_string()))
        .key(SORT_KEY, AttributeValue::S(GENERATION_KEY.to_string()))
        .update_expression("REMOVE #archive")
        .expression_attribute_names("#archive", ARCHIVE_ATTRIBUTE)
        .send()
        .await?;
    Ok(())
}
