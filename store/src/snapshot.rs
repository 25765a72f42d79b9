//! A full data set to apply, and the plan that turns it into the fewest writes: only items that
//! are new or whose version (or, when reconciling, content) differs are put, stored items
//! missing from the snapshot are deleted.

use std::collections::{BTreeSet, HashMap};

use launchdarkly_server_sdk::{AllData, SerializedItem};

use crate::report::ItemRef;
use crate::schema::{fits_in_item, is_tombstone, Kind, Namespaces};

/// A complete set of flags and segments, each as the SDK's serialized JSON, to make the table
/// equal to.
///
/// ```
/// use launchdarkly_dynamo_store::{Kind, Snapshot};
/// use launchdarkly_server_sdk::SerializedItem;
///
/// let mut snapshot = Snapshot::default();
/// snapshot.insert(Kind::Flags, "my-flag", SerializedItem {
///     version: 3,
///     deleted: false,
///     serialized_item: r#"{"key":"my-flag","version":3,"on":true}"#.to_string(),
/// });
/// // Known upstream but unusable this time: keep whatever the table holds for it.
/// snapshot.preserve(Kind::Flags, "broken-flag");
/// assert_eq!(snapshot.len(Kind::Flags), 1);
/// ```
#[derive(Clone, Default)]
pub struct Snapshot {
    flags: HashMap<String, SerializedItem>,
    segments: HashMap<String, SerializedItem>,
    preserved: BTreeSet<ItemRef>,
}

impl Snapshot {
    /// Adds or replaces one item.
    pub fn insert(&mut self, kind: Kind, key: impl Into<String>, item: SerializedItem) {
        self.items_mut(kind).insert(key.into(), item);
    }

    /// Marks an item whose stored row must be left exactly as it is: neither written nor
    /// deleted. Used for items that exist upstream but could not be validated this time.
    pub fn preserve(&mut self, kind: Kind, key: impl Into<String>) {
        self.preserved.insert(ItemRef::new(kind, key));
    }

    /// The items of one kind.
    pub fn items(&self, kind: Kind) -> &HashMap<String, SerializedItem> {
        match kind {
            Kind::Flags => &self.flags,
            Kind::Segments => &self.segments,
        }
    }

    fn items_mut(&mut self, kind: Kind) -> &mut HashMap<String, SerializedItem> {
        match kind {
            Kind::Flags => &mut self.flags,
            Kind::Segments => &mut self.segments,
        }
    }

    /// Number of items of one kind.
    pub fn len(&self, kind: Kind) -> usize {
        self.items(kind).len()
    }

    /// True when the snapshot holds no flags and no segments.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty() && self.segments.is_empty()
    }

    /// The items marked with [`Snapshot::preserve`].
    pub fn preserved(&self) -> impl Iterator<Item = &ItemRef> {
        self.preserved.iter()
    }
}

impl From<AllData<SerializedItem, SerializedItem>> for Snapshot {
    fn from(data: AllData<SerializedItem, SerializedItem>) -> Self {
        Self {
            flags: data.flags,
            segments: data.segments,
            preserved: BTreeSet::new(),
        }
    }
}

/// What is stored now for one key: its `version` attribute if usable, and with
/// [`Compare::Content`] its `item` JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredRow {
    /// The `version` attribute, if it is a number.
    pub version: Option<u64>,
    /// The `item` attribute, when read (content comparison only).
    pub item: Option<String>,
}

/// What is stored now, per key of one kind.
pub type StoredRows = HashMap<String, StoredRow>;

/// How a snapshot is compared with what is stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compare {
    /// Equal versions mean equal items: the cheap diff (reads only keys and versions).
    #[default]
    Versions,
    /// Items are compared by content too, so a row changed behind the writer at the same
    /// version is rewritten (reads every stored item).
    Content,
}

/// One item to write.
pub struct Put<'a> {
    /// Which item.
    pub item: ItemRef,
    /// What to write.
    pub data: &'a SerializedItem,
    /// True when the stored version was already right but the content was not.
    pub repair: bool,
}

/// The writes that make the table equal to a snapshot.
#[derive(Default)]
pub struct Plan<'a> {
    /// Items to put, in write order (segments first, then flags; keys sorted).
    pub puts: Vec<Put<'a>>,
    /// Stored items to delete.
    pub deletes: Vec<ItemRef>,
    /// Items already stored as the snapshot has them.
    pub unchanged: usize,
    /// Items too large for DynamoDB.
    pub oversize: Vec<ItemRef>,
    /// Items left as stored on request.
    pub preserved: Vec<ItemRef>,
}

impl Plan<'_> {
    /// Every item the plan writes or deletes.
    pub fn changes(&self) -> Vec<ItemRef> {
        self.puts
            .iter()
            .map(|put| put.item.clone())
            .chain(self.deletes.iter().cloned())
            .collect()
    }
}

/// Compares `snapshot` with what is stored.
pub fn plan<'a>(
    snapshot: &'a Snapshot,
    stored: &HashMap<Kind, StoredRows>,
    namespaces: &Namespaces,
    compare: Compare,
) -> Plan<'a> {
    let empty = StoredRows::new();
    let mut plan = Plan {
        preserved: snapshot.preserved.iter().cloned().collect(),
        ..Plan::default()
    };
    for kind in Kind::ALL {
        let stored = stored.get(&kind).unwrap_or(&empty);
        let mut keys: Vec<&String> = snapshot.items(kind).keys().collect();
        keys.sort();
        for key in keys {
            let data = &snapshot.items(kind)[key];
            let item = ItemRef::new(kind, key.clone());
            if snapshot.preserved.contains(&item) {
                continue;
            }
            let row = stored.get(key.as_str());
            let same_version = row.is_some_and(|row| row.version == Some(data.version));
            let same = same_version
                && (compare == Compare::Versions
                    || row.is_some_and(|row| same_content(row.item.as_deref(), data)));
            if same {
                plan.unchanged += 1;
            } else if !fits_in_item(namespaces.of(kind), key, data) {
                plan.oversize.push(item);
            } else {
                plan.puts.push(Put {
                    item,
                    data,
                    repair: same_version,
                });
            }
        }
        let mut gone: Vec<ItemRef> = stored
            .keys()
            .filter(|key| !snapshot.items(kind).contains_key(key.as_str()))
            .map(|key| ItemRef::new(kind, key.clone()))
            .filter(|reference| !snapshot.preserved.contains(reference))
            .collect();
        gone.sort();
        plan.deletes.extend(gone);
    }
    plan
}

/// True when the stored `item` says what `wanted` says: the same bytes, or the same JSON value
/// (another writer may have spaced or ordered it differently). Tombstones match any stored
/// tombstone, whatever shape its writer gave it.
fn same_content(stored: Option<&str>, wanted: &SerializedItem) -> bool {
    if wanted.deleted {
        return is_tombstone(stored);
    }
    let Some(stored) = stored else {
        return false;
    };
    if stored == wanted.serialized_item {
        return true;
    }
    match (
        serde_json::from_str::<serde_json::Value>(stored),
        serde_json::from_str::<serde_json::Value>(&wanted.serialized_item),
    ) {
        (Ok(stored), Ok(wanted)) => stored == wanted,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(version: u64, size: usize) -> SerializedItem {
        SerializedItem {
            version,
            deleted: false,
            serialized_item: "x".repeat(size),
        }
    }

    fn keys(items: &[ItemRef]) -> Vec<String> {
        items.iter().map(ToString::to_string).collect()
    }

    fn rows<const N: usize>(rows: [(&str, Option<u64>); N]) -> StoredRows {
        rows.into_iter()
            .map(|(key, version)| {
                (
                    key.to_string(),
                    StoredRow {
                        version,
                        item: None,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn diff_writes_only_new_and_changed_and_deletes_the_rest() {
        let mut snapshot = Snapshot::default();
        snapshot.insert(Kind::Flags, "same", item(2, 10));
        snapshot.insert(Kind::Flags, "newer", item(5, 10));
        snapshot.insert(Kind::Flags, "older", item(1, 10));
        snapshot.insert(Kind::Flags, "new", item(1, 10));
        snapshot.insert(Kind::Flags, "no-version", item(1, 10));
        snapshot.insert(Kind::Segments, "seg", item(4, 10));
        let stored = HashMap::from([
            (
                Kind::Flags,
                rows([
                    ("same", Some(2)),
                    ("newer", Some(4)),
                    ("older", Some(3)),
                    ("no-version", None),
                    ("gone", Some(9)),
                ]),
            ),
            (Kind::Segments, rows([("old-seg", Some(1))])),
        ]);
        let plan = plan(
            &snapshot,
            &stored,
            &Namespaces::new(None),
            Compare::Versions,
        );
        let puts: Vec<String> = plan.puts.iter().map(|p| p.item.to_string()).collect();
        assert!(plan.puts.iter().all(|p| !p.repair));
        assert_eq!(
            puts,
            [
                "segments/seg",
                "features/new",
                "features/newer",
                "features/no-version",
                "features/older"
            ]
        );
        assert_eq!(plan.unchanged, 1);
        assert_eq!(keys(&plan.deletes), ["segments/old-seg", "features/gone"]);
        assert!(plan.oversize.is_empty());
    }

    #[test]
    fn oversize_and_preserved_items_are_neither_written_nor_deleted() {
        let mut snapshot = Snapshot::default();
        snapshot.insert(Kind::Flags, "huge", item(2, 400_000));
        snapshot.insert(Kind::Flags, "bad-but-listed", item(2, 10));
        snapshot.preserve(Kind::Flags, "bad-but-listed");
        snapshot.preserve(Kind::Flags, "bad-unlisted");
        let stored = HashMap::from([(
            Kind::Flags,
            rows([
                ("huge", Some(1)),
                ("bad-but-listed", Some(1)),
                ("bad-unlisted", Some(1)),
            ]),
        )]);
        let plan = plan(
            &snapshot,
            &stored,
            &Namespaces::new(Some("p")),
            Compare::Content,
        );
        assert!(plan.puts.is_empty());
        assert!(plan.deletes.is_empty());
        assert_eq!(keys(&plan.oversize), ["features/huge"]);
        assert_eq!(
            keys(&plan.preserved),
            ["features/bad-but-listed", "features/bad-unlisted"]
        );
    }

    #[test]
    fn content_compare_rewrites_same_version_drift_only() {
        let live = |json: &str| SerializedItem {
            version: 3,
            deleted: false,
            serialized_item: json.to_string(),
        };
        let mut snapshot = Snapshot::default();
        snapshot.insert(Kind::Flags, "same-bytes", live(r#"{"key":"a","on":true}"#));
        snapshot.insert(Kind::Flags, "respaced", live(r#"{"key":"b","on":true}"#));
        snapshot.insert(Kind::Flags, "edited", live(r#"{"key":"c","on":true}"#));
        snapshot.insert(Kind::Flags, "tombstoned", live(r#"{"key":"d","on":true}"#));
        snapshot.insert(
            Kind::Flags,
            "deleted",
            SerializedItem {
                version: 3,
                deleted: true,
                serialized_item: crate::schema::tombstone_json(3),
            },
        );
        let row = |item: Option<&str>| StoredRow {
            version: Some(3),
            item: item.map(str::to_string),
        };
        let stored = HashMap::from([(
            Kind::Flags,
            HashMap::from([
                (
                    "same-bytes".to_string(),
                    row(Some(r#"{"key":"a","on":true}"#)),
                ),
                (
                    "respaced".to_string(),
                    row(Some(r#"{ "on": true, "key": "b" }"#)),
                ),
                ("edited".to_string(), row(Some(r#"{"key":"c","on":false}"#))),
                ("tombstoned".to_string(), row(Some("null"))),
                ("deleted".to_string(), row(None)),
            ]),
        )]);
        let namespaces = Namespaces::new(None);
        let by_version = plan(&snapshot, &stored, &namespaces, Compare::Versions);
        assert!(by_version.puts.is_empty());
        assert_eq!(by_version.unchanged, 5);

        let by_content = plan(&snapshot, &stored, &namespaces, Compare::Content);
        let repaired: Vec<String> = by_content
            .puts
            .iter()
            .filter(|p| p.repair)
            .map(|p| p.item.to_string())
            .collect();
        assert_eq!(repaired, ["features/edited", "features/tombstoned"]);
        assert_eq!(by_content.puts.len(), 2);
        assert_eq!(by_content.unchanged, 3);
    }
}
