//! The archive a fenced sync keeps beside the data: a cold mirror loads it in one batch and
//! then only the items changed since (from the generation row's change log, or beyond it from
//! the archive's change rows); it is rewritten only once the bytes changed since it reach an
//! eighth of it, old ones are removed, and one that is damaged, mixed with another or missing,
//! or change rows with a gap, are refused for the table's items, never served.

use crate::fixtures;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use fixtures::synced::*;
use fixtures::*;
use launchdarkly_dynamo_store::schema::{
    ARCHIVE_DATA_ATTRIBUTE, ARCHIVE_NAMESPACE, ARCHIVE_REFRESH_FRACTION, MAX_CHANGE_LOG_GENERATIONS,
};
use launchdarkly_dynamo_store::{ArchiveRef, Kind, Snapshot};
use launchdarkly_dynamo_testkit::dynamodb::{
    client, endpoint, get_raw, put_raw, scan_all, RequestCounter,
};

fn flags(count: usize, version: u64) -> Vec<(String, u64)> {
    (0..count).map(|i| (format!("f{i}"), version)).collect()
}

fn as_snapshot(flags: &[(String, u64)]) -> Snapshot {
    let pairs: Vec<(&str, u64)> = flags.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    snapshot(&pairs)
}

/// The ids of the archives whose parts the table holds.
async fn stored_archives(table: &str) -> BTreeSet<String> {
    scan_all(&client(), table)
        .await
        .into_iter()
        .filter(|row| row.get("namespace") == Some(&AttributeValue::S(ARCHIVE_NAMESPACE.into())))
        .filter_map(|row| {
            let key = row.get("key")?.as_s().ok()?.clone();
            Some(key.split_once(':')?.0.to_string())
        })
        .collect()
}

async fn named_archive(setup: &Setup) -> Option<ArchiveRef> {
    setup
        .writer
        .generation()
        .await
        .unwrap()
        .and_then(|g| g.archive)
}

#[tokio::test]
async fn a_cold_mirror_reads_the_archive_in_one_batch_then_only_what_changed_since() {
    let setup = setup("archive-cold").await;
    let mut data = flags(300, 1);
    let first = synced(&setup.writer, &as_snapshot(&data)).await;
    let archive = first
        .archive
        .clone()
        .expect("the first sync writes an archive");
    assert_eq!(archive.generation, 1);
    assert!(
        first.archive_bytes > 0 && first.archive_bytes < 300 * 200,
        "{first:?}"
    );
    // Three one-flag syncs: each names the same archive, none rewrites it.
    for i in 0..3 {
        data[i].1 = 2;
        let report = synced(&setup.writer, &as_snapshot(&data)).await;
        assert_eq!(
            report.archive, None,
            "a one-flag change rewrote the archive"
        );
    }
    let now = setup.writer.generation().await.unwrap().unwrap();
    let named = now.archive.map(|a| (a.generation, a.id));
    assert_eq!((now.number, named), (4, Some((1, archive.id))));

    let counter = RequestCounter::default();
    let mirror = mirror_via(&setup.table, &endpoint(), Some(counter.clone())).await;
    assert!(mirror.check_within(Duration::from_secs(5)).await);
    assert_eq!(mirror.status().generation, Some(4));
    assert_eq!(mirror.status().flags, 300);
    assert_eq!(mirror.status().segments, 1);
    assert_eq!(version(&mirror, "f0"), Some(2));
    assert_eq!(version(&mirror, "f3"), Some(1));
    assert_eq!(
        mirror
            .get(Kind::Flags, "f2")
            .unwrap()
            .unwrap()
            .serialized_item,
        flag_json("f2", 2)
    );
    // The generation row and the marker, the archive in one batch, the three changed flags
    // in another; never a query of the table.
    assert_eq!(counter.get("BatchGetItem"), 2, "{counter:?}");
    assert_eq!(counter.get("GetItem"), 2, "{counter:?}");
    assert_eq!(counter.get("Query"), 0, "{counter:?}");
}

/// A flag of `bytes` of random hex (it does not compress), so that an archive holding it is
/// large beside one-flag changes.
fn ballast(bytes: usize) -> (String, launchdarkly_server_sdk::SerializedItem) {
    let noise: String = (0..bytes / 16)
        .map(|_| format!("{:016x}", rand::random::<u64>()))
        .collect();
    let mut item = item(Kind::Flags, "ballast", 1);
    item.serialized_item =
        item.serialized_item
            .replacen("\"salt\":\"salt\"", &format!("\"salt\":\"{noise}\""), 1);
    ("ballast".to_string(), item)
}

#[tokio::test]
async fn beyond_the_change_log_a_cold_mirror_follows_the_archives_change_rows() {
    let setup = setup("archive-rows").await;
    let mut data = flags(20, 1);
    let (ballast_key, ballast) = ballast(300_000);
    let with_ballast = |data: &[(String, u64)]| {
        let mut snapshot = as_snapshot(data);
        snapshot.insert(Kind::Flags, ballast_key.clone(), ballast.clone());
        snapshot
    };
    let archive = synced(&setup.writer, &with_ballast(&data))
        .await
        .archive
        .unwrap();
    // More one-flag syncs than the generation row's change log holds, a few flags many
    // times: every one keeps the archive.
    let syncs = MAX_CHANGE_LOG_GENERATIONS + 6;
    for i in 0..syncs {
        data[i % 5].1 += 1;
        let report = synced(&setup.writer, &with_ballast(&data)).await;
        assert_eq!(report.archive, None, "sync {i} rewrote the archive");
    }
    let now = setup.writer.generation().await.unwrap().unwrap();
    assert_eq!(now.number, 1 + syncs as u64);
    assert_eq!(
        now.archive.as_ref().map(|a| a.id.clone()),
        Some(archive.id.clone())
    );
    assert_eq!(
        now.changes_since(archive.generation),
        None,
        "beyond the log"
    );

    let counter = RequestCounter::default();
    let mirror = mirror_via(&setup.table, &endpoint(), Some(counter.clone())).await;
    assert!(mirror.check_within(Duration::from_secs(5)).await);
    assert_eq!(mirror.status().generation, Some(now.number));
    for (key, synced) in &data {
        assert_eq!(version(&mirror, key), Some(*synced), "{key}");
    }
    assert_eq!(version(&mirror, "ballast"), Some(1));
    // The archive, then the five changed flags in one batch; one query: the change rows.
    assert_eq!(counter.get("BatchGetItem"), 2, "{counter:?}");
    assert_eq!(counter.get("Query"), 1, "{counter:?}");

    // A change row gone: the rows no longer lead to the generation, the table is loaded.
    client()
        .delete_item()
        .table_name(&setup.table)
        .key("namespace", AttributeValue::S(ARCHIVE_NAMESPACE.into()))
        .key(
            "key",
            AttributeValue::S(format!("{}:since:{:020}", archive.id, 10)),
        )
        .send()
        .await
        .unwrap();
    let counter = RequestCounter::default();
    let mirror = mirror_via(&setup.table, &endpoint(), Some(counter.clone())).await;
    assert!(mirror.check_within(Duration::from_secs(5)).await);
    for (key, synced) in &data {
        assert_eq!(version(&mirror, key), Some(*synced), "{key}");
    }
    assert!(counter.get("Query") >= 3, "{counter:?}");
}

#[tokio::test]
async fn the_archive_is_rewritten_once_an_eighth_of_it_changed_and_only_the_last_two_are_kept() {
    let setup = setup("archive-refresh").await;
    let mut data = flags(100, 1);
    let first = synced(&setup.writer, &as_snapshot(&data))
        .await
        .archive
        .unwrap();
    // One-flag changes are counted in bytes; they keep it while they add up to an eighth.
    let budget = first.data_bytes / ARCHIVE_REFRESH_FRACTION;
    let mut kept = 0;
    let second = loop {
        let counted = named_archive(&setup).await.unwrap().changed_bytes;
        data[kept].1 = 2;
        let report = synced(&setup.writer, &as_snapshot(&data)).await;
        let change = (data[kept].0.len() + flag_json(&data[kept].0, 2).len()) as u64;
        match report.archive {
            None => assert!(counted + change <= budget, "kept past the budget"),
            Some(second) => {
                assert!(
                    counted + change > budget,
                    "refreshed early: {counted} of {budget}"
                );
                break second;
            }
        }
        kept += 1;
    };
    assert!(kept >= 5, "{kept} changes kept it");
    assert_eq!(second.generation, 2 + kept as u64);
    assert_eq!(second.changed_bytes, 0);
    assert_eq!(named_archive(&setup).await, Some(second.clone()));
    assert_eq!(
        stored_archives(&setup.table).await,
        BTreeSet::from([first.id.clone(), second.id.clone()])
    );
    // A change of more items than a generation names asks for a new archive at once; the
    // oldest is removed, the one before the new one kept for readers still reading it.
    let third = synced(&setup.writer, &as_snapshot(&flags(300, 3)))
        .await
        .archive
        .unwrap();
    assert_eq!(
        stored_archives(&setup.table).await,
        BTreeSet::from([second.id, third.id.clone()])
    );
    let mirror = mirror_via(&setup.table, &endpoint(), None).await;
    assert!(mirror.check_within(Duration::from_secs(5)).await);
    assert_eq!(
        (mirror.status().flags, version(&mirror, "f299")),
        (300, Some(3))
    );
    // An idle sync keeps everything as it is.
    let idle = synced(&setup.writer, &as_snapshot(&flags(300, 3))).await;
    assert_eq!((idle.item_writes(), idle.archive), (0, None));
    assert_eq!(named_archive(&setup).await, Some(third));
}

/// A cold mirror of `setup`'s table that must load the table item by item after `batches`
/// reads of the archive, and still serve every flag at its synced version.
async fn loads_item_by_item(setup: &Setup, data: &[(String, u64)], batches: usize) {
    let counter = RequestCounter::default();
    let mirror = mirror_via(&setup.table, &endpoint(), Some(counter.clone())).await;
    assert!(mirror.check_within(Duration::from_secs(5)).await);
    assert_eq!(mirror.status().flags, data.len());
    for (key, synced) in data {
        assert_eq!(version(&mirror, key), Some(*synced), "{key}");
    }
    assert_eq!(counter.get("BatchGetItem"), batches, "{counter:?}");
    assert!(counter.get("Query") >= 2, "{counter:?}");
}

#[tokio::test]
async fn a_damaged_mixed_or_missing_archive_is_refused_for_the_tables_items() {
    let setup = setup("archive-damaged").await;
    let mut data = flags(50, 1);
    let archive = synced(&setup.writer, &as_snapshot(&data))
        .await
        .archive
        .unwrap();
    data[0].1 = 2;
    sync(&setup.writer, &as_snapshot(&data)).await;
    let part_key = format!("{}:0", archive.id);
    let part = get_raw(&client(), &setup.table, ARCHIVE_NAMESPACE, &part_key)
        .await
        .expect("the part is stored");

    // One flipped byte.
    let mut damaged = part.clone();
    let AttributeValue::B(bytes) = &part[ARCHIVE_DATA_ATTRIBUTE] else {
        panic!("a part holds bytes");
    };
    let mut flipped = bytes.clone().into_inner();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    damaged.insert(
        ARCHIVE_DATA_ATTRIBUTE.into(),
        AttributeValue::B(flipped.into()),
    );
    put_raw(&client(), &setup.table, damaged).await;
    loads_item_by_item(&setup, &data, 1).await;

    // The part of another table's archive under this archive's key: checksum refused.
    let other = setup_with_archive("archive-other").await;
    let mut foreign = get_raw(
        &client(),
        &other.0.table,
        ARCHIVE_NAMESPACE,
        &format!("{}:0", other.1.id),
    )
    .await
    .unwrap();
    foreign.insert("key".into(), AttributeValue::S(part_key.clone()));
    put_raw(&client(), &setup.table, foreign).await;
    loads_item_by_item(&setup, &data, 1).await;

    // The part gone.
    client()
        .delete_item()
        .table_name(&setup.table)
        .key("namespace", AttributeValue::S(ARCHIVE_NAMESPACE.into()))
        .key("key", AttributeValue::S(part_key))
        .send()
        .await
        .unwrap();
    // Read once more with a consistent read, in case a replica had not seen it yet.
    loads_item_by_item(&setup, &data, 2).await;
}

async fn setup_with_archive(label: &str) -> (Setup, ArchiveRef) {
    let setup = setup(label).await;
    let archive = synced(&setup.writer, &as_snapshot(&flags(50, 7)))
        .await
        .archive
        .unwrap();
    (setup, archive)
}

#[tokio::test]
async fn a_sync_that_keeps_items_it_could_not_write_names_no_new_archive() {
    let setup = setup("archive-preserved").await;
    let data = flags(20, 1);
    let first = synced(&setup.writer, &as_snapshot(&data))
        .await
        .archive
        .unwrap();
    // Many changes, one flag unusable upstream: the table keeps its stored row, so an archive
    // of the snapshot would not be what the table holds.
    let mut changed = as_snapshot(&flags(20, 2)[1..]);
    changed.preserve(Kind::Flags, "f0");
    for i in 20..84 {
        let key = format!("g{i}");
        changed.insert(Kind::Flags, key.clone(), item(Kind::Flags, &key, 1));
    }
    let report = synced(&setup.writer, &changed).await;
    assert_eq!(report.archive, None);
    assert_eq!(
        named_archive(&setup).await,
        None,
        "the old archive no longer serves"
    );
    assert_eq!(
        stored_archives(&setup.table).await,
        BTreeSet::from([first.id])
    );
    // Readers load the table, f0 as it was stored.
    let mirror = mirror_via(&setup.table, &endpoint(), None).await;
    assert!(mirror.check_within(Duration::from_secs(5)).await);
    assert_eq!(
        (version(&mirror, "f0"), version(&mirror, "f1")),
        (Some(1), Some(2))
    );
    // The next complete sync writes one again.
    let complete = synced(&setup.writer, &changed_without_preserved(&changed)).await;
    assert!(complete.archive.is_some());
}

fn changed_without_preserved(snapshot: &Snapshot) -> Snapshot {
    let mut complete = Snapshot::default();
    for kind in Kind::ALL {
        for (key, item) in snapshot.items(kind) {
            complete.insert(kind, key.clone(), item.clone());
        }
    }
    complete.insert(Kind::Flags, "f0", item(Kind::Flags, "f0", 2));
    complete
}

#[tokio::test]
async fn an_archive_of_megabytes_is_written_in_many_parts_and_read_back_whole() {
    let setup = setup("archive-large").await;
    // Forty flags of 150 KB of random hex: about 3 MB once compressed, a dozen parts, more
    // than one DynamoDB transaction could carry.
    let mut snapshot = Snapshot::default();
    for i in 0..40 {
        let key = format!("big-{i}");
        let noise: String = (0..150_000 / 16)
            .map(|_| format!("{:016x}", rand::random::<u64>()))
            .collect();
        let mut item = item(Kind::Flags, &key, 1);
        item.serialized_item =
            item.serialized_item
                .replacen("\"salt\":\"salt\"", &format!("\"salt\":\"{noise}\""), 1);
        snapshot.insert(Kind::Flags, key, item);
    }
    let report = synced(&setup.writer, &snapshot).await;
    let archive = report.archive.clone().expect("an archive");
    assert!(archive.parts >= 10, "{archive:?}");
    assert!(report.archive_bytes > 2_500_000, "{report:?}");
    let counter = RequestCounter::default();
    let mirror = mirror_via(&setup.table, &endpoint(), Some(counter.clone())).await;
    assert!(mirror.check_within(Duration::from_secs(10)).await);
    assert_eq!(mirror.status().flags, 40);
    assert_eq!(
        mirror
            .get(Kind::Flags, "big-7")
            .unwrap()
            .unwrap()
            .serialized_item,
        snapshot.items(Kind::Flags)["big-7"].serialized_item
    );
    assert_eq!(counter.get("Query"), 0, "{counter:?}");
    // A few parts per request, not one answer of megabytes.
    let batches = archive.parts.div_ceil(4) as usize;
    assert_eq!(counter.get("BatchGetItem"), batches, "{counter:?}");
}
