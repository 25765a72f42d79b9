//! A full data set to apply, and the plan that turns it into the fewest writes: only items that
//! are new or whose version differs are put, stored items missing from the snapshot are deleted.

use std::collections::{BTreeSet, HashMap};

use launchdarkly_server_sdk::{AllData, SerializedItem};

use crate::report::ItemRef;
use crate::schema::{fits_in_item, Kind, Namespaces};

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

/// What is stored now: for each key of a kind, its `version` attribute if it has a usable one.
pub type StoredVersions = HashMap<String, Option<u64>>;

/// The writes that make the table equal to a snapshot.
#[derive(Default)]
pub struct Plan<'a> {
    /// Items to put, per kind, in write order (segments first).
    pub puts: Vec<(ItemRef, &'a SerializedItem)>,
    /// Stored items to delete.
    pub deletes: Vec<ItemRef>,
    /// Items whose stored version equals the snapshot's.
    pub unchanged: usize,
    /// Items too large for DynamoDB.
    pub oversize: Vec<ItemRef>,
    /// Items left as stored on request.
    pub preserved: Vec<ItemRef>,
}

/// Compares `snapshot` with what is stored.
pub fn plan<'a>(
    snapshot: &'a Snapshot,
    stored: &HashMap<Kind, StoredVersions>,
    namespaces: &Namespaces,
) -> Plan<'a> {
    let empty = StoredVersions::new();
    let mut plan = Plan {
        preserved: snapshot.preserved.iter().cloned().collect(),
        ..Plan::default()
    };
    for kind in Kind::ALL {
        let stored = stored.get(&kind).unwrap_or(&empty);
        let mut keys: Vec<&String> = snapshot.items(kind).keys().collect();
        keys.sort();
        for key in keys {
            let item = &snapshot.items(kind)[key];
            let reference = ItemRef::new(kind, key.clone());
            if snapshot.preserved.contains(&reference) {
                continue;
            }
            if stored.get(key.as_str()) == Some(&Some(item.version)) {
                plan.unchanged += 1;
            } else if !fits_in_item(namespaces.of(kind), key, item) {
                plan.oversize.push(reference);
            } else {
                plan.puts.push((reference, item));
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
                HashMap::from([
                    ("same".to_string(), Some(2)),
                    ("newer".to_string(), Some(4)),
                    ("older".to_string(), Some(3)),
                    ("no-version".to_string(), None),
                    ("gone".to_string(), Some(9)),
                ]),
            ),
            (
                Kind::Segments,
                HashMap::from([("old-seg".to_string(), Some(1))]),
            ),
        ]);
        let plan = plan(&snapshot, &stored, &Namespaces::new(None));
        let puts: Vec<String> = plan.puts.iter().map(|(r, _)| r.to_string()).collect();
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
            HashMap::from([
                ("huge".to_string(), Some(1)),
                ("bad-but-listed".to_string(), Some(1)),
                ("bad-unlisted".to_string(), Some(1)),
            ]),
        )]);
        let plan = plan(&snapshot, &stored, &Namespaces::new(Some("p")));
        assert!(plan.puts.is_empty());
        assert!(plan.deletes.is_empty());
        assert_eq!(keys(&plan.oversize), ["features/huge"]);
        assert_eq!(
            keys(&plan.preserved),
            ["features/bad-but-listed", "features/bad-unlisted"]
        );
    }
}
