//! The persistent-store test suite shared by LaunchDarkly's official integrations, ported and
//! run against DynamoDB Local through the SDK's own `PersistentDataStore` trait, for each kind
//! (flags, segments) and each prefix (none, `testprefix`).

use crate::fixtures;

use std::collections::HashMap;
use std::sync::Arc;

use fixtures::*;
use launchdarkly_dynamo_store::{DynamoDbStore, Kind};
use launchdarkly_server_sdk::{
    AllData, PersistentDataStore, PersistentDataStoreFactory, SerializedItem,
};

fn all_data(kind: Kind, items: &[(&str, u64)]) -> AllData<SerializedItem, SerializedItem> {
    let items: HashMap<String, SerializedItem> = items
        .iter()
        .map(|(key, version)| (key.to_string(), item(kind, key, *version)))
        .collect();
    match kind {
        Kind::Flags => AllData {
            flags: items,
            segments: HashMap::new(),
        },
        Kind::Segments => AllData {
            flags: HashMap::new(),
            segments: items,
        },
    }
}

/// All items of `kind`, as (version, deleted) by key. Flags through the SDK trait; segments
/// through the async API (the SDK trait has no all-segments read).
fn all(
    fixture: &Fixture,
    store: &dyn PersistentDataStore,
    prefix: Option<&str>,
    kind: Kind,
) -> HashMap<String, (u64, bool)> {
    let items = match kind {
        Kind::Flags => store.all_flags().expect("all flags"),
        Kind::Segments => {
            launchdarkly_dynamo_testkit::block_on(fixture.store(prefix).all(Kind::Segments))
                .expect("all segments")
        }
    };
    items
        .into_iter()
        .map(|(k, i)| (k, (i.version, i.deleted)))
        .collect()
}

fn expect(items: &[(&str, u64, bool)]) -> HashMap<String, (u64, bool)> {
    items
        .iter()
        .map(|(k, v, d)| (k.to_string(), (*v, *d)))
        .collect()
}

fn init_marks_initialized(prefix: Option<&str>, kind: Kind) {
    let fixture = Fixture::new("init-marks");
    let mut store = fixture.sdk_store(prefix);
    assert!(!store.is_initialized());
    store.init(all_data(kind, &[("a", 1)])).unwrap();
    assert!(store.is_initialized());
}

fn init_with_empty_data_still_marks_initialized(prefix: Option<&str>, kind: Kind) {
    let fixture = Fixture::new("init-empty");
    let mut store = fixture.sdk_store(prefix);
    store.init(all_data(kind, &[])).unwrap();
    assert!(store.is_initialized());
    assert!(all(&fixture, store.as_ref(), prefix, kind).is_empty());
}

fn init_replaces_all_previous_data(prefix: Option<&str>, kind: Kind) {
    let fixture = Fixture::new("init-replaces");
    let mut store = fixture.sdk_store(prefix);
    store.init(all_data(kind, &[("a", 1), ("b", 1)])).unwrap();
    store
        .upsert(data_kind(kind), "deleted", tombstone(3))
        .unwrap();
    // Lower versions than stored still replace: init discards previous data regardless.
    store
        .init(all_data(kind, &[("b", 2), ("c", 1), ("a", 0)]))
        .unwrap();
    store.init(all_data(kind, &[("b", 2), ("c", 1)])).unwrap();
    assert_eq!(
        all(&fixture, store.as_ref(), prefix, kind),
        expect(&[("b", 2, false), ("c", 1, false)])
    );
    assert_eq!(state(get(store.as_ref(), kind, "a")), None);
}

fn another_instance_sees_init(prefix: Option<&str>, kind: Kind) {
    let fixture = Fixture::new("init-other");
    let mut writer = fixture.sdk_store(prefix);
    let reader = fixture.sdk_store(prefix);
    assert!(!reader.is_initialized());
    writer.init(all_data(kind, &[("a", 4)])).unwrap();
    assert!(reader.is_initialized());
    assert_eq!(state(get(reader.as_ref(), kind, "a")), Some((4, false)));
}

fn get_existing_and_missing(prefix: Option<&str>, kind: Kind) {
    let fixture = Fixture::new("get");
    let mut store = fixture.sdk_store(prefix);
    store.init(all_data(kind, &[("a", 1), ("b", 2)])).unwrap();
    let found = get(store.as_ref(), kind, "b").expect("b is stored");
    assert_eq!((found.version, found.deleted), (2, false));
    let expected = match kind {
        Kind::Flags => flag_json("b", 2),
        Kind::Segments => segment_json("b", 2),
    };
    assert_eq!(found.serialized_item, expected);
    assert_eq!(state(get(store.as_ref(), kind, "missing")), None);
}

fn all_empty_then_exact_set(prefix: Option<&str>, kind: Kind) {
    let fixture = Fixture::new("all");
    let mut store = fixture.sdk_store(prefix);
    assert!(all(&fixture, store.as_ref(), prefix, kind).is_empty());
    store.init(all_data(kind, &[("a", 1), ("b", 2)])).unwrap();
    store.upsert(data_kind(kind), "gone", tombstone(5)).unwrap();
    assert_eq!(
        all(&fixture, store.as_ref(), prefix, kind),
        expect(&[("a", 1, false), ("b", 2, false), ("gone", 5, true)])
    );
}

fn all_pages_through_large_namespaces(prefix: Option<&str>, kind: Kind) {
    // ~1.2 MB of items: more than one 1 MB Query page.
    let fixture = Fixture::new("all-pages");
    let mut store = fixture.sdk_store(prefix);
    let padding = "x".repeat(20_000);
    let mut data = all_data(kind, &[]);
    let items = match kind {
        Kind::Flags => &mut data.flags,
        Kind::Segments => &mut data.segments,
    };
    for i in 0..60 {
        let key = format!("item-{i:02}");
        let mut value: serde_json::Value =
            serde_json::from_str(&item(kind, &key, 1).serialized_item).unwrap();
        value["description"] = serde_json::Value::String(padding.clone());
        items.insert(
            key,
            SerializedItem {
                version: 1,
                deleted: false,
                serialized_item: value.to_string(),
            },
        );
    }
    store.init(data).unwrap();
    assert_eq!(all(&fixture, store.as_ref(), prefix, kind).len(), 60);
}

fn upsert_versions(prefix: Option<&str>, kind: Kind) {
    let fixture = Fixture::new("upsert");
    let mut store = fixture.sdk_store(prefix);
    store.init(all_data(kind, &[("a", 10)])).unwrap();
    assert!(
        store
            .upsert(data_kind(kind), "a", item(kind, "a", 11))
            .unwrap(),
        "newer wins"
    );
    assert_eq!(state(get(store.as_ref(), kind, "a")), Some((11, false)));
    assert!(
        !store
            .upsert(data_kind(kind), "a", item(kind, "a", 9))
            .unwrap(),
        "older loses"
    );
    assert!(
        !store
            .upsert(data_kind(kind), "a", item(kind, "a", 11))
            .unwrap(),
        "same version loses"
    );
    assert_eq!(state(get(store.as_ref(), kind, "a")), Some((11, false)));
    assert!(
        store
            .upsert(data_kind(kind), "new", item(kind, "new", 1))
            .unwrap(),
        "new key is added"
    );
    assert_eq!(state(get(store.as_ref(), kind, "new")), Some((1, false)));
}

fn delete_versions(prefix: Option<&str>, kind: Kind) {
    let fixture = Fixture::new("delete");
    let mut store = fixture.sdk_store(prefix);
    store
        .init(all_data(kind, &[("a", 10), ("b", 10), ("c", 10)]))
        .unwrap();
    assert!(
        store.upsert(data_kind(kind), "a", tombstone(11)).unwrap(),
        "newer delete wins"
    );
    assert_eq!(state(get(store.as_ref(), kind, "a")), Some((11, true)));
    assert!(
        !store.upsert(data_kind(kind), "b", tombstone(9)).unwrap(),
        "older delete loses"
    );
    assert_eq!(state(get(store.as_ref(), kind, "b")), Some((10, false)));
    assert!(
        !store.upsert(data_kind(kind), "c", tombstone(10)).unwrap(),
        "same-version delete loses"
    );
    assert_eq!(state(get(store.as_ref(), kind, "c")), Some((10, false)));
    assert!(
        store
            .upsert(data_kind(kind), "unknown", tombstone(1))
            .unwrap(),
        "delete of unknown key stores a tombstone"
    );
    assert_eq!(state(get(store.as_ref(), kind, "unknown")), Some((1, true)));
    assert!(
        !store
            .upsert(data_kind(kind), "a", item(kind, "a", 10))
            .unwrap(),
        "older upsert after delete loses"
    );
    assert_eq!(state(get(store.as_ref(), kind, "a")), Some((11, true)));
}

fn prefixes_are_independent(prefix: Option<&str>, kind: Kind) {
    let fixture = Fixture::new("prefixes");
    let other_prefix = match prefix {
        Some(_) => None,
        None => Some("otherprefix"),
    };
    let mut mine = fixture.sdk_store(prefix);
    let mut other = fixture.sdk_store(other_prefix);
    mine.init(all_data(kind, &[("a", 1), ("shared", 1)]))
        .unwrap();
    assert!(!other.is_initialized());
    other
        .init(all_data(kind, &[("b", 2), ("shared", 2)]))
        .unwrap();
    other
        .upsert(data_kind(kind), "shared", item(kind, "shared", 3))
        .unwrap();
    assert_eq!(
        all(&fixture, mine.as_ref(), prefix, kind),
        expect(&[("a", 1, false), ("shared", 1, false)])
    );
    assert_eq!(
        all(&fixture, other.as_ref(), other_prefix, kind),
        expect(&[("b", 2, false), ("shared", 3, false)])
    );
    mine.init(all_data(kind, &[])).unwrap();
    assert_eq!(
        all(&fixture, other.as_ref(), other_prefix, kind).len(),
        2,
        "init of one prefix never deletes another's"
    );
}

/// Another writer updates the item between the store's decision and its conditional write.
fn concurrent_modification(prefix: Option<&str>, kind: Kind) {
    for (racing_version, expected) in [(5u64, 10u64), (15, 15)] {
        let fixture = Fixture::new("concurrent");
        let racer: DynamoDbStore = fixture.store(prefix);
        let raced = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hook_raced = raced.clone();
        let hook: launchdarkly_dynamo_store::BeforeUpsertHook = Arc::new(move |kind, key| {
            let racer = racer.clone();
            let raced = hook_raced.clone();
            Box::pin(async move {
                if !raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    let written = racer
                        .upsert(kind, &key, &item(kind, &key, racing_version))
                        .await
                        .unwrap();
                    assert!(written, "the racing writer's update lands first");
                }
            })
        });
        let mut store = fixture
            .builder(prefix)
            .before_upsert_hook(hook)
            .create_persistent_data_store()
            .unwrap();
        let plain = fixture.sdk_store(prefix);
        let mut seeding = fixture.sdk_store(prefix);
        seeding.init(all_data(kind, &[("a", 1)])).unwrap();
        let updated = store
            .upsert(data_kind(kind), "a", item(kind, "a", 10))
            .unwrap();
        assert!(raced.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(
            updated,
            racing_version < 10,
            "racing version {racing_version}"
        );
        assert_eq!(
            state(get(plain.as_ref(), kind, "a")),
            Some((expected, false))
        );
    }
}

fn oversize_items_are_skipped(prefix: Option<&str>, kind: Kind) {
    let fixture = Fixture::new("oversize");
    let mut store = fixture.sdk_store(prefix);
    let mut data = all_data(kind, &[("small", 1)]);
    let huge = SerializedItem {
        version: 1,
        deleted: false,
        serialized_item: format!(r#"{{"key":"huge","pad":"{}"}}"#, "x".repeat(400_000)),
    };
    match kind {
        Kind::Flags => data.flags.insert("huge".into(), huge.clone()),
        Kind::Segments => data.segments.insert("huge".into(), huge.clone()),
    };
    store.init(data).unwrap();
    assert!(
        store.is_initialized(),
        "the rest is written and the store marked initialized"
    );
    assert_eq!(
        all(&fixture, store.as_ref(), prefix, kind),
        expect(&[("small", 1, false)])
    );
    assert!(
        !store.upsert(data_kind(kind), "huge", huge).unwrap(),
        "an oversize upsert is not an update"
    );
    assert_eq!(state(get(store.as_ref(), kind, "huge")), None);
}

macro_rules! suite {
    ($($module:ident: $prefix:expr, $kind:expr;)*) => {$(
        mod $module {
            use super::*;
            #[test] fn init_marks_initialized() { super::init_marks_initialized($prefix, $kind) }
            #[test] fn init_with_empty_data_still_marks_initialized() { super::init_with_empty_data_still_marks_initialized($prefix, $kind) }
            #[test] fn init_replaces_all_previous_data() { super::init_replaces_all_previous_data($prefix, $kind) }
            #[test] fn another_instance_sees_init() { super::another_instance_sees_init($prefix, $kind) }
            #[test] fn get_existing_and_missing() { super::get_existing_and_missing($prefix, $kind) }
            #[test] fn all_empty_then_exact_set() { super::all_empty_then_exact_set($prefix, $kind) }
            #[test] fn all_pages_through_large_namespaces() { super::all_pages_through_large_namespaces($prefix, $kind) }
            #[test] fn upsert_versions() { super::upsert_versions($prefix, $kind) }
            #[test] fn delete_versions() { super::delete_versions($prefix, $kind) }
            #[test] fn prefixes_are_independent() { super::prefixes_are_independent($prefix, $kind) }
            #[test] fn concurrent_modification() { super::concurrent_modification($prefix, $kind) }
            #[test] fn oversize_items_are_skipped() { super::oversize_items_are_skipped($prefix, $kind) }
        }
    )*};
}

suite! {
    no_prefix_flags: None, Kind::Flags;
    no_prefix_segments: None, Kind::Segments;
    testprefix_flags: Some("testprefix"), Kind::Flags;
    testprefix_segments: Some("testprefix"), Kind::Segments;
}
