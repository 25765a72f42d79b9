//! Cross-SDK compatibility: rows written by hand in every official writer's shape are read
//! back correctly, and what this store writes is exactly the official layout.

use crate::fixtures;

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use fixtures::*;
use launchdarkly_dynamo_store::Kind;
use launchdarkly_dynamo_testkit::block_on;
use launchdarkly_dynamo_testkit::dynamodb::{get_raw, put_raw, scan_all, Row};
use launchdarkly_server_sdk::AllData;

fn row(namespace: &str, key: Option<&str>, version: Option<&str>, item: Option<&str>) -> Row {
    let mut row = HashMap::from([("namespace".to_string(), AttributeValue::S(namespace.into()))]);
    if let Some(key) = key {
        row.insert("key".into(), AttributeValue::S(key.into()));
    }
    if let Some(version) = version {
        row.insert("version".into(), AttributeValue::N(version.into()));
    }
    if let Some(item) = item {
        row.insert("item".into(), AttributeValue::S(item.into()));
    }
    row
}

#[test]
fn foreign_rows_read_back_correctly() {
    for prefix in [None, Some("testprefix")] {
        let fixture = Fixture::new("foreign");
        let ns = match prefix {
            Some(p) => format!("{p}:features"),
            None => "features".to_string(),
        };
        let go_tombstone = {
            let mut flag: serde_json::Value =
                serde_json::from_str(&flag_json("$deleted", 7)).unwrap();
            flag["deleted"] = true.into();
            flag.to_string()
        };
        let python_spacing = flag_json("python", 3).replace(",", ", ").replace(":", ": ");
        let rows = [
            row(&ns, Some("live"), Some("2"), Some(&flag_json("live", 2))),
            row(&ns, Some("go-deleted"), Some("7"), Some(&go_tombstone)),
            row(&ns, Some("java-deleted"), Some("8"), Some("null")),
            row(
                &ns,
                Some("python-deleted"),
                Some("9"),
                Some(r#"{"key": "python-deleted", "version": 9, "deleted": true}"#),
            ),
            row(
                &ns,
                Some("node-keyless"),
                Some("10"),
                Some(r#"{"version":10,"deleted":true}"#),
            ),
            row(&ns, Some("no-item"), Some("11"), None),
            row(&ns, Some("python"), Some("3"), Some(&python_spacing)),
            row(
                &ns,
                Some("no-version-attribute"),
                None,
                Some(&flag_json("no-version-attribute", 4)),
            ),
            // Keyed by the sort key, never by the JSON key.
            row(
                &ns,
                Some("sort-key"),
                Some("5"),
                Some(&flag_json("json-key", 5)),
            ),
            // Unreadable rows: skipped from all-flags with a log line, never emptying it.
            row(&ns, Some("garbage"), Some("1"), Some("{not json")),
            row(
                &ns,
                Some("not-a-flag"),
                Some("1"),
                Some(r#"{"key":"not-a-flag","version":1}"#),
            ),
            row(
                &ns,
                Some("no-version-at-all"),
                None,
                Some(r#"{"key":"x","on":true}"#),
            ),
        ];
        for r in rows {
            block_on(put_raw(&fixture.client, &fixture.table, r));
        }
        let store = fixture.sdk_store(prefix);
        let all: HashMap<String, (u64, bool)> = store
            .all_flags()
            .unwrap()
            .into_iter()
            .map(|(k, i)| (k, (i.version, i.deleted)))
            .collect();
        let expected: HashMap<String, (u64, bool)> = [
            ("live", (2, false)),
            ("go-deleted", (7, true)),
            ("java-deleted", (8, true)),
            ("python-deleted", (9, true)),
            ("node-keyless", (10, true)),
            ("no-item", (11, true)),
            ("python", (3, false)),
            ("no-version-attribute", (4, false)),
            ("sort-key", (5, false)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(all, expected, "prefix {prefix:?}");
        for (key, (version, deleted)) in &expected {
            assert_eq!(
                state(get(store.as_ref(), Kind::Flags, key)),
                Some((*version, *deleted)),
                "{key}"
            );
        }
        assert!(
            store.flag("garbage").is_err(),
            "a single unreadable row is an error for its own get"
        );
        // The SDK parses every item we hand it: live items as flags, tombstones by `deleted`.
        let python = store.flag("python").unwrap().unwrap();
        assert!(
            serde_json::from_str::<launchdarkly_server_sdk::Flag>(&python.serialized_item).is_ok()
        );
    }
}

#[test]
fn foreign_marker_counts_as_initialized() {
    let fixture = Fixture::new("foreign-marker");
    block_on(put_raw(
        &fixture.client,
        &fixture.table,
        row("p:$inited", Some("p:$inited"), None, None),
    ));
    assert!(fixture.sdk_store(Some("p")).is_initialized());
    assert!(!fixture.sdk_store(None).is_initialized());
}

fn attribute_names(row: &Row) -> BTreeSet<String> {
    row.keys().cloned().collect()
}

#[test]
fn written_attributes_are_exactly_the_official_ones() {
    for (prefix, ns_prefix) in [(None, ""), (Some("testprefix"), "testprefix:")] {
        let fixture = Fixture::new("written");
        let mut store = fixture.sdk_store(prefix);
        store
            .init(AllData {
                flags: HashMap::from([("f".to_string(), item(Kind::Flags, "f", 12))]),
                segments: HashMap::from([("s".to_string(), item(Kind::Segments, "s", 3))]),
            })
            .unwrap();
        store
            .upsert(data_kind(Kind::Flags), "gone", tombstone(4))
            .unwrap();

        let flag = block_on(get_raw(
            &fixture.client,
            &fixture.table,
            &format!("{ns_prefix}features"),
            "f",
        ))
        .unwrap();
        assert_eq!(
            attribute_names(&flag),
            ["item", "key", "namespace", "version"]
                .map(String::from)
                .into()
        );
        assert_eq!(flag["version"], AttributeValue::N("12".into()));
        assert_eq!(
            flag["key"],
            AttributeValue::S("f".into()),
            "the sort key never carries the prefix"
        );
        assert_eq!(flag["item"], AttributeValue::S(flag_json("f", 12)));

        let segment = block_on(get_raw(
            &fixture.client,
            &fixture.table,
            &format!("{ns_prefix}segments"),
            "s",
        ))
        .unwrap();
        assert_eq!(
            attribute_names(&segment),
            ["item", "key", "namespace", "version"]
                .map(String::from)
                .into()
        );
        assert_eq!(segment["item"], AttributeValue::S(segment_json("s", 3)));

        let deleted = block_on(get_raw(
            &fixture.client,
            &fixture.table,
            &format!("{ns_prefix}features"),
            "gone",
        ))
        .unwrap();
        assert_eq!(
            attribute_names(&deleted),
            ["item", "key", "namespace", "version"]
                .map(String::from)
                .into()
        );
        assert_eq!(
            deleted["item"],
            AttributeValue::S(r#"{"deleted":true,"key":"$deleted","version":4}"#.into())
        );

        let marker_key = format!("{ns_prefix}$inited");
        let marker = block_on(get_raw(
            &fixture.client,
            &fixture.table,
            &marker_key,
            &marker_key,
        ))
        .unwrap();
        assert_eq!(
            marker.len(),
            2,
            "the marker has exactly its two key attributes: {marker:?}"
        );

        let rows = block_on(scan_all(&fixture.client, &fixture.table));
        assert_eq!(
            rows.len(),
            4,
            "flag, tombstone, segment, marker and nothing else: {rows:?}"
        );
    }
}
