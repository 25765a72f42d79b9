//! Before the first copy lands: the items one evaluation needs (the flag, its prerequisites,
//! the segments their rules name, transitively), read with point reads as the official SDKs
//! read them, so a cold reader answers its first requests in a few round trips instead of
//! waiting for the whole data set. The copy replaces them when it lands.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use launchdarkly_server_sdk::SerializedItem;
use serde::Deserialize;

use super::status::ReadFailure;
use super::Mirror;
use crate::report::ItemRef;
use crate::schema::{decode_item, key_attributes, Kind, SORT_KEY};

/// Most items the point reads of one evaluation follow; a flag that needs more waits for the
/// copy.
const MAX_ITEMS_AHEAD: usize = 200;

/// Items read ahead of the copy, whether the table is known to be initialized, and why the
/// last point reads failed (what a caller is told while the first load still runs).
#[derive(Default)]
pub(super) struct ReadAhead {
    items: HashMap<ItemRef, Option<SerializedItem>>,
    initialized: bool,
    failure: Option<ReadFailure>,
    /// When DynamoDB last answered the point reads: how old answers from them may be.
    confirmed_at: Option<std::time::SystemTime>,
}

impl ReadAhead {
    /// An item read ahead (`Some(None)`: read, and not in the table).
    pub(super) fn get(&self, kind: Kind, key: &str) -> Option<Option<SerializedItem>> {
        match self.initialized {
            true => self.items.get(&ItemRef::new(kind, key)).cloned(),
            false => None,
        }
    }

    pub(super) fn initialized(&self) -> bool {
        self.initialized
    }

    /// Why the last point reads failed, if they did.
    pub(super) fn failure(&self) -> Option<ReadFailure> {
        self.failure.clone()
    }

    /// When the last point reads were answered.
    pub(super) fn confirmed_at(&self) -> Option<std::time::SystemTime> {
        self.confirmed_at
    }
}

/// What a flag or a segment refers to, read from its JSON (everything else is ignored).
#[derive(Deserialize, Default)]
#[serde(default)]
struct References {
    prerequisites: Vec<Prerequisite>,
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Prerequisite {
    key: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Rule {
    clauses: Vec<Clause>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Clause {
    op: String,
    values: Vec<serde_json::Value>,
}

/// The items `item` (of `kind`) needs to be evaluated.
fn needed_by(kind: Kind, item: &SerializedItem) -> Vec<ItemRef> {
    if item.deleted {
        return Vec::new();
    }
    let Ok(references) = serde_json::from_str::<References>(&item.serialized_item) else {
        return Vec::new();
    };
    let prerequisites = match kind {
        Kind::Flags => references.prerequisites,
        Kind::Segments => Vec::new(),
    };
    let segments = references
        .rules
        .into_iter()
        .flat_map(|rule| rule.clauses)
        .filter(|clause| clause.op == "segmentMatch")
        .flat_map(|clause| clause.values)
        .filter_map(|value| value.as_str().map(str::to_string));
    prerequisites
        .into_iter()
        .map(|p| ItemRef::new(Kind::Flags, p.key))
        .chain(segments.map(|key| ItemRef::new(Kind::Segments, key)))
        .collect()
}

impl Mirror {
    /// While there is no copy yet, reads what evaluating `flag` needs with point reads
    /// (consistent `BatchGetItem`s, one per level of prerequisites and segments), within
    /// `limit`, so that [`Mirror::get`] answers for those items until the copy lands. With a
    /// copy, does nothing. A table never synced for this prefix is an error, as for the copy.
    pub async fn read_ahead(&self, flag: &str, limit: Duration) -> Result<(), ReadFailure> {
        if self.inner.data.read().is_ok_and(|d| d.is_some()) {
            return Ok(());
        }
        let reads = self.read_ahead_unbounded(ItemRef::new(Kind::Flags, flag));
        let outcome = match tokio::time::timeout(limit, reads).await {
            Ok(outcome) => outcome,
            Err(_) => Err(ReadFailure::Timeout {
                table: self.inner.store.table_name().to_string(),
                what: "reading one flag ahead of the flag data",
                limit,
            }),
        };
        // A caller answered while the load still runs hears this instead of "loading": a
        // table never synced, missing or refused is known before the load says so.
        if let Ok(mut ahead) = self.inner.ahead.lock() {
            ahead.failure = outcome.as_ref().err().cloned();
        }
        outcome
    }

    /// Reads `flag`, then what it needs, level by level; items read ahead before are not read
    /// again.
    async fn read_ahead_unbounded(&self, flag: ItemRef) -> Result<(), ReadFailure> {
        let mut visited = HashSet::new();
        let mut wanted = vec![flag];
        while !wanted.is_empty() && visited.len() < MAX_ITEMS_AHEAD {
            let level: Vec<ItemRef> = wanted
                .drain(..)
                .filter(|i| visited.insert(i.clone()))
                .collect();
            let (mut items, missing, initialized) = self.already_read(&level);
            if !missing.is_empty() || !initialized {
                let read = self.point_reads(&missing, !initialized).await?;
                if let Ok(mut ahead) = self.inner.ahead.lock() {
                    ahead.initialized = true;
                    ahead.confirmed_at = Some(std::time::SystemTime::now());
                    ahead.items.extend(read.clone());
                }
                items.extend(read);
            }
            for (item, stored) in &items {
                if let Some(stored) = stored {
                    wanted.extend(needed_by(item.kind, stored));
                }
            }
        }
        Ok(())
    }

    /// Of `items`, those read ahead before (with what was read), those not, and whether the
    /// table is known to be initialized.
    fn already_read(
        &self,
        items: &[ItemRef],
    ) -> (HashMap<ItemRef, Option<SerializedItem>>, Vec<ItemRef>, bool) {
        let Ok(ahead) = self.inner.ahead.lock() else {
            return (HashMap::new(), items.to_vec(), false);
        };
        let (read, missing): (Vec<&ItemRef>, Vec<&ItemRef>) = items
            .iter()
            .partition(|item| ahead.items.contains_key(*item));
        let read = read
            .into_iter()
            .map(|item| (item.clone(), ahead.items[item].clone()))
            .collect();
        (
            read,
            missing.into_iter().cloned().collect(),
            ahead.initialized,
        )
    }

    /// One consistent `BatchGetItem` of `items` (and, the first time, of the `$inited`
    /// marker): each item as stored, or `None` when the table does not hold it.
    async fn point_reads(
        &self,
        items: &[ItemRef],
        with_marker: bool,
    ) -> Result<HashMap<ItemRef, Option<SerializedItem>>, ReadFailure> {
        let store = &self.inner.store;
        let namespaces = store.namespaces();
        let mut keys: Vec<_> = items
            .iter()
            .map(|item| key_attributes(namespaces.of(item.kind), &item.key))
            .collect();
        if with_marker {
            keys.push(key_attributes(namespaces.inited(), namespaces.inited()));
        }
        let rows = store
            .table()
            .batch_get(keys, true)
            .await
            .map_err(|e| ReadFailure::Store(Arc::new(e)))?;
        let mut found: HashMap<ItemRef, Option<SerializedItem>> =
            items.iter().map(|item| (item.clone(), None)).collect();
        let mut initialized = !with_marker;
        for row in rows {
            let namespace = row
                .get(crate::schema::PARTITION_KEY)
                .and_then(|n| n.as_s().ok());
            let kind = Kind::ALL
                .into_iter()
                .find(|k| namespace.map(String::as_str) == Some(namespaces.of(*k)));
            match kind {
                Some(kind) => {
                    if let Ok((key, item)) = decode_item(&row) {
                        found.insert(ItemRef::new(kind, key), Some(item));
                    }
                }
                None if row
                    .get(SORT_KEY)
                    .and_then(|k| k.as_s().ok())
                    .map(String::as_str)
                    == Some(namespaces.inited()) =>
                {
                    initialized = true
                }
                None => {}
            }
        }
        if !initialized {
            return Err(ReadFailure::NeverSynced {
                table: store.table_name().to_string(),
                prefix: store.prefix().map(str::to_string),
            });
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(json: serde_json::Value) -> SerializedItem {
        SerializedItem {
            version: 1,
            deleted: false,
            serialized_item: json.to_string(),
        }
    }

    #[test]
    fn a_flag_needs_its_prerequisites_and_the_segments_its_rules_match() {
        let flag = item(serde_json::json!({
            "key": "f", "prerequisites": [{"key": "p", "variation": 0}],
            "rules": [
                {"clauses": [{"attribute": "key", "op": "segmentMatch", "values": ["s1", "s2"]}]},
                {"clauses": [{"attribute": "email", "op": "in", "values": ["a@b.c"]}]}
            ],
            "targets": [{"values": ["u"], "variation": 0}]
        }));
        assert_eq!(
            needed_by(Kind::Flags, &flag),
            [
                ItemRef::new(Kind::Flags, "p"),
                ItemRef::new(Kind::Segments, "s1"),
                ItemRef::new(Kind::Segments, "s2"),
            ]
        );
        let segment = item(serde_json::json!({
            "key": "s1", "included": ["u"],
            "rules": [{"clauses": [{"op": "segmentMatch", "values": ["s3"]}]}]
        }));
        assert_eq!(
            needed_by(Kind::Segments, &segment),
            [ItemRef::new(Kind::Segments, "s3")]
        );
        let deleted = SerializedItem {
            deleted: true,
            ..flag.clone()
        };
        assert!(needed_by(Kind::Flags, &deleted).is_empty());
        assert!(needed_by(Kind::Flags, &item(serde_json::json!("not an object"))).is_empty());
    }
}
